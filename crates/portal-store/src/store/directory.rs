//! [`Directory`]: practices, staff keys and the bundled client records; and [`ClientDirectory`]
//! over those records (the embedded default of the host's client directory).

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{
    AccountPanel, AuditEvent, Client, ClientDirectory, ClientId, ClientListQuery, ClientPage, Directory, PortalAccount,
    Practice, PracticeId, PracticeSlug, StaffMember, StoreError, TokenHash,
};
use sea_orm::ActiveValue::NotSet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{SeaOrmStore, accounts, audit, client_list, finish};
use crate::convert::{client_from, client_row, practice_from, practice_row, staff_row};
use crate::entity::{client, practice, staff_key};
use crate::error::{unavailable, write_error};

/// Names the unique key a directory write collided with.
fn duplicate(what: &str) -> StoreError {
    if what.contains("slug") {
        StoreError::Duplicate("slug")
    } else if what.contains("key_hash") {
        StoreError::Duplicate("staff key")
    } else if what.contains("staff_keys") {
        StoreError::Duplicate("staff member")
    } else if what.contains("clients") {
        StoreError::Duplicate("client")
    } else {
        StoreError::Duplicate("practice")
    }
}

async fn insert_staff(db: &impl ConnectionTrait, staff: &StaffMember, key_hash: &TokenHash) -> Result<(), StoreError> {
    staff_key::Entity::insert(staff_row(staff, key_hash))
        .exec_without_returning(db)
        .await
        .map_err(|e| write_error(e, duplicate, "practice"))?;
    Ok(())
}

#[async_trait]
impl Directory for SeaOrmStore {
    async fn create_practice(
        &self,
        practice: &Practice,
        first_staff: &StaffMember,
        key_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            practice::Entity::insert(practice_row(practice))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, duplicate, "practice"))?;
            insert_staff(&txn, first_staff, key_hash).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        practice::Entity::find()
            .filter(practice::Column::Slug.eq(slug.as_str()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(practice_from)
            .transpose()
    }

    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        practice::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(practice_from)
            .transpose()
    }

    async fn update_practice(&self, practice: &Practice, audit: &AuditEvent) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let mut row = practice_row(practice);
            row.id = NotSet;
            row.slug = NotSet;
            row.created_at = NotSet;
            let updated = practice::Entity::update_many()
                .set(row)
                .filter(practice::Column::Id.eq(practice.id.as_uuid()))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            if updated.rows_affected == 0 {
                return Err(StoreError::NotFound("practice"));
            }
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn practice_count(&self) -> Result<u64, StoreError> {
        practice::Entity::find().count(&self.db).await.map_err(unavailable)
    }

    async fn create_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            client::Entity::insert(client_row(client))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, duplicate, "practice"))?;
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn import_clients(&self, clients: &[Client], audit: &[AuditEvent]) -> Result<(), StoreError> {
        super::bulk::import_clients(self, clients, audit).await
    }

    async fn update_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            // The row as `client_row` builds it (name, email, their search keys, language,
            // consent); the keys and the creation time stay as they are.
            let mut row = client_row(client);
            row.practice_id = NotSet;
            row.id = NotSet;
            row.created_at = NotSet;
            let updated = client::Entity::update_many()
                .set(row)
                .filter(client::Column::Id.eq(client.id.as_str()))
                .filter(client::Column::PracticeId.eq(client.practice_id.as_uuid()))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            if updated.rows_affected == 0 {
                return Err(StoreError::NotFound("client"));
            }
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn list_clients(
        &self,
        practice: PracticeId,
        query: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
        client_list::list_page(&self.db, practice, query, now).await
    }

    async fn client_panel(
        &self,
        practice: PracticeId,
        id: &ClientId,
    ) -> Result<Option<(Client, AccountPanel)>, StoreError> {
        client_list::client_panel(&self.db, practice, id).await
    }
}

#[async_trait]
impl ClientDirectory for SeaOrmStore {
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        client::Entity::find_by_id((practice.as_uuid(), id.as_str().to_owned()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(client_from)
            .transpose()
    }

    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        // One query per MAX_BATCH ids (one query for any list the port's callers pass).
        let mut clients = Vec::new();
        for chunk in ids.chunks(accounts::MAX_BATCH) {
            let rows = client::Entity::find()
                .filter(client::Column::PracticeId.eq(practice.as_uuid()))
                .filter(client::Column::Id.is_in(chunk.iter().map(ClientId::as_str)))
                .all(&self.db)
                .await
                .map_err(unavailable)?;
            for row in rows {
                clients.push(client_from(row)?);
            }
        }
        Ok(clients)
    }
}
