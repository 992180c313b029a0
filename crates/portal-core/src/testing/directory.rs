//! [`InMemoryDirectory`]: a host's client records, apart from the portal's own state.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::{ClientDirectory, StoreError};
use crate::records::Client;
use crate::types::{ClientId, PracticeId};

use super::lock;

/// A [`ClientDirectory`] over clients the test (or the embedding host) puts in it: the stand-in
/// for an EHR's patient records when the portal's own state lives elsewhere (an
/// [`InMemoryStore`](super::InMemoryStore) or a database). Clones share one set of records.
///
/// ```
/// use jiff::Timestamp;
/// use portal_core::testing::InMemoryDirectory;
/// use portal_core::{Client, ClientDirectory, ClientId, DisplayName, Language, PracticeId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let practice = PracticeId::from_uuid(uuid::Uuid::from_u128(1));
/// let directory = InMemoryDirectory::new();
/// directory.insert(Client {
///     id: ClientId::parse("1001")?,
///     practice_id: practice,
///     name: DisplayName::parse("name", "Ada Lovelace")?,
///     email: None,
///     language: Language::En,
///     email_consent: true,
///     date_of_birth: None,
///     created_at: Timestamp::UNIX_EPOCH,
/// });
/// assert!(directory.client(practice, &ClientId::parse("1001")?).await?.is_some());
/// assert!(directory.client(practice, &ClientId::parse("1002")?).await?.is_none());
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct InMemoryDirectory {
    clients: Arc<Mutex<HashMap<(PracticeId, ClientId), Client>>>,
}

impl InMemoryDirectory {
    /// An empty directory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a client, or replaces the one with the same practice and id (the host edited it).
    pub fn insert(&self, client: Client) {
        lock(&self.clients).insert((client.practice_id, client.id.clone()), client);
    }

    /// Removes a client (the host deleted or merged the record).
    pub fn remove(&self, practice: PracticeId, id: &ClientId) -> Option<Client> {
        lock(&self.clients).remove(&(practice, id.clone()))
    }
}

impl fmt::Debug for InMemoryDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Client records are personal data: show how many, not what.
        f.debug_struct("InMemoryDirectory").field("clients", &lock(&self.clients).len()).finish()
    }
}

#[async_trait]
impl ClientDirectory for InMemoryDirectory {
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(lock(&self.clients).get(&(practice, id.clone())).cloned())
    }

    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        let clients = lock(&self.clients);
        let mut seen = std::collections::HashSet::new();
        Ok(ids
            .iter()
            .filter(|id| seen.insert(*id))
            .filter_map(|id| clients.get(&(practice, id.clone())).cloned())
            .collect())
    }
}
