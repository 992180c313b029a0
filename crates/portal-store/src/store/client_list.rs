//! The bundled client records read together with their portal state, each in one query: a page
//! of the staff's client list ([`Directory::list_clients`]) and one client's portal panel
//! ([`Directory::client_panel`]).
//!
//! `clients` LEFT JOIN `portal_accounts` LEFT JOIN the account's two current tokens, like
//! [`accounts::join_tokens`]; the panel also joins the latest mail of each token. A list page
//! without a status filter joins only its own clients ([`page_select`]). The list is
//! ordered by `(name_key, id)` byte by byte (`COLLATE "C"` on PostgreSQL, SQLite's default
//! `BINARY`), which `ix_clients_name_key (practice_id, name_key, id)` serves; the search is a
//! key range on `name_key` or `email_key`, and the status filter is the core's
//! `PortalAccount::status` written as SQL ([`status_is`]).
//!
//! [`Directory::list_clients`]: portal_core::Directory::list_clients
//! [`Directory::client_panel`]: portal_core::Directory::client_panel

use std::sync::OnceLock;

use jiff::Timestamp;
use portal_core::{
    AccountPanel, Client, ClientId, ClientListQuery, ClientPage, DATE_OF_BIRTH_TRIES, ListPosition, PageDirection,
    PortalAccount, PortalStatusKind, PracticeId, StoreError,
};
use sea_orm::sea_query::{
    Alias, Condition, DynIden, Expr, ExprTrait, IntoIden, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, IdenStatic, Iterable, QueryResult, Statement, Value};

use super::accounts::{decode_panel, decode_stored, join_deliveries, join_tokens};
use crate::convert::{client_from, micros};
use crate::entity::{client, portal_account, token};
use crate::error::unavailable;

/// The client's columns come back as `client__<column>`: the account's own columns keep their
/// names (`client_id`, `practice_id`, …), and the tokens' are `invite_…` / `reset_…`.
const CLIENT_PREFIX: &str = "client__";

/// The clients of `practice`, each joined with its account and the account's current tokens.
fn clients_with_accounts(practice: PracticeId) -> SelectStatement {
    let mut select = Query::select();
    select.from(client::Entity);
    join_accounts(&mut select, &client::Entity.into_iden());
    select.and_where(Expr::col((client::Entity, client::Column::PracticeId)).eq(practice.as_uuid()));
    select
}

/// Adds to `select`, whose FROM holds client rows named `clients` (the table itself, or a page of
/// it under its own name), every client column (as `client__<column>`) and each client's account
/// and current tokens.
fn join_accounts(select: &mut SelectStatement, clients: &DynIden) {
    for column in client::Column::iter() {
        select.expr_as(Expr::col((clients.clone(), column)), Alias::new(format!("{CLIENT_PREFIX}{}", column.as_str())));
    }
    select.columns(portal_account::Column::iter().map(|c| (portal_account::Entity, c)));
    select.join(
        JoinType::LeftJoin,
        portal_account::Entity,
        Condition::all()
            .add(
                Expr::col((portal_account::Entity, portal_account::Column::PracticeId))
                    .equals((clients.clone(), client::Column::PracticeId.into_iden())),
            )
            .add(
                Expr::col((portal_account::Entity, portal_account::Column::ClientId))
                    .equals((clients.clone(), client::Column::Id.into_iden())),
            ),
    );
    join_tokens(select);
}

/// The `id` of the client rows named `clients`, compared byte by byte: PostgreSQL's column has the database's collation, so the
/// list names `C` (and `ix_clients_name_key` holds the column in that collation); SQLite's text
/// is `BINARY` already.
fn id_in_list_order(backend: DbBackend, clients: &DynIden) -> Expr {
    let id = Expr::col((clients.clone(), client::Column::Id));
    match backend {
        DbBackend::Postgres => Expr::cust_with_expr(r#"$1 COLLATE "C""#, id),
        _ => id,
    }
}

/// The rows whose portal status at `now` is of `kind`: exactly `PortalAccount::status`, with a
/// missing account row read as [`PortalAccount::new`] (no account, not invited). Timestamps
/// are stored to the microsecond, so comparing `now` truncated to microseconds with a stored
/// expiry decides as the core does with the full `now`.
fn status_is(kind: PortalStatusKind, now: Timestamp) -> Condition {
    let state = || Expr::col((portal_account::Entity, portal_account::Column::State));
    let invite = |column: token::Column| Expr::col((Alias::new("invite"), column));
    // An unused invitation the account still holds (its state is "no account"), not closed
    // after too many wrong dates of birth.
    let closed = || invite(token::Column::DateOfBirthFailures).gte(i32::from(DATE_OF_BIRTH_TRIES));
    let pending_invite = || {
        Condition::all()
            .add(state().eq(portal_account::STATE_NO_ACCOUNT))
            .add(invite(token::Column::Id).is_not_null())
            .add(invite(token::Column::UsedAt).is_null())
            .add(invite(token::Column::DateOfBirthFailures).lt(i32::from(DATE_OF_BIRTH_TRIES)))
    };
    match kind {
        PortalStatusKind::Active => Condition::all().add(state().eq(portal_account::STATE_ACTIVE)),
        PortalStatusKind::Disabled => Condition::all().add(state().eq(portal_account::STATE_DISABLED)),
        PortalStatusKind::Invited => pending_invite().add(invite(token::Column::ExpiresAt).gt(micros(now))),
        PortalStatusKind::InviteExpired => pending_invite().add(invite(token::Column::ExpiresAt).lte(micros(now))),
        PortalStatusKind::NoAccount => {
            Condition::any().add(Expr::col((portal_account::Entity, portal_account::Column::ClientId)).is_null()).add(
                Condition::all().add(state().eq(portal_account::STATE_NO_ACCOUNT)).add(
                    Condition::any()
                        .add(invite(token::Column::Id).is_null())
                        .add(invite(token::Column::UsedAt).is_not_null())
                        .add(closed()),
                ),
            )
        }
    }
}

/// The rows whose name key or email key starts with `key` (`key <= x < end`, an index range).
fn search_matches(key: &str, end: Option<String>) -> Condition {
    let starts_with = |column: client::Column| {
        let column = || Expr::col((client::Entity, column));
        let range = Condition::all().add(column().gte(key));
        match &end {
            Some(end) => range.add(column().lt(end.as_str())),
            None => range,
        }
    };
    Condition::any().add(starts_with(client::Column::NameKey)).add(starts_with(client::Column::EmailKey))
}

/// The select of one page of `query` (see [`Directory::list_clients`]): filters, the keyset
/// condition, the order of reading and `LIMIT` one more than the page.
///
/// Without a status filter the page is chosen from `clients` alone and only its rows are
/// joined with their accounts and tokens. Written as one flat join, PostgreSQL (at a practice
/// of ~1,000 clients) joined all of the practice's accounts and tokens first and matched each of
/// the page's clients against them: ~11 ms instead of ~2.7 ms a page, because its cost model
/// expects a `LIMIT` over a nested loop to stop early, which a join filter never does. A status
/// filter needs the join to choose the rows, so it stays flat.
///
/// [`Directory::list_clients`]: portal_core::Directory::list_clients
pub(super) fn page_select(
    backend: DbBackend,
    practice: PracticeId,
    query: &ClientListQuery,
    now: Timestamp,
) -> SelectStatement {
    match query.status {
        Some(kind) => {
            let mut select = clients_with_accounts(practice);
            select.cond_where(status_is(kind, now));
            choose_page(&mut select, backend, practice, query);
            select
        }
        None => {
            let mut page = Query::select();
            page.columns(client::Column::iter().map(|column| (client::Entity, column)))
                .from(client::Entity)
                .and_where(Expr::col((client::Entity, client::Column::PracticeId)).eq(practice.as_uuid()));
            choose_page(&mut page, backend, practice, query);
            // Named apart from the table, so that a plan reads as what it does.
            let page_rows = Alias::new("page").into_iden();
            let mut select = Query::select();
            select.from_subquery(page, page_rows.clone());
            join_accounts(&mut select, &page_rows);
            select
                .order_by_expr(name_key(&page_rows), list_order(query))
                .order_by_expr(id_in_list_order(backend, &page_rows), list_order(query));
            select
        }
    }
}

/// `name_key` of the client rows named `clients`: the list's first ordering key.
fn name_key(clients: &DynIden) -> Expr {
    Expr::col((clients.clone(), client::Column::NameKey))
}

/// The order of reading: ascending for the next page, descending for the previous one.
fn list_order(query: &ClientListQuery) -> Order {
    match query.direction() {
        PageDirection::After => Order::Asc,
        PageDirection::Before => Order::Desc,
    }
}

/// Narrows `select` (whose FROM names `clients`) to the page of `query`: the search, the keyset
/// condition, the order of reading and `LIMIT` one more than the page.
fn choose_page(select: &mut SelectStatement, backend: DbBackend, practice: PracticeId, query: &ClientListQuery) {
    let clients = client::Entity.into_iden();
    if let Some(search) = &query.search {
        select.cond_where(search_matches(search.key(), search.key_end()));
    }
    if let Some(cursor) = &query.cursor {
        let row = Expr::tuple([name_key(&clients), id_in_list_order(backend, &clients)]);
        // The anchor's place as it is now, found in the same statement: the cursor carries only
        // the anchor's id, never its name. No such client: NULL, and nothing compares beyond it.
        let anchor_key = Query::select()
            .column(client::Column::NameKey)
            .from(client::Entity)
            .and_where(Expr::col(client::Column::PracticeId).eq(practice.as_uuid()))
            .and_where(Expr::col(client::Column::Id).eq(cursor.anchor.as_str()))
            .to_owned();
        let at = Expr::tuple([Expr::from(anchor_key), Expr::val(cursor.anchor.as_str())]);
        select.and_where(match cursor.direction {
            PageDirection::After => row.gt(at),
            PageDirection::Before => row.lt(at),
        });
    }
    select
        .order_by_expr(name_key(&clients), list_order(query))
        .order_by_expr(id_in_list_order(backend, &clients), list_order(query))
        .limit(query.size.fetch());
}

/// A client row of [`clients_with_accounts`], with its place in the list as stored (the
/// `name_key` the database ordered by, not one folded again here).
fn decode_client(row: &QueryResult) -> Result<(Client, ListPosition), StoreError> {
    let model = client::Model::from_query_result(row, CLIENT_PREFIX).map_err(unavailable)?;
    let name_key = model.name_key.clone();
    let client = client_from(model)?;
    let position = ListPosition { name_key, id: client.id.clone() };
    Ok((client, position))
}

/// One page of the client list, in one query.
pub(super) async fn list_page(
    db: &impl ConnectionTrait,
    practice: PracticeId,
    query: &ClientListQuery,
    now: Timestamp,
) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
    let statement = db.get_database_backend().build(&page_select(db.get_database_backend(), practice, query, now));
    let rows = db.query_all_raw(statement).await.map_err(unavailable)?;
    let fetched = rows
        .iter()
        .map(|row| {
            let (client, position) = decode_client(row)?;
            let account = decode_stored(row)?.unwrap_or_else(|| PortalAccount::new(practice, client.id.clone()));
            Ok((position, client, account))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let page = ClientPage::from_fetched(fetched, query, |(position, ..)| position.clone());
    Ok(page.map(|(_, client, account)| (client, account)))
}

/// The statement of [`client_panel`] for `practice` and `id`.
fn panel_select(practice: PracticeId, id: &ClientId) -> SelectStatement {
    let mut select = clients_with_accounts(practice);
    join_deliveries(&mut select);
    select.and_where(Expr::col((client::Entity, client::Column::Id)).eq(id.as_str()));
    select
}

/// [`panel_select`] as SQL, built once per backend with stand-in values, and where those sit
/// among its values. A status lookup is the staff API's most frequent request, and building
/// its sixty-column, five-table statement anew took about a tenth of its time.
struct PanelTemplate {
    statement: Statement,
    practice: Value,
    id: Value,
}

impl PanelTemplate {
    fn of(backend: DbBackend) -> Self {
        let practice = PracticeId::from_uuid(uuid::Uuid::from_u128(0x7061_6e65_6c5f_7072_6163_7469_6365_0000));
        let id = ClientId::parse("panel-template-client").expect("a valid client id");
        Self {
            statement: backend.build(&panel_select(practice, &id)),
            practice: Value::from(practice.as_uuid()),
            id: Value::from(id.as_str()),
        }
    }

    /// The template's statement with the stand-ins replaced by `practice` and `id`.
    fn bind(&self, practice: PracticeId, id: &ClientId) -> Statement {
        let mut statement = self.statement.clone();
        if let Some(values) = statement.values.as_mut() {
            for value in &mut values.0 {
                if *value == self.practice {
                    *value = Value::from(practice.as_uuid());
                } else if *value == self.id {
                    *value = Value::from(id.as_str());
                }
            }
        }
        statement
    }
}

/// The panel statement for `backend`, from its template.
fn panel_statement(backend: DbBackend, practice: PracticeId, id: &ClientId) -> Statement {
    static SQLITE: OnceLock<PanelTemplate> = OnceLock::new();
    static POSTGRES: OnceLock<PanelTemplate> = OnceLock::new();
    match backend {
        DbBackend::Sqlite => SQLITE.get_or_init(|| PanelTemplate::of(backend)).bind(practice, id),
        DbBackend::Postgres => POSTGRES.get_or_init(|| PanelTemplate::of(backend)).bind(practice, id),
        other => other.build(&panel_select(practice, id)),
    }
}

/// One client with its portal panel, in one query.
pub(super) async fn client_panel(
    db: &impl ConnectionTrait,
    practice: PracticeId,
    id: &ClientId,
) -> Result<Option<(Client, AccountPanel)>, StoreError> {
    let statement = panel_statement(db.get_database_backend(), practice, id);
    let Some(row) = db.query_one_raw(statement).await.map_err(unavailable)? else { return Ok(None) };
    let (client, _) = decode_client(&row)?;
    let panel = decode_panel(&row, practice, &client.id)?;
    Ok(Some((client, panel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a status filter the page is chosen from the clients alone and only its rows are
    /// joined; with one, the join chooses the rows. On both databases.
    #[test]
    fn only_the_pages_clients_are_joined_unless_the_status_chooses_them() {
        let practice = PracticeId::from_uuid(uuid::Uuid::from_u128(42));
        let now = Timestamp::UNIX_EPOCH;
        let search = Some(portal_core::ClientSearch::parse("ad").unwrap());
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for search in [None, search.clone()] {
                let query = ClientListQuery { search, ..ClientListQuery::default() };
                let sql = backend.build(&page_select(backend, practice, &query, now)).sql;
                let (_, from) = sql.split_once("FROM (SELECT").expect("the page as a subquery");
                let (page, joined) = from.split_once(r#") AS "page""#).expect("the page as a subquery");
                assert!(page.contains("LIMIT") && !page.contains("portal_accounts"), "{sql}");
                assert!(joined.contains(r#"LEFT JOIN "portal_accounts""#) && !joined.contains("LIMIT"), "{sql}");
            }
            let query = ClientListQuery { status: Some(PortalStatusKind::Active), ..ClientListQuery::default() };
            let sql = backend.build(&page_select(backend, practice, &query, now)).sql;
            assert!(!sql.contains(r#"AS "page""#) && sql.contains(r#"LEFT JOIN "portal_accounts""#), "{sql}");
        }
    }

    /// The template bound to a client is exactly the statement built for it, on both databases.
    #[test]
    fn the_panel_template_binds_to_the_statement_built_anew() {
        let practice = PracticeId::from_uuid(uuid::Uuid::from_u128(42));
        for id in ["c-1", "panel-template-client-2", "42"] {
            let id = ClientId::parse(id).unwrap();
            for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
                let built = backend.build(&panel_select(practice, &id));
                let bound = panel_statement(backend, practice, &id);
                assert_eq!(bound.sql, built.sql, "{backend:?}");
                assert_eq!(bound.values, built.values, "{backend:?}");
            }
        }
    }
}
