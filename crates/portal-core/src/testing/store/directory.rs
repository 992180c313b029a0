//! [`Directory`] and [`ClientDirectory`] for [`InMemoryStore`]: practices, staff keys and the bundled
//! client records.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::account::PortalAccount;
use crate::client_list::{ClientListQuery, ClientPage, ListPosition, PageDirection};
use crate::ports::{ClientDirectory, Directory, StoreError};
use crate::records::{AccountPanel, AuditEvent, Client, Practice, StaffMember};
use crate::token::TokenHash;
use crate::types::{ClientId, PracticeId, PracticeSlug};

use super::InMemoryStore;

#[async_trait]
impl Directory for InMemoryStore {
    async fn create_practice(
        &self,
        practice: &Practice,
        first_staff: &StaffMember,
        key_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.practices.values().any(|p| p.slug == practice.slug) {
                return Err(StoreError::Duplicate("slug"));
            }
            if s.practices.contains_key(&practice.id) {
                return Err(StoreError::Duplicate("practice"));
            }
            if first_staff.practice_id != practice.id && !s.practices.contains_key(&first_staff.practice_id) {
                return Err(StoreError::NotFound("practice"));
            }
            if s.staff_keys.contains_key(key_hash) {
                return Err(StoreError::Duplicate("staff key"));
            }
            s.practices.insert(practice.id, practice.clone());
            s.staff_keys.insert(*key_hash, first_staff.clone());
            Ok(())
        })
    }

    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        Ok(self.with(|s| s.practices.values().find(|p| &p.slug == slug).cloned()))
    }

    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        Ok(self.with(|s| s.practices.get(&id).cloned()))
    }

    async fn update_practice(&self, practice: &Practice, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            let Some(stored) = s.practices.get_mut(&practice.id) else {
                return Err(StoreError::NotFound("practice"));
            };
            // The slug and creation time never change, whatever the caller passed.
            *stored = Practice { slug: stored.slug.clone(), created_at: stored.created_at, ..practice.clone() };
            Ok(())
        })?;
        self.with(|s| {
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn practice_count(&self) -> Result<u64, StoreError> {
        Ok(self.with(|s| s.practices.len() as u64))
    }

    async fn create_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if !s.practices.contains_key(&client.practice_id) {
                return Err(StoreError::NotFound("practice"));
            }
            let key = (client.practice_id, client.id.clone());
            if s.clients.contains_key(&key) {
                return Err(StoreError::Duplicate("client"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.clients.insert(key, client.clone());
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn import_clients(&self, clients: &[Client], audit: &[AuditEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            let mut batch = std::collections::HashSet::new();
            for client in clients {
                if !s.practices.contains_key(&client.practice_id) {
                    return Err(StoreError::NotFound("practice"));
                }
                let key = (client.practice_id, client.id.clone());
                if s.clients.contains_key(&key) || !batch.insert(key) {
                    return Err(StoreError::Duplicate("client"));
                }
            }
            s.check_new_audit(audit)?;
            for client in clients {
                s.clients.insert((client.practice_id, client.id.clone()), client.clone());
            }
            s.push_audit(audit.iter().cloned());
            Ok(())
        })
    }

    async fn update_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if s.client_in(client.practice_id, &client.id).is_none() {
                return Err(StoreError::NotFound("client"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            if let Some(stored) = s.clients.get_mut(&(client.practice_id, client.id.clone())) {
                stored.name = client.name.clone();
                stored.email = client.email.clone();
                stored.language = client.language;
                stored.email_consent = client.email_consent;
                stored.date_of_birth = client.date_of_birth;
            }
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn list_clients(
        &self,
        practice: PracticeId,
        query: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
        let mut rows: Vec<(ListPosition, Client, PortalAccount)> = self.with(|s| {
            // Where the cursor's anchor stands now (a database finds it in the same statement).
            let anchor =
                query.cursor.as_ref().and_then(|cursor| s.client_in(practice, &cursor.anchor)).map(ListPosition::of);
            s.clients
                .values()
                .filter(|c| c.practice_id == practice)
                .filter(|c| query.search.as_ref().is_none_or(|search| search.matches(c)))
                .map(|c| (ListPosition::of(c), c.clone(), s.account_or_new(practice, &c.id)))
                .filter(|(position, _, account)| {
                    query.is_beyond_cursor(anchor.as_ref(), position)
                        && query.status.is_none_or(|kind| account.status(now).kind() == kind)
                })
                .collect()
        });
        rows.sort_by(|(a, ..), (b, ..)| a.cmp(b));
        if query.direction() == PageDirection::Before {
            rows.reverse();
        }
        let fetch = usize::try_from(query.size.fetch()).unwrap_or(usize::MAX);
        rows.truncate(fetch);
        let page = ClientPage::from_fetched(rows, query, |(position, ..)| position.clone());
        Ok(page.map(|(_, client, account)| (client, account)))
    }

    async fn client_panel(
        &self,
        practice: PracticeId,
        id: &ClientId,
    ) -> Result<Option<(Client, AccountPanel)>, StoreError> {
        Ok(self.with(|s| Some((s.client_in(practice, id)?.clone(), s.account_panel(practice, id)))))
    }
}

#[async_trait]
impl ClientDirectory for InMemoryStore {
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.with(|s| s.client_in(practice, id).cloned()))
    }

    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        Ok(self.with(|s| {
            ids.iter().filter(|id| seen.insert(*id)).filter_map(|id| s.client_in(practice, id).cloned()).collect()
        }))
    }
}
