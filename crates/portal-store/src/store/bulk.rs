//! Bulk inserts: many client records, or many accounts with their tokens, in multi-row INSERTs.
//!
//! For loading data that did not come through the portal's use cases: a migration from
//! another system, a large import, or the data set `cargo xtask bench --scale` measures
//! against. One INSERT carries up to [`MAX_ROWS_PER_STATEMENT`] rows (fewer for wide rows, so
//! a statement stays under both databases' limit on bound parameters), and each transaction up
//! to [`ROWS_PER_TRANSACTION`] rows: a batch is stored whole or not at all, and on SQLite no
//! batch holds the database's one write lock for long.
//!
//! Rows are built by the same functions as the single-row writes (`client_row`, `token_row`,
//! the account row of a commit), so every column a migration adds is filled here too.
//!
//! What a bulk insert does not do, on purpose: it writes no audit events (the caller records
//! the import as it sees fit, e.g. one event for the whole load), queues no mail and checks
//! nothing a use case would (an account is written as given).

use portal_core::{AuditEvent, Client, PortalAccount, StoreError};
use sea_orm::{EntityTrait, Iterable};

use super::{SeaOrmStore, finish};
use crate::convert::{account_row, audit_row, client_row, token_row};
use crate::entity::{audit_event, client, portal_account, token};
use crate::error::write_error;

/// Most bound parameters in one statement: under SQLite's limit (32,766 since 3.32) and
/// PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Most rows in one INSERT, however narrow the row.
const MAX_ROWS_PER_STATEMENT: usize = 1_000;
/// Most rows in one transaction (one batch).
const ROWS_PER_TRANSACTION: usize = 10_000;

/// Rows per INSERT for `E`'s table: as many as fit [`MAX_PARAMETERS`], at most
/// [`MAX_ROWS_PER_STATEMENT`].
fn rows_per_statement<E: EntityTrait>() -> usize {
    (MAX_PARAMETERS / E::Column::iter().count().max(1)).clamp(1, MAX_ROWS_PER_STATEMENT)
}

/// `Directory::import_clients`: the clients, then their audit events, in multi-row INSERTs in
/// one transaction (an import's batch: all of it or nothing).
pub(super) async fn import_clients(
    store: &SeaOrmStore,
    clients: &[Client],
    audit: &[AuditEvent],
) -> Result<(), StoreError> {
    let (txn, turn) = store.begin_write().await?;
    let outcome = async {
        for rows in clients.chunks(rows_per_statement::<client::Entity>()) {
            client::Entity::insert_many(rows.iter().map(client_row))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("client"), "practice"))?;
        }
        for rows in audit.chunks(rows_per_statement::<audit_event::Entity>()) {
            audit_event::Entity::insert_many(rows.iter().map(audit_row))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("audit event"), "practice of an audit event"))?;
        }
        Ok(())
    }
    .await;
    finish((txn, turn), outcome).await
}

impl SeaOrmStore {
    /// Stores many client records of the bundled client table at once, in batches of 10,000
    /// (each batch one transaction of multi-row INSERTs of up to 1,000 rows). Returns how many
    /// were stored.
    ///
    /// Unlike `Directory::create_client` it writes no audit event (see the module's
    /// documentation). Each batch is all or nothing, but the batches before a failing one stay
    /// stored; a caller that must resume passes batches of 10,000 itself.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`]`("client")` when a client id is already taken in its practice
    /// (or repeated in `clients`); [`StoreError::NotFound`]`("practice")` for a client of no
    /// stored practice; [`StoreError::Unavailable`] when the database fails.
    pub async fn insert_clients(&self, clients: &[Client]) -> Result<u64, StoreError> {
        let per_statement = rows_per_statement::<client::Entity>();
        let mut stored = 0;
        for batch in clients.chunks(ROWS_PER_TRANSACTION) {
            let (txn, turn) = self.begin_write().await?;
            let outcome = async {
                for rows in batch.chunks(per_statement) {
                    client::Entity::insert_many(rows.iter().map(client_row))
                        .exec_without_returning(&txn)
                        .await
                        .map_err(|e| write_error(e, |_| StoreError::Duplicate("client"), "practice"))?;
                }
                Ok(batch.len() as u64)
            }
            .await;
            stored += finish((txn, turn), outcome).await?;
        }
        Ok(stored)
    }

    /// Stores many portal accounts at once, each with its current invitation and reset tokens,
    /// in batches of 10,000 accounts (each batch one transaction: its tokens, then its
    /// accounts, in multi-row INSERTs). Returns how many accounts were stored.
    ///
    /// Each account is stored as given, at its version (at least 1: a stored account has had a
    /// change), with no audit event, mail or session (see the module's documentation). The
    /// store does not check the client: accounts name theirs by practice and host id only.
    /// Batches commit as for [`SeaOrmStore::insert_clients`].
    ///
    /// # Errors
    /// [`StoreError::UsernameTaken`] when a username is taken in its practice (or repeated);
    /// [`StoreError::Duplicate`]`("account")` when a client already has an account, `("token")`
    /// when a token id is taken; [`StoreError::NotFound`]`("practice")` for an account of no
    /// stored practice; [`StoreError::Unavailable`] when the database fails.
    pub async fn insert_accounts(&self, accounts: &[PortalAccount]) -> Result<u64, StoreError> {
        let tokens_per_statement = rows_per_statement::<token::Entity>();
        let accounts_per_statement = rows_per_statement::<portal_account::Entity>();
        let mut stored = 0;
        for batch in accounts.chunks(ROWS_PER_TRANSACTION) {
            let tokens: Vec<token::ActiveModel> = batch
                .iter()
                .flat_map(|account| {
                    [account.invite(), account.reset()]
                        .into_iter()
                        .flatten()
                        .map(|token| token_row(account.practice_id(), account.client_id(), token))
                })
                .collect();
            let (txn, turn) = self.begin_write().await?;
            let outcome = async {
                for rows in tokens.chunks(tokens_per_statement) {
                    token::Entity::insert_many(rows.iter().cloned())
                        .exec_without_returning(&txn)
                        .await
                        .map_err(|e| write_error(e, |_| StoreError::Duplicate("token"), "practice"))?;
                }
                for rows in batch.chunks(accounts_per_statement) {
                    let rows = rows.iter().map(|account| {
                        let version = i64::try_from(account.version()).unwrap_or(i64::MAX).max(1);
                        account_row(account, version)
                    });
                    portal_account::Entity::insert_many(rows).exec_without_returning(&txn).await.map_err(|e| {
                        write_error(
                            e,
                            |what| {
                                if what.contains("username_lower") {
                                    StoreError::UsernameTaken
                                } else {
                                    StoreError::Duplicate("account")
                                }
                            },
                            "practice",
                        )
                    })?;
                }
                Ok(batch.len() as u64)
            }
            .await;
            stored += finish((txn, turn), outcome).await?;
        }
        Ok(stored)
    }
}
