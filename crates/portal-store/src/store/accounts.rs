//! [`AccountStore`]: portal accounts and their tokens, and the one-transaction commit.

use std::collections::HashMap;

use async_trait::async_trait;
use portal_core::{
    AccountCommit, AccountState, AccountStore, ClientId, DeliveryProblem, IssuedToken, PortalAccount, PracticeId,
    StoreError, TokenHash, TokenId, TokenPurpose, TokenState, Username,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Condition, Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::{SeaOrmStore, audit, directory, finish};
use crate::convert::{account_columns, account_from, hash_bytes, micros, outbox_row, token_row, used_at};
use crate::entity::{mail_outbox, portal_account, session, sign_in_throttle, token};
use crate::error::{unavailable, write_error};

/// Rebuilds one account from its row: its current tokens are the ones the row references.
async fn load(db: &impl ConnectionTrait, row: portal_account::Model) -> Result<PortalAccount, StoreError> {
    let ids: Vec<uuid::Uuid> = [row.invite_token_id, row.reset_token_id].into_iter().flatten().collect();
    let tokens = if ids.is_empty() {
        Vec::new()
    } else {
        token::Entity::find().filter(token::Column::Id.is_in(ids)).all(db).await.map_err(unavailable)?
    };
    account_from(&row, &tokens)
}

/// Every stored account of a practice with its current tokens, by client.
pub(super) async fn load_practice(
    db: &impl ConnectionTrait,
    practice: PracticeId,
) -> Result<HashMap<ClientId, PortalAccount>, StoreError> {
    let rows = portal_account::Entity::find()
        .filter(portal_account::Column::PracticeId.eq(practice.as_uuid()))
        .all(db)
        .await
        .map_err(unavailable)?;
    let referenced = |column: portal_account::Column| {
        Query::select()
            .column(column)
            .from(portal_account::Entity)
            .and_where(portal_account::Column::PracticeId.eq(practice.as_uuid()))
            .take()
    };
    let tokens = token::Entity::find()
        .filter(
            Condition::any()
                .add(token::Column::Id.in_subquery(referenced(portal_account::Column::InviteTokenId)))
                .add(token::Column::Id.in_subquery(referenced(portal_account::Column::ResetTokenId))),
        )
        .all(db)
        .await
        .map_err(unavailable)?;
    rows.iter().map(|row| Ok((ClientId::from_uuid(row.client_id), account_from(row, &tokens)?))).collect()
}

/// Inserts a token the account holds for the first time, or records that it was used.
async fn upsert_token(
    txn: &DatabaseTransaction,
    practice: PracticeId,
    client: ClientId,
    token: &IssuedToken,
) -> Result<(), StoreError> {
    let stored = token::Entity::find_by_id(token.id.as_uuid()).one(txn).await.map_err(unavailable)?;
    match stored {
        None => {
            token::Entity::insert(token_row(practice, client, token))
                .exec_without_returning(txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("token"), "client"))?;
        }
        Some(row) if row.client_id != client.as_uuid() || row.purpose != token.purpose.as_str() => {
            return Err(StoreError::Duplicate("token"));
        }
        Some(row) => {
            if let Some(at) = used_at(token)
                && row.used_at.is_none()
            {
                token::Entity::update_many()
                    .col_expr(token::Column::UsedAt, Expr::value(at))
                    .filter(token::Column::Id.eq(row.id))
                    .exec(txn)
                    .await
                    .map_err(unavailable)?;
            }
        }
    }
    Ok(())
}

/// Everything [`AccountStore::commit`] writes, inside the caller's transaction. The account row
/// is written first: its compare-and-set (or, at version 0, its primary key) is what serialises
/// concurrent commits of one account, so a loser stops before touching anything else.
async fn commit_in(txn: &DatabaseTransaction, change: &AccountCommit) -> Result<(), StoreError> {
    let account = &change.account;
    let (practice, client) = (account.practice_id(), account.client_id());
    if directory::client_in(txn, practice, client).await?.is_none() {
        return Err(StoreError::NotFound("client"));
    }
    let loaded = i64::try_from(account.version()).map_err(|_| StoreError::Conflict)?;
    let next = loaded.checked_add(1).ok_or(StoreError::Conflict)?;
    let columns = account_columns(account.state());
    let collided = |what: &str| {
        if what.contains("username_lower") { StoreError::UsernameTaken } else { StoreError::Conflict }
    };

    // 1. The account row: insert at version 0, else compare-and-set on the version.
    if loaded == 0 {
        portal_account::Entity::insert(portal_account::ActiveModel {
            client_id: Set(client.as_uuid()),
            practice_id: Set(practice.as_uuid()),
            state: Set(columns.state.to_owned()),
            username: Set(columns.username),
            username_lower: Set(columns.username_lower),
            password_hash: Set(columns.password_hash),
            registered_at: Set(columns.registered_at),
            password_changed_at: Set(columns.password_changed_at),
            disabled_reason: Set(columns.disabled_reason),
            disabled_at: Set(columns.disabled_at),
            invite_token_id: Set(None),
            reset_token_id: Set(None),
            version: Set(next),
        })
        .exec_without_returning(txn)
        .await
        .map_err(|e| write_error(e, collided, "client"))?;
    } else {
        use portal_account::Column as C;
        let updated = portal_account::Entity::update_many()
            .col_expr(C::State, Expr::value(columns.state))
            .col_expr(C::Username, Expr::value(columns.username))
            .col_expr(C::UsernameLower, Expr::value(columns.username_lower))
            .col_expr(C::PasswordHash, Expr::value(columns.password_hash))
            .col_expr(C::RegisteredAt, Expr::value(columns.registered_at))
            .col_expr(C::PasswordChangedAt, Expr::value(columns.password_changed_at))
            .col_expr(C::DisabledReason, Expr::value(columns.disabled_reason))
            .col_expr(C::DisabledAt, Expr::value(columns.disabled_at))
            .col_expr(C::Version, Expr::value(next))
            .filter(C::ClientId.eq(client.as_uuid()))
            .filter(C::PracticeId.eq(practice.as_uuid()))
            .filter(C::Version.eq(loaded))
            .exec(txn)
            .await
            .map_err(|e| write_error(e, collided, "client"))?;
        if updated.rows_affected == 0 {
            return Err(StoreError::Conflict);
        }
    }

    // 2. Tokens: void every live token of the client that the account no longer holds, then
    //    store the ones it holds.
    for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
        let mut void = token::Entity::update_many()
            .col_expr(token::Column::VoidedAt, Expr::value(micros(change.at)))
            .filter(token::Column::ClientId.eq(client.as_uuid()))
            .filter(token::Column::Purpose.eq(purpose.as_str()))
            .filter(token::Column::UsedAt.is_null())
            .filter(token::Column::VoidedAt.is_null());
        if let Some(current) = account.token(purpose) {
            void = void.filter(token::Column::Id.ne(current.id.as_uuid()));
        }
        void.exec(txn).await.map_err(unavailable)?;
    }
    for token in [account.invite(), account.reset()].into_iter().flatten() {
        upsert_token(txn, practice, client, token).await?;
    }
    portal_account::Entity::update_many()
        .col_expr(portal_account::Column::InviteTokenId, Expr::value(account.invite().map(|t| t.id.as_uuid())))
        .col_expr(portal_account::Column::ResetTokenId, Expr::value(account.reset().map(|t| t.id.as_uuid())))
        .filter(portal_account::Column::ClientId.eq(client.as_uuid()))
        .exec(txn)
        .await
        .map_err(unavailable)?;

    // 2b. Queued mail that would carry a dead link, or reach a disabled account, is never sent
    //    (design §2: a disabled account receives no portal mail at all).
    let cancelled = superseded_mail(account);
    let mut cancel = mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::Status, Expr::value(mail_outbox::STATUS_FAILED))
        .col_expr(mail_outbox::Column::FailedAt, Expr::value(micros(change.at)))
        .col_expr(mail_outbox::Column::LastError, Expr::value(cancelled.problem.detail))
        .col_expr(mail_outbox::Column::LastErrorCause, Expr::value(cancelled.problem.cause.as_str()))
        .col_expr(mail_outbox::Column::Recipient, Expr::value(Option::<String>::None))
        .col_expr(mail_outbox::Column::RecipientName, Expr::value(Option::<String>::None))
        .filter(mail_outbox::Column::ClientId.eq(client.as_uuid()))
        .filter(mail_outbox::Column::Status.eq(mail_outbox::STATUS_PENDING));
    if !cancelled.all_pending {
        cancel = cancel
            .filter(mail_outbox::Column::TokenId.is_not_null())
            .filter(mail_outbox::Column::TokenId.is_not_in(cancelled.live_tokens.iter().map(|id| id.as_uuid())));
    }
    cancel.exec(txn).await.map_err(unavailable)?;

    // 3. Mail and audit.
    mail_outbox::Entity::insert_many(change.mail.iter().map(outbox_row))
        .exec_without_returning(txn)
        .await
        .map_err(|e| write_error(e, |_| StoreError::Duplicate("mail"), "practice or client of a mail"))?;
    audit::insert(txn, &change.audit).await?;

    // 4. Sessions and throttle.
    if change.revoke_sessions {
        session::Entity::delete_many()
            .filter(session::Column::ClientId.eq(client.as_uuid()))
            .filter(session::Column::PracticeId.eq(practice.as_uuid()))
            .exec(txn)
            .await
            .map_err(unavailable)?;
    }
    if change.clear_throttle
        && let Some(username) = account.username()
    {
        sign_in_throttle::Entity::delete_many()
            .filter(sign_in_throttle::Column::PracticeId.eq(practice.as_uuid()))
            .filter(sign_in_throttle::Column::Key.eq(username.as_str()))
            .exec(txn)
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Which pending mail of a client a commit cancels: all of it when the account is disabled,
/// otherwise the mail whose token is no longer the account's live token.
fn superseded_mail(account: &PortalAccount) -> SupersededMail {
    if matches!(account.state(), AccountState::Disabled { .. }) {
        return SupersededMail {
            all_pending: true,
            live_tokens: Vec::new(),
            problem: DeliveryProblem::account_disabled(),
        };
    }
    let live_tokens = [account.invite(), account.reset()]
        .into_iter()
        .flatten()
        .filter(|t| t.state == TokenState::Live)
        .map(|t| t.id)
        .collect();
    SupersededMail { all_pending: false, live_tokens, problem: DeliveryProblem::link_superseded() }
}

struct SupersededMail {
    all_pending: bool,
    live_tokens: Vec<TokenId>,
    problem: DeliveryProblem,
}

#[async_trait]
impl AccountStore for SeaOrmStore {
    async fn account(&self, practice: PracticeId, client: ClientId) -> Result<PortalAccount, StoreError> {
        if directory::client_in(&self.db, practice, client).await?.is_none() {
            return Err(StoreError::NotFound("client"));
        }
        let row = portal_account::Entity::find_by_id(client.as_uuid())
            .filter(portal_account::Column::PracticeId.eq(practice.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => load(&self.db, row).await,
            None => Ok(PortalAccount::new(practice, client)),
        }
    }

    async fn account_by_username(
        &self,
        practice: PracticeId,
        username: &Username,
    ) -> Result<Option<PortalAccount>, StoreError> {
        let row = portal_account::Entity::find()
            .filter(portal_account::Column::PracticeId.eq(practice.as_uuid()))
            .filter(portal_account::Column::UsernameLower.eq(username.as_str().to_lowercase()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => load(&self.db, row).await.map(Some),
            None => Ok(None),
        }
    }

    async fn account_by_token(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<PortalAccount>, StoreError> {
        let issued = token::Entity::find()
            .filter(token::Column::Hash.eq(hash_bytes(hash)))
            .filter(token::Column::Purpose.eq(purpose.as_str()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        let Some(issued) = issued else { return Ok(None) };
        let row = portal_account::Entity::find_by_id(issued.client_id)
            .filter(portal_account::Column::PracticeId.eq(issued.practice_id))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => load(&self.db, row).await.map(Some),
            None => Ok(None),
        }
    }

    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = commit_in(&txn, &change).await;
        finish((txn, turn), outcome).await
    }
}
