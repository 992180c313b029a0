//! [`ThrottleStore`] for [`InMemoryStore`]: failed sign-in counters per practice and username.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::ports::{StoreError, ThrottleStore};
use crate::records::ThrottleState;
use crate::types::PracticeId;

use super::InMemoryStore;

#[async_trait]
impl ThrottleStore for InMemoryStore {
    async fn throttle(&self, practice: PracticeId, key: &str) -> Result<ThrottleState, StoreError> {
        Ok(self.with(|s| s.throttle.get(&(practice, key.to_owned())).copied().unwrap_or_default()))
    }

    async fn record_failure(
        &self,
        practice: PracticeId,
        key: &str,
        at: Timestamp,
    ) -> Result<ThrottleState, StoreError> {
        Ok(self.with(|s| {
            let counter = s.throttle.entry((practice, key.to_owned())).or_default();
            counter.failures = counter.failures.saturating_add(1);
            counter.last_failure_at = Some(at);
            *counter
        }))
    }

    async fn clear_throttle(&self, practice: PracticeId, key: &str) -> Result<(), StoreError> {
        self.with(|s| s.throttle.remove(&(practice, key.to_owned())));
        Ok(())
    }
}
