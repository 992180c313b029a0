//! [`AccountStore`]: portal accounts and their tokens, and the one-transaction commit.
//!
//! A client is named by `(practice, host client id)` everywhere, never by the id alone: a host
//! id (`42`, `MRN-0042`) is unique only within its practice.

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{
    AccountCommit, AccountDecision, AccountPanel, AccountState, AccountStore, ClientId, DeliveryProblem, DeliveryState,
    DueReminder, IssuedToken, PortalAccount, PracticeId, StoreError, TokenHash, TokenId, TokenPurpose, TokenState,
    Username,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, JoinType, LockType, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryFilter,
    QueryResult, Statement,
};

use super::{SeaOrmStore, audit, finish};
use crate::bounded::BoundedTxn;
use crate::convert::{
    account_columns, account_from, account_row, delivery_from, hash_bytes, micros, outbox_row, reminder_name,
    reset_requests_in_day, token_row, used_at,
};
use crate::entity::{mail_outbox, portal_account, practice, session, sign_in_throttle, token};
use crate::error::{unavailable, write_error};

/// Most client ids [`AccountStore::accounts`] and `ClientDirectory::clients` look up in one query
/// (the ports' documented bound; far below either database's limit on bound parameters).
pub(super) const MAX_BATCH: usize = 500;

/// The two current-token slots of an account row: the join alias and the prefix of its
/// columns in the result.
const SLOTS: [(&str, portal_account::Column); 2] =
    [("invite", portal_account::Column::InviteTokenId), ("reset", portal_account::Column::ResetTokenId)];

/// Joins (LEFT JOIN, twice) the two tokens a `portal_accounts` row references, with their
/// columns as `invite_<column>` / `reset_<column>`. The select must already name
/// `portal_accounts` (as its table or an earlier join).
pub(super) fn join_tokens(select: &mut SelectStatement) {
    for (slot, reference) in SLOTS {
        let alias = Alias::new(slot);
        for column in token::Column::iter() {
            select.expr_as(Expr::col((alias.clone(), column)), Alias::new(format!("{slot}_{}", column.as_str())));
        }
        select.join_as(
            JoinType::LeftJoin,
            token::Entity,
            alias.clone(),
            Expr::col((alias, token::Column::Id)).equals((portal_account::Entity, reference)),
        );
    }
}

/// Joins, for each token slot of [`join_tokens`], the latest mail that carried the token (the
/// row [`MailOutbox::delivery_for_token`](portal_core::MailOutbox::delivery_for_token) reads),
/// with its columns as `invite_mail_<column>` / `reset_mail_<column>`: a correlated subquery
/// picks the row, served by `ix_mail_outbox_token`.
/// The outbox kind of invitation reminders (`MailKind::name`, as `convert.rs` stores it).
const REMINDER_KIND: &str = "invitation_reminder";

pub(super) fn join_deliveries(select: &mut SelectStatement) {
    for (slot, _) in SLOTS {
        let alias = Alias::new(format!("{slot}_mail"));
        for column in mail_outbox::Column::iter() {
            select.expr_as(Expr::col((alias.clone(), column)), Alias::new(format!("{slot}_mail_{}", column.as_str())));
        }
        let latest = Query::select()
            .column((mail_outbox::Entity, mail_outbox::Column::Id))
            .from(mail_outbox::Entity)
            .and_where(
                Expr::col((mail_outbox::Entity, mail_outbox::Column::TokenId))
                    .equals((Alias::new(slot), token::Column::Id)),
            )
            // The link's own mail: a reminder carries the same link, but the panel states it on
            // its own line ("Reminder sent at"), not as the invitation's delivery.
            .and_where(Expr::col((mail_outbox::Entity, mail_outbox::Column::Kind)).ne(REMINDER_KIND))
            .order_by((mail_outbox::Entity, mail_outbox::Column::CreatedAt), Order::Desc)
            .order_by((mail_outbox::Entity, mail_outbox::Column::Id), Order::Desc)
            .limit(1)
            .take();
        select.join_as(
            JoinType::LeftJoin,
            mail_outbox::Entity,
            alias.clone(),
            Expr::col((alias, mail_outbox::Column::Id)).eq(Expr::from(latest)),
        );
    }
}

/// `portal_accounts` rows matching `filter`, each joined with the two tokens it references
/// ([`join_tokens`]), in one query.
fn with_tokens(filter: Condition) -> SelectStatement {
    let mut select = Query::select();
    select.columns(portal_account::Column::iter().map(|c| (portal_account::Entity, c))).from(portal_account::Entity);
    join_tokens(&mut select);
    select.cond_where(filter);
    select
}

/// Decodes the account of one row of [`with_tokens`] (or of a select that joined
/// `portal_accounts` and [`join_tokens`] the same way); `None` when the row has no account
/// (an outer join found none).
pub(super) fn decode_stored(row: &QueryResult) -> Result<Option<PortalAccount>, StoreError> {
    if row.try_get::<Option<String>>("", portal_account::Column::ClientId.as_str()).map_err(unavailable)?.is_none() {
        return Ok(None);
    }
    decode(row).map(Some)
}

/// Decodes one row of [`with_tokens`].
fn decode(row: &QueryResult) -> Result<PortalAccount, StoreError> {
    let account = portal_account::Model::from_query_result(row, "").map_err(unavailable)?;
    let mut tokens = Vec::with_capacity(2);
    for (slot, _) in SLOTS {
        let prefix = format!("{slot}_");
        // A NULL id: the slot is empty (or the row it names is missing, which `account_from`
        // reports as corruption).
        if row.try_get::<Option<uuid::Uuid>>(&prefix, "id").map_err(unavailable)?.is_some() {
            tokens.push(token::Model::from_query_result(row, &prefix).map_err(unavailable)?);
        }
    }
    account_from(&account, &tokens)
}

/// The account of a row that joined `portal_accounts`, [`join_tokens`] and
/// [`join_deliveries`], with the delivery of each current link ([`PortalAccount::new`] when the
/// row has no account).
pub(super) fn decode_panel(
    row: &QueryResult,
    practice: PracticeId,
    client: &ClientId,
) -> Result<AccountPanel, StoreError> {
    let account = decode_stored(row)?.unwrap_or_else(|| PortalAccount::new(practice, client.clone()));
    let delivery = |slot: &str| -> Result<Option<DeliveryState>, StoreError> {
        let prefix = format!("{slot}_mail_");
        if row.try_get::<Option<uuid::Uuid>>(&prefix, "id").map_err(unavailable)?.is_none() {
            return Ok(None);
        }
        delivery_from(mail_outbox::Model::from_query_result(row, &prefix).map_err(unavailable)?).map(Some)
    };
    Ok(AccountPanel { invite_delivery: delivery("invite")?, reset_delivery: delivery("reset")?, account })
}

/// Every stored account matching `filter`, with its current tokens, in one query.
async fn load_where(db: &impl ConnectionTrait, filter: Condition) -> Result<Vec<PortalAccount>, StoreError> {
    let statement = db.get_database_backend().build(&with_tokens(filter));
    db.query_all_raw(statement).await.map_err(unavailable)?.iter().map(decode).collect()
}

/// The stored account of one client, if any.
async fn load_one(
    db: &impl ConnectionTrait,
    practice: PracticeId,
    client: &ClientId,
) -> Result<Option<PortalAccount>, StoreError> {
    Ok(load_where(db, of_client(practice, client)).await?.pop())
}

/// `portal_accounts` of one client.
fn of_client(practice: PracticeId, client: &ClientId) -> Condition {
    Condition::all()
        .add(Expr::col((portal_account::Entity, portal_account::Column::PracticeId)).eq(practice.as_uuid()))
        .add(Expr::col((portal_account::Entity, portal_account::Column::ClientId)).eq(client.as_str()))
}

/// Locks one client's account for the rest of `txn` and loads it, so the caller decides on
/// the account as it is and nobody changes it before `txn` ends.
///
/// PostgreSQL: a transaction-scoped advisory lock on the client's key comes first, because a
/// never-stored account has no row to lock; then the row itself is read `FOR UPDATE`, so a
/// plain [`AccountStore::commit`] (which takes no advisory lock) waits too instead of slipping
/// in between the read and the write. SQLite: the caller's transaction began `IMMEDIATE` in
/// this process's write turn, so it already holds the database's only write lock and the read
/// happens inside it.
async fn lock_one(
    txn: &BoundedTxn,
    practice: PracticeId,
    client: &ClientId,
) -> Result<Option<PortalAccount>, StoreError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return load_one(txn, practice, client).await;
    }
    // One 64-bit key per client, computed by the server so every process agrees; the uuid has a
    // fixed length, so the text names one client. Two clients whose keys collide merely take
    // turns.
    let key = format!("portal_account:{}:{}", practice.as_uuid(), client.as_str());
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        [key.into()],
    ))
    .await
    .map_err(unavailable)?;
    let mut select = with_tokens(of_client(practice, client));
    // `OF portal_accounts`: the token rows sit on the nullable side of outer joins, which
    // PostgreSQL refuses to lock.
    select.lock_with_tables(LockType::Update, [portal_account::Entity]);
    let statement = txn.get_database_backend().build(&select);
    Ok(txn
        .query_all_raw(statement)
        .await
        .map_err(unavailable)?
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?
        .pop())
}

/// Inserts a token the account holds for the first time, or records that it was used or
/// reminded (each once: a recorded use or reminder is never changed).
async fn upsert_token(
    txn: &BoundedTxn,
    practice: PracticeId,
    client: &ClientId,
    token: &IssuedToken,
) -> Result<(), StoreError> {
    let stored = token::Entity::find_by_id(token.id.as_uuid()).one(txn).await.map_err(unavailable)?;
    match stored {
        None => {
            token::Entity::insert(token_row(practice, client, token))
                .exec_without_returning(txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("token"), "practice"))?;
        }
        Some(row)
            if row.practice_id != practice.as_uuid()
                || row.client_id != client.as_str()
                || row.purpose != token.purpose.as_str() =>
        {
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
            // The count only grows: every wrong date of birth is counted under the account's
            // lock, so the aggregate always holds the latest count.
            let failures = i32::from(token.date_of_birth_failures);
            if failures > row.date_of_birth_failures {
                token::Entity::update_many()
                    .col_expr(token::Column::DateOfBirthFailures, Expr::value(failures))
                    .filter(token::Column::Id.eq(row.id))
                    .exec(txn)
                    .await
                    .map_err(unavailable)?;
            }
            if let Some(reminder) = token.reminder
                && row.reminded_at.is_none()
            {
                token::Entity::update_many()
                    .col_expr(token::Column::RemindedAt, Expr::value(micros(reminder.at())))
                    .col_expr(token::Column::Reminder, Expr::value(reminder_name(reminder)))
                    .filter(token::Column::Id.eq(row.id))
                    .filter(token::Column::RemindedAt.is_null())
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
async fn commit_in(txn: &BoundedTxn, change: &AccountCommit) -> Result<(), StoreError> {
    let account = &change.account;
    // The client is the host's: the store neither knows nor checks it (design §7).
    let (practice, client) = (account.practice_id(), account.client_id());
    let loaded = i64::try_from(account.version()).map_err(|_| StoreError::Conflict)?;
    let next = loaded.checked_add(1).ok_or(StoreError::Conflict)?;
    let collided = |what: &str| {
        if what.contains("username_lower") { StoreError::UsernameTaken } else { StoreError::Conflict }
    };

    // 1. The account row: insert at version 0, else compare-and-set on the version.
    if loaded == 0 {
        // The token references are set in step 2, once the tokens exist.
        let row = portal_account::ActiveModel {
            invite_token_id: Set(None),
            reset_token_id: Set(None),
            ..account_row(account, next)
        };
        portal_account::Entity::insert(row)
            .exec_without_returning(txn)
            .await
            .map_err(|e| write_error(e, collided, "practice"))?;
    } else {
        use portal_account::Column as C;
        let columns = account_columns(account.state());
        let updated = portal_account::Entity::update_many()
            .col_expr(C::State, Expr::value(columns.state))
            .col_expr(C::Username, Expr::value(columns.username))
            .col_expr(C::UsernameLower, Expr::value(columns.username_lower))
            .col_expr(C::PasswordHash, Expr::value(columns.password_hash))
            .col_expr(C::RegisteredAt, Expr::value(columns.registered_at))
            .col_expr(C::PasswordChangedAt, Expr::value(columns.password_changed_at))
            .col_expr(C::DisabledReason, Expr::value(columns.disabled_reason))
            .col_expr(C::DisabledAt, Expr::value(columns.disabled_at))
            .col_expr(C::ResetRequestsDayStartedAt, Expr::value(account.reset_requests().day_started_at().map(micros)))
            .col_expr(C::ResetRequestsInDay, Expr::value(reset_requests_in_day(account)))
            .col_expr(C::ResetRequestLastAt, Expr::value(account.reset_requests().last_sent_at().map(micros)))
            .col_expr(C::Version, Expr::value(next))
            .filter(C::PracticeId.eq(practice.as_uuid()))
            .filter(C::ClientId.eq(client.as_str()))
            .filter(C::Version.eq(loaded))
            .exec(txn)
            .await
            .map_err(|e| write_error(e, collided, "practice"))?;
        if updated.rows_affected == 0 {
            return Err(StoreError::Conflict);
        }
    }

    // 2. Tokens: void every live token of the client that the account no longer holds, then
    //    store the ones it holds.
    for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
        let mut void = token::Entity::update_many()
            .col_expr(token::Column::VoidedAt, Expr::value(micros(change.at)))
            .filter(token::Column::PracticeId.eq(practice.as_uuid()))
            .filter(token::Column::ClientId.eq(client.as_str()))
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
        .filter(portal_account::Column::PracticeId.eq(practice.as_uuid()))
        .filter(portal_account::Column::ClientId.eq(client.as_str()))
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
        .filter(mail_outbox::Column::PracticeId.eq(practice.as_uuid()))
        .filter(mail_outbox::Column::ClientId.eq(client.as_str()))
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
        .map_err(|e| write_error(e, |_| StoreError::Duplicate("mail"), "practice or token of a mail"))?;
    audit::insert(txn, &change.audit).await?;

    // 4. Sessions and throttle.
    if change.revoke_sessions {
        session::Entity::delete_many()
            .filter(session::Column::PracticeId.eq(practice.as_uuid()))
            .filter(session::Column::ClientId.eq(client.as_str()))
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

/// How many microseconds an hour has (a reminder lead is stored in hours).
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The invitations due their reminder at `now` ([`AccountStore::due_invitation_reminders`]): the
/// live, unreminded invite tokens that their account (still without credentials) holds as its
/// invitation, of a practice with a lead, with `expires_at - lead <= now < expires_at`. The
/// token conditions are those of the partial index `ix_tokens_reminder_due`, which serves the
/// range on `expires_at`.
fn due_reminders(now: Timestamp, limit: u32) -> SelectStatement {
    use portal_account::Column as A;
    use practice::Column as P;
    use token::Column as T;
    let (tokens, accounts, practices) = (token::Entity, portal_account::Entity, practice::Entity);
    let now = micros(now).micros();
    let lead = Expr::col((practices, P::InvitationReminderHours)).mul(MICROS_PER_HOUR);
    Query::select()
        .columns([(tokens, T::Id), (tokens, T::PracticeId), (tokens, T::ClientId)])
        .from(tokens)
        .inner_join(
            accounts,
            Condition::all()
                .add(Expr::col((accounts, A::PracticeId)).equals((tokens, T::PracticeId)))
                .add(Expr::col((accounts, A::ClientId)).equals((tokens, T::ClientId)))
                .add(Expr::col((accounts, A::InviteTokenId)).equals((tokens, T::Id))),
        )
        .inner_join(practices, Expr::col((practices, P::Id)).equals((tokens, T::PracticeId)))
        // A literal, not a bound value: a planner matches a partial index's predicate only
        // against constants it can see.
        .and_where(Expr::cust(r#""tokens"."purpose" = 'invite'"#))
        .and_where(Expr::col((tokens, T::UsedAt)).is_null())
        .and_where(Expr::col((tokens, T::VoidedAt)).is_null())
        .and_where(Expr::col((tokens, T::RemindedAt)).is_null())
        .and_where(Expr::col((tokens, T::ExpiresAt)).gt(now))
        .and_where(Expr::col((accounts, A::State)).eq(portal_account::STATE_NO_ACCOUNT))
        .and_where(Expr::col((practices, P::InvitationReminderHours)).is_not_null())
        .and_where(Expr::col((tokens, T::ExpiresAt)).sub(lead).lte(now))
        .order_by((tokens, T::ExpiresAt), Order::Asc)
        .order_by((tokens, T::Id), Order::Asc)
        .limit(u64::from(limit))
        .take()
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
        .filter(|t| t.state == TokenState::Live && !t.is_closed())
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
    async fn account(&self, practice: PracticeId, client: &ClientId) -> Result<PortalAccount, StoreError> {
        Ok(load_one(&self.db, practice, client).await?.unwrap_or_else(|| PortalAccount::new(practice, client.clone())))
    }

    async fn accounts(&self, practice: PracticeId, clients: &[ClientId]) -> Result<Vec<PortalAccount>, StoreError> {
        // One query for up to MAX_BATCH ids (the port's bound); a longer list is still answered,
        // a query per MAX_BATCH ids. Duplicated ids match one row.
        let mut accounts = Vec::new();
        for chunk in clients.chunks(MAX_BATCH) {
            let filter = Condition::all()
                .add(Expr::col((portal_account::Entity, portal_account::Column::PracticeId)).eq(practice.as_uuid()))
                .add(
                    Expr::col((portal_account::Entity, portal_account::Column::ClientId))
                        .is_in(chunk.iter().map(ClientId::as_str)),
                );
            accounts.extend(load_where(&self.db, filter).await?);
        }
        Ok(accounts)
    }

    async fn account_panel(&self, practice: PracticeId, client: &ClientId) -> Result<AccountPanel, StoreError> {
        let mut select = with_tokens(of_client(practice, client));
        join_deliveries(&mut select);
        let statement = self.db.get_database_backend().build(&select);
        let row = self.db.query_one_raw(statement).await.map_err(unavailable)?;
        match row {
            Some(row) => decode_panel(&row, practice, client),
            None => Ok(AccountPanel {
                account: PortalAccount::new(practice, client.clone()),
                invite_delivery: None,
                reset_delivery: None,
            }),
        }
    }

    async fn account_by_username(
        &self,
        practice: PracticeId,
        username: &Username,
    ) -> Result<Option<PortalAccount>, StoreError> {
        let filter = Condition::all()
            .add(Expr::col((portal_account::Entity, portal_account::Column::PracticeId)).eq(practice.as_uuid()))
            .add(
                Expr::col((portal_account::Entity, portal_account::Column::UsernameLower))
                    .eq(username.as_str().to_lowercase()),
            );
        Ok(load_where(&self.db, filter).await?.pop())
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
        let client = crate::convert::client_id("tokens.client_id", &issued.client_id)?;
        load_one(&self.db, PracticeId::from_uuid(issued.practice_id), &client).await
    }

    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = commit_in(&txn, &change).await;
        finish((txn, turn), outcome).await
    }

    async fn due_invitation_reminders(&self, now: Timestamp, limit: u32) -> Result<Vec<DueReminder>, StoreError> {
        let statement = self.db.get_database_backend().build(&due_reminders(now, limit));
        let rows = self.db.query_all_raw(statement).await.map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let get_uuid = |column: &str| row.try_get::<uuid::Uuid>("", column).map_err(unavailable);
                let client: String = row.try_get("", "client_id").map_err(unavailable)?;
                Ok(DueReminder {
                    practice_id: PracticeId::from_uuid(get_uuid("practice_id")?),
                    client_id: crate::convert::client_id("tokens.client_id", &client)?,
                    token_id: TokenId::from_uuid(get_uuid("id")?),
                })
            })
            .collect()
    }

    async fn update_account(
        &self,
        practice: PracticeId,
        client: &ClientId,
        decide: &mut (dyn FnMut(PortalAccount) -> AccountDecision + Send),
    ) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let account =
                lock_one(&txn, practice, client).await?.unwrap_or_else(|| PortalAccount::new(practice, client.clone()));
            match decide(account) {
                AccountDecision::Leave => Ok(()),
                AccountDecision::Commit(change)
                    if change.account.practice_id() != practice || change.account.client_id() != client =>
                {
                    Err(StoreError::Corrupt("a serialised change committed another client's account".into()))
                }
                AccountDecision::Commit(change) => commit_in(&txn, &change).await,
            }
        }
        .await;
        finish((txn, turn), outcome).await
    }
}
