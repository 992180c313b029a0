//! [`MailOutbox`] for [`InMemoryStore`]: claims with leases, delivery reports, and the purge of
//! sent mail.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::delivery::DeliveryProblem;
use crate::ports::{MailOutbox, StoreError};
use crate::records::{ClaimedMail, DeliveryState};
use crate::types::{MailId, TokenId};

use super::InMemoryStore;

#[async_trait]
impl MailOutbox for InMemoryStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let lease_until = now.checked_add(lease).unwrap_or(Timestamp::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self.with(|s| {
            let mut due: Vec<(Timestamp, usize)> = s
                .outbox
                .iter()
                .enumerate()
                .filter_map(|(index, row)| match row.delivery {
                    DeliveryState::Pending { next_attempt_at, .. }
                        if next_attempt_at <= now && row.lease_until.is_none_or(|until| until <= now) =>
                    {
                        Some((next_attempt_at, index))
                    }
                    _ => None,
                })
                .collect();
            due.sort_unstable();
            due.truncate(limit);
            due.into_iter()
                .filter_map(|(_, index)| {
                    let row = &mut s.outbox[index];
                    let DeliveryState::Pending { attempts, .. } = row.delivery else {
                        return None;
                    };
                    row.lease_until = Some(lease_until);
                    Some(ClaimedMail { mail: row.mail.clone(), attempts, lease_until })
                })
                .collect()
        }))
    }

    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(row) = s.pending_row(id) {
                row.delivery = DeliveryState::Sent { at };
                row.lease_until = None;
                row.purge();
            }
        });
        Ok(())
    }

    async fn retry_later(
        &self,
        id: MailId,
        next_attempt_at: Timestamp,
        problem: &DeliveryProblem,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(row) = s.pending_row(id) {
                if let DeliveryState::Pending { attempts, .. } = row.delivery {
                    row.delivery = DeliveryState::Pending {
                        attempts: attempts.saturating_add(1),
                        next_attempt_at,
                        last_problem: Some(problem.clone()),
                    };
                }
                row.lease_until = None;
            }
        });
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(row) = s.pending_row(id) {
                row.delivery = DeliveryState::Failed { at, problem: problem.clone(), gave_up_after };
                row.lease_until = None;
            }
        });
        Ok(())
    }

    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        Ok(self.with(|s| s.outbox.iter().rev().find(|row| row.token_id == Some(token)).map(|row| row.delivery.clone())))
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        Ok(self.with(|s| {
            s.outbox.iter().filter(|row| matches!(row.delivery, DeliveryState::Pending { .. })).count() as u64
        }))
    }
}
