//! [`Retention`] for [`InMemoryStore`]: the same rules as the database, over the in-memory
//! state, a batch at a time.

use std::collections::HashSet;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::ports::{Retention, StoreError};
use crate::records::DeliveryState;
use crate::retention::{PruneCutoffs, PruneKind};
use crate::types::TokenId;

use super::{InMemoryStore, State};

/// Removes at most `limit` entries of `items` for which `doomed` holds, returning how many.
fn remove_some<T>(items: &mut Vec<T>, limit: usize, mut doomed: impl FnMut(&T) -> bool) -> u64 {
    let mut removed = 0;
    items.retain(|item| {
        if removed < limit && doomed(item) {
            removed += 1;
            false
        } else {
            true
        }
    });
    removed as u64
}

fn session_over(created_at: Timestamp, last_seen_at: Timestamp, cutoffs: &PruneCutoffs) -> bool {
    last_seen_at <= cutoffs.sessions_seen_before || created_at <= cutoffs.sessions_started_before
}

impl State {
    /// The ids of every account's current invite and reset token.
    fn current_tokens(&self) -> HashSet<TokenId> {
        self.accounts.values().flat_map(|a| [a.invite(), a.reset()]).flatten().map(|t| t.id).collect()
    }

    fn prune(&mut self, kind: PruneKind, cutoffs: &PruneCutoffs, limit: usize) -> u64 {
        match kind {
            PruneKind::Sessions => {
                let doomed: Vec<_> = self
                    .sessions
                    .values()
                    .filter(|s| session_over(s.created_at, s.last_seen_at, cutoffs))
                    .map(|s| s.id)
                    .take(limit)
                    .collect();
                doomed.iter().filter(|id| self.sessions.remove(id).is_some()).count() as u64
            }
            PruneKind::StaffSessions => {
                let doomed: Vec<_> = self
                    .staff_sessions
                    .values()
                    .filter(|s| session_over(s.created_at, s.last_seen_at, cutoffs))
                    .map(|s| s.id)
                    .take(limit)
                    .collect();
                doomed.iter().filter(|id| self.staff_sessions.remove(id).is_some()).count() as u64
            }
            PruneKind::Throttle => {
                let doomed: Vec<_> = self
                    .throttle
                    .iter()
                    .filter(|(_, state)| state.last_failure_at.is_none_or(|at| at <= cutoffs.throttle_idle_since))
                    .map(|(key, _)| key.clone())
                    .take(limit)
                    .collect();
                doomed.iter().filter(|key| self.throttle.remove(key).is_some()).count() as u64
            }
            PruneKind::Outbox => {
                let current = self.current_tokens();
                remove_some(&mut self.outbox, limit, |row| {
                    let done_at = match &row.delivery {
                        DeliveryState::Sent { at } | DeliveryState::Failed { at, .. } => *at,
                        DeliveryState::Pending { .. } => return false,
                    };
                    done_at <= cutoffs.outbox_done_before && row.token_id.is_none_or(|id| !current.contains(&id))
                })
            }
            PruneKind::Tokens => {
                let mut kept = self.current_tokens();
                kept.extend(self.outbox.iter().filter_map(|row| row.token_id));
                remove_some(&mut self.tokens, limit, |token| {
                    !kept.contains(&token.token.id) && token.token.expires_at <= cutoffs.tokens_done_before
                })
            }
            PruneKind::SignInSteps => {
                let challenges: Vec<_> = self
                    .challenges
                    .iter()
                    .filter(|(_, c)| c.expires_at <= cutoffs.now)
                    .map(|(hash, _)| *hash)
                    .take(limit)
                    .collect();
                let ceremonies: Vec<_> = self
                    .ceremonies
                    .iter()
                    .filter(|(_, c)| c.expires_at <= cutoffs.now)
                    .map(|(hash, _)| *hash)
                    .take(limit - challenges.len())
                    .collect();
                let gone = challenges.iter().filter(|hash| self.challenges.remove(hash).is_some()).count()
                    + ceremonies.iter().filter(|hash| self.ceremonies.remove(hash).is_some()).count();
                gone as u64
            }
            PruneKind::Audit => {
                let mut gone = Vec::new();
                let removed = remove_some(&mut self.audit, limit, |event| {
                    let doomed = event.at <= cutoffs.audit_before;
                    if doomed {
                        gone.push(event.id);
                    }
                    doomed
                });
                for id in gone {
                    self.audit_ids.remove(&id);
                }
                removed
            }
        }
    }
}

#[async_trait]
impl Retention for InMemoryStore {
    async fn prune_batch(&self, kind: PruneKind, cutoffs: &PruneCutoffs, limit: u32) -> Result<u64, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self.with(|s| s.prune(kind, cutoffs, limit)))
    }
}
