//! [`AccountStore`] for [`InMemoryStore`]: accounts, loaded by client, token or username.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::account::{AccountState, PortalAccount};
use crate::ports::{AccountCommit, AccountDecision, AccountStore, DueReminder, StoreError};
use crate::records::AccountPanel;
use crate::token::{TokenHash, TokenPurpose};
use crate::types::{ClientId, PracticeId, Username};

use super::InMemoryStore;

#[async_trait]
impl AccountStore for InMemoryStore {
    async fn account(&self, practice: PracticeId, client: &ClientId) -> Result<PortalAccount, StoreError> {
        Ok(self.with(|s| s.account_or_new(practice, client)))
    }

    async fn accounts(&self, practice: PracticeId, clients: &[ClientId]) -> Result<Vec<PortalAccount>, StoreError> {
        Ok(self.with(|s| {
            let mut seen = std::collections::HashSet::new();
            clients
                .iter()
                .filter(|client| seen.insert(*client))
                .filter_map(|client| s.accounts.get(&(practice, client.clone())).cloned())
                .collect()
        }))
    }

    async fn account_panel(&self, practice: PracticeId, client: &ClientId) -> Result<AccountPanel, StoreError> {
        Ok(self.with(|s| s.account_panel(practice, client)))
    }

    async fn account_by_username(
        &self,
        practice: PracticeId,
        username: &Username,
    ) -> Result<Option<PortalAccount>, StoreError> {
        Ok(self.with(|s| {
            s.accounts
                .values()
                .find(|a| {
                    a.practice_id() == practice
                        && a.username().is_some_and(|u| u.as_str().eq_ignore_ascii_case(username.as_str()))
                })
                .cloned()
        }))
    }

    async fn account_by_token(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<PortalAccount>, StoreError> {
        Ok(self.with(|s| {
            let stored = s.tokens.iter().find(|t| t.token.purpose == purpose && t.token.hash.matches(hash))?;
            s.accounts.get(&(stored.practice_id, stored.client_id.clone())).cloned()
        }))
    }

    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError> {
        self.with(|s| s.commit(change))
    }

    async fn due_invitation_reminders(&self, now: Timestamp, limit: u32) -> Result<Vec<DueReminder>, StoreError> {
        Ok(self.with(|s| {
            let mut due: Vec<(Timestamp, DueReminder)> =
                s.accounts
                    .values()
                    .filter(|account| matches!(account.state(), AccountState::NoAccount))
                    .filter_map(|account| {
                        let invite = account.invite()?;
                        let lead = s.practices.get(&account.practice_id())?.settings.invitation_reminder()?;
                        let stored = s.tokens.iter().find(|t| t.token.id == invite.id)?;
                        let due_at = invite.expires_at.checked_sub(lead.duration()).unwrap_or(Timestamp::MIN);
                        (stored.is_live() && invite.reminder.is_none() && due_at <= now && now < invite.expires_at)
                            .then(|| {
                                let item = DueReminder {
                                    practice_id: account.practice_id(),
                                    client_id: account.client_id().clone(),
                                    token_id: invite.id,
                                };
                                (invite.expires_at, item)
                            })
                    })
                    .collect();
            due.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.token_id.as_uuid().cmp(&b.1.token_id.as_uuid())));
            due.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX)).map(|(_, item)| item).collect()
        }))
    }

    async fn update_account(
        &self,
        practice: PracticeId,
        client: &ClientId,
        decide: &mut (dyn FnMut(PortalAccount) -> AccountDecision + Send),
    ) -> Result<(), StoreError> {
        // The store's one lock is the per-account lock, only coarser: the load, the decision
        // and the commit happen under it, with no await in between.
        self.with(|s| match decide(s.account_or_new(practice, client)) {
            AccountDecision::Commit(change) if change.account.practice_id() != practice => {
                Err(StoreError::Corrupt("a serialised change committed another practice's account".into()))
            }
            AccountDecision::Commit(change) if change.account.client_id() != client => {
                Err(StoreError::Corrupt("a serialised change committed another client's account".into()))
            }
            AccountDecision::Commit(change) => s.commit(*change),
            AccountDecision::Leave => Ok(()),
        })
    }
}
