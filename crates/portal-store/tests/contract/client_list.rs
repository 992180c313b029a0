//! The staff's client list (`Directory::list_clients`: paged, searched, filtered by status, in
//! one query that the indexes serve) and the portal panel in one query
//! (`Directory::client_panel`, `AccountStore::account_panel`, and the service over them).

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use portal_core::service::{ClientRecords, PortalService, StaffContext};
use portal_core::testing::{InMemoryDirectory, ManualClock, SeededRandom};
use portal_core::{
    AccountStore, AuditAction, Client, ClientCursor, ClientListQuery, ClientSearch, Directory, EmailAddress, LinkKey,
    MailOutbox, PageSize, Policy, PortalAccount, PortalStatusKind, ScryptHasher, ScryptParams, search_key,
};
use portal_store::SeaOrmStore;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::fixtures::{World, at, change, client_with_id, event, host_id, name, token};
use crate::harness::TestDb;

/// A second handle on the test database whose every statement is recorded (sea-orm's metric
/// callback), to count the queries a call makes and to `EXPLAIN` them.
struct Recorded {
    store: SeaOrmStore,
    statements: Arc<Mutex<Vec<Statement>>>,
}

impl Recorded {
    fn new(db: &TestDb) -> Self {
        let statements = Arc::new(Mutex::new(Vec::new()));
        let mut connection = db.store.connection().clone();
        let sink = Arc::clone(&statements);
        connection.set_metric_callback(move |info| sink.lock().unwrap().push(info.statement.clone()));
        Self { store: SeaOrmStore::from_migrated(connection), statements }
    }

    /// The statements run since the last call.
    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.statements.lock().unwrap())
    }
}

/// The plan the database chooses for `statement`, one line per step.
async fn plan(db: &TestDb, statement: &Statement) -> String {
    let explain = match db.backend() {
        DbBackend::Postgres => format!("EXPLAIN {}", statement.sql),
        _ => format!("EXPLAIN QUERY PLAN {}", statement.sql),
    };
    let values = statement.values.clone().map(|values| values.0).unwrap_or_default();
    let rows = db
        .store
        .connection()
        .query_all_raw(Statement::from_sql_and_values(db.backend(), explain, values))
        .await
        .unwrap();
    let column = if db.backend() == DbBackend::Postgres { "QUERY PLAN" } else { "detail" };
    rows.iter().map(|row| row.try_get::<String>("", column).unwrap()).collect::<Vec<_>>().join("\n")
}

/// Stores `client` as the bundled server does.
async fn add(db: &TestDb, client: &Client) {
    db.store
        .create_client(client, &event(client.practice_id, Some(&client.id), AuditAction::ClientCreated, at(0)))
        .await
        .unwrap();
}

/// Every page of `query`, following the next cursors from its first page.
async fn every_page(store: &SeaOrmStore, world: &World, query: &ClientListQuery, now: Timestamp) -> Vec<Vec<Client>> {
    let mut query = query.clone();
    let mut pages = Vec::new();
    loop {
        let page = store.list_clients(world.practice.id, &query, now).await.unwrap();
        pages.push(page.items.into_iter().map(|(client, _)| client).collect());
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return pages,
        }
    }
}

fn sized(size: u64) -> ClientListQuery {
    ClientListQuery { size: PageSize::new(size).unwrap(), ..ClientListQuery::default() }
}

fn searching(text: &str) -> ClientListQuery {
    ClientListQuery { search: Some(ClientSearch::parse(text).unwrap()), ..ClientListQuery::default() }
}

fn ids(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.id.as_str()).collect()
}

pub async fn clients_are_listed_by_folded_name_then_id_byte_by_byte(db: &TestDb) {
    let world = World::new(db).await; // "Ada Lovelace"
    // Ids and names chosen where a locale's collation and byte order disagree: upper before
    // lower case and punctuation before letters in bytes, not in `en_US`.
    for (id, client_name) in
        [("b", "bob"), ("a1", "Bob"), ("A1", "BOB"), ("a-1", "Bob"), ("Z", "Émile"), ("y", "zed"), ("x", "adam")]
    {
        add(db, &client_with_id(&world.practice, host_id(id), client_name)).await;
    }
    World::with_slug(db, "moonrise").await;
    let listed = db.store.list_clients(world.practice.id, &ClientListQuery::default(), at(1)).await.unwrap();
    assert_eq!((listed.next, listed.previous), (None, None));
    let clients: Vec<Client> = listed.items.iter().map(|(c, _)| c.clone()).collect();
    // "ada lovelace" < "adam" (space before m); the three Bobs fold alike and go by id bytes;
    // "zed" < "émile" (é is U+00E9, after every ASCII letter).
    assert_eq!(ids(&clients), [world.client.id.as_str(), "x", "A1", "a-1", "a1", "b", "y", "Z"]);
    assert!(listed.items.iter().all(|(c, account)| *account == PortalAccount::new(world.practice.id, c.id.clone())));
}

pub async fn pages_follow_each_other_forwards_and_backwards_in_one_query_each(db: &TestDb) {
    let world = World::new(db).await;
    for n in 0..22 {
        // Names that repeat, so pages split runs of one name by id.
        add(db, &client_with_id(&world.practice, host_id(&format!("c{n:02}")), ["Ana", "bo", "Cy"][n % 3])).await;
    }
    let whole: Vec<Client> = every_page(&db.store, &world, &sized(200), at(0)).await.into_iter().flatten().collect();
    assert_eq!(whole.len(), 23);
    let recorded = Recorded::new(db);
    let pages = every_page(&recorded.store, &world, &sized(5), at(0)).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 5, 5, 3]);
    assert_eq!(pages.concat(), whole, "no gap, no repeat, the list's order");
    assert_eq!(recorded.take().len(), 5, "one query per page");

    // Back from the last page with the previous cursors.
    let mut query = sized(5);
    let mut page = db.store.list_clients(world.practice.id, &query, at(0)).await.unwrap();
    while let Some(next) = page.next.take() {
        query.cursor = Some(next);
        page = db.store.list_clients(world.practice.id, &query, at(0)).await.unwrap();
    }
    let mut backwards = Vec::new();
    loop {
        backwards.push(page.items.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>());
        let Some(previous) = page.previous.take() else { break };
        query.cursor = Some(previous);
        page = db.store.list_clients(world.practice.id, &query, at(0)).await.unwrap();
    }
    backwards.reverse();
    assert_eq!(backwards, pages);
}

pub async fn a_search_matches_a_prefix_of_the_folded_name_or_email(db: &TestDb) {
    let world = World::new(db).await; // "Ada Lovelace", client@example.org
    let mut emile = client_with_id(&world.practice, host_id("emile"), "ÉMILE Zola");
    emile.email = Some(EmailAddress::parse("E.Z@Example.org").unwrap());
    add(db, &emile).await;
    let mut wide = client_with_id(&world.practice, host_id("wide"), "ＡＤＡＭ");
    wide.email = None;
    add(db, &wide).await;
    let mut percent = client_with_id(&world.practice, host_id("pct"), "100% Pure_Name");
    percent.email = Some(EmailAddress::parse("x_y@example.org").unwrap());
    add(db, &percent).await;
    let other = World::with_slug(db, "moonrise").await;
    add(db, &client_with_id(&other.practice, host_id("elsewhere"), "Adam Elsewhere")).await;

    let world = &world;
    let search = |text: &'static str| async move {
        let pages = every_page(&db.store, world, &searching(text), at(0)).await;
        pages.concat().into_iter().map(|c| c.id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(search("ada").await, [world.client.id.to_string(), "wide".into()], "case and width folded");
    assert_eq!(search("émi").await, ["emile"]);
    assert_eq!(search("E\u{301}MILE Z").await, ["emile"], "decomposed accents fold too");
    assert_eq!(search("e.z@").await, ["emile"], "an email prefix");
    assert_eq!(search("client@EXAMPLE").await, [world.client.id.to_string()]);
    assert_eq!(search("100%").await, ["pct"], "LIKE's wildcards are plain characters here");
    assert_eq!(search("x_").await, ["pct"]);
    assert_eq!(search("%").await, Vec::<String>::new());
    assert_eq!(search("zola").await, Vec::<String>::new(), "no surname search: a prefix of the name or the email");

    // A change of name or email moves the client in the search (the keys are rewritten).
    let mut renamed = emile.clone();
    renamed.name = name("Émile Ajar");
    renamed.email = None;
    db.store
        .update_client(&renamed, &event(world.practice.id, Some(&renamed.id), AuditAction::ClientUpdated, at(1)))
        .await
        .unwrap();
    assert_eq!(search("émile a").await, ["emile"]);
    assert_eq!(search("e.z@").await, Vec::<String>::new());
}

pub async fn the_status_filter_agrees_with_the_core_for_every_kind(db: &TestDb) {
    let world = World::new(db).await; // no account row at all
    let client = |id: &str| client_with_id(&world.practice, host_id(id), "Client");
    let mut all = vec![world.client.clone()];
    for id in [
        "row-without-invite",
        "invited",
        "expired",
        "active",
        "disabled",
        "active-reset",
        "used-invite",
        "closed-invite",
    ] {
        let c = client(id);
        add(db, &c).await;
        all.push(c);
    }
    // An account row with no invitation (a commit that changed nothing but the version).
    let bare = db.store.account(world.practice.id, &all[1].id).await.unwrap();
    db.store.commit(change(bare, at(0))).await.unwrap();
    world.invite(db, &all[2], "invited", at(0)).await;
    world.invite(db, &all[3], "expired", at(-3600)).await;
    world.register(db, &all[4], "active.one", at(0)).await;
    let mut disabled = world.register(db, &all[5], "disabled.one", at(0)).await;
    disabled.disable(None, at(1)).unwrap();
    db.store.commit(change(disabled, at(1))).await.unwrap();
    let mut resetting = world.register(db, &all[6], "reset.one", at(0)).await;
    resetting.issue_reset(token(portal_core::TokenPurpose::Reset, "reset", at(2))).unwrap();
    db.store.commit(change(resetting, at(2))).await.unwrap();
    // No account, but the invitation it holds was used: the core says "not invited".
    let mut used = PortalAccount::new(world.practice.id, all[7].id.clone());
    let mut invite = token(portal_core::TokenPurpose::Invite, "used", at(0));
    invite.state = portal_core::TokenState::Used { at: at(5) };
    used.issue_invite(invite).unwrap();
    db.store.commit(change(used, at(5))).await.unwrap();
    // No account, and the invitation was closed after five wrong dates of birth: "not invited".
    let mut closed = PortalAccount::new(world.practice.id, all[8].id.clone());
    let mut invite = token(portal_core::TokenPurpose::Invite, "closed", at(0));
    invite.date_of_birth_failures = portal_core::DATE_OF_BIRTH_TRIES;
    closed.issue_invite(invite).unwrap();
    db.store.commit(change(closed, at(5))).await.unwrap();

    // Around the expiry instants of both invitations (48 h after at(-3600) and at(0)).
    let expiry = SignedDuration::from_hours(48);
    let instants = [
        at(10),
        at(-3600) + expiry - SignedDuration::from_micros(1),
        at(-3600) + expiry,
        at(-3600) + expiry + SignedDuration::from_nanos(500),
        at(0) + expiry - SignedDuration::from_nanos(1),
        at(0) + expiry,
        at(0) + expiry + SignedDuration::from_hours(1),
    ];
    let mut seen = std::collections::HashSet::new();
    for now in instants {
        let whole = db.store.list_clients(world.practice.id, &sized(200), now).await.unwrap();
        assert_eq!(whole.items.len(), all.len());
        seen.extend(whole.items.iter().map(|(_, account)| account.status(now).kind()));
        for kind in PortalStatusKind::ALL {
            let expected: Vec<String> = whole
                .items
                .iter()
                .filter(|(_, account)| account.status(now).kind() == kind)
                .map(|(c, _)| c.id.to_string())
                .collect();
            let query = ClientListQuery { status: Some(kind), ..sized(200) };
            let filtered = db.store.list_clients(world.practice.id, &query, now).await.unwrap();
            let got: Vec<String> = filtered.items.iter().map(|(c, _)| c.id.to_string()).collect();
            assert_eq!(got, expected, "{kind:?} at {now}");
        }
    }
    assert_eq!(seen.len(), PortalStatusKind::ALL.len(), "every kind was checked: {seen:?}");
}

/// Inserts `count` clients of `practice` in a few statements (names `"{prefix} 0001"`…, the
/// keys folded as `client_row` folds them), for tests that need a table of some size.
async fn insert_many(db: &TestDb, practice: uuid::Uuid, prefix: &str, count: usize) {
    let uuid = match db.backend() {
        DbBackend::Postgres => format!("'{practice}'::uuid"),
        _ => format!("X'{}'", practice.simple()),
    };
    let rows: Vec<String> = (0..count)
        .map(|n| {
            let client_name = format!("{prefix} {n:04}");
            let email = format!("{}.{n}@example.org", prefix.to_lowercase());
            format!(
                "({uuid}, '{prefix}-{n}', '{client_name}', '{email}', 'en', true, 0, '{}', '{}')",
                search_key(&client_name),
                search_key(&email)
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO clients (practice_id, id, name, email, language, email_consent, created_at, name_key, email_key) \
             VALUES {}",
            chunk.join(", ")
        );
        db.store.connection().execute_unprepared(&sql).await.unwrap();
    }
}

pub async fn the_list_and_the_search_are_served_by_the_indexes(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    insert_many(db, world.practice.id.as_uuid(), "Client", 3000).await;
    insert_many(db, other.practice.id.as_uuid(), "Other", 3000).await;
    db.store.connection().execute_unprepared("ANALYZE").await.unwrap();
    let recorded = Recorded::new(db);
    let first = recorded.store.list_clients(world.practice.id, &ClientListQuery::default(), at(0)).await.unwrap();
    let after = ClientListQuery { cursor: first.next.clone(), ..ClientListQuery::default() };
    let second = recorded.store.list_clients(world.practice.id, &after, at(0)).await.unwrap();
    let back = ClientListQuery { cursor: second.previous.clone(), ..ClientListQuery::default() };
    assert_eq!(recorded.store.list_clients(world.practice.id, &back, at(0)).await.unwrap().items, first.items);
    // A previous page deep in the list (the one above is short enough to sort cheaply).
    let deep = ClientCursor::before(host_id("Client-2500"));
    let before = ClientListQuery { cursor: Some(deep), ..ClientListQuery::default() };
    let page = recorded.store.list_clients(world.practice.id, &before, at(0)).await.unwrap();
    assert_eq!(page.items.last().map(|(c, _)| c.name.as_str()), Some("Client 2499"));
    let by_name = recorded.store.list_clients(world.practice.id, &searching("client 12"), at(0)).await.unwrap();
    assert_eq!(by_name.items.len(), 50);
    let by_email = recorded.store.list_clients(world.practice.id, &searching("client.299"), at(0)).await.unwrap();
    assert_eq!(by_email.items.len(), 11, "client.299 and client.2990 to client.2999");
    // An anchor that is no client of the practice (another practice's, or none) has nothing
    // beyond it: a cursor opens no other practice's list.
    for anchor in [host_id("Other-10"), host_id("nobody")] {
        let elsewhere = ClientListQuery { cursor: Some(ClientCursor::after(anchor)), ..ClientListQuery::default() };
        let page = db.store.list_clients(world.practice.id, &elsewhere, at(0)).await.unwrap();
        assert!(page.items.is_empty() && page.next.is_none() && page.previous.is_none());
    }
    let statements = recorded.take();
    assert_eq!(statements.len(), 6, "one query per page");
    let statements = [&statements[0], &statements[1], &statements[3], &statements[4], &statements[5]];

    let postgres = db.backend() == DbBackend::Postgres;
    for (what, statement) in ["first page", "next page", "previous page"].iter().zip(&statements[..3]) {
        let plan = plan(db, statement).await;
        assert!(plan.contains("ix_clients_name_key"), "the {what} walks the list's index:\n{plan}");
        let sorts = if postgres { plan.contains("Sort") } else { plan.contains("TEMP B-TREE") };
        assert!(!sorts, "the {what} reads the index in order, without sorting:\n{plan}");
    }
    for (what, statement, index) in
        [("name search", statements[3], "ix_clients_name_key"), ("email search", statements[4], "ix_clients_email_key")]
    {
        let plan = plan(db, statement).await;
        assert!(plan.contains(index), "the {what} is served by {index}:\n{plan}");
        let scans_table = if postgres { plan.contains("Seq Scan on clients") } else { plan.contains("SCAN clients") };
        assert!(!scans_table, "the {what} reads no whole table:\n{plan}");
    }
}

pub async fn a_client_panel_is_one_query_and_reads_what_the_separate_reads_do(db: &TestDb) {
    let world = World::new(db).await;
    let recorded = &Recorded::new(db);
    let compare = |client: Client| async move {
        let account = db.store.account(client.practice_id, &client.id).await.unwrap();
        let delivery = |token: Option<&portal_core::IssuedToken>| {
            let id = token.map(|t| t.id);
            async move {
                match id {
                    Some(id) => db.store.delivery_for_token(id).await.unwrap(),
                    None => None,
                }
            }
        };
        let (invite, reset) = (delivery(account.invite()).await, delivery(account.reset()).await);
        recorded.take();
        let (listed, panel) = recorded.store.client_panel(client.practice_id, &client.id).await.unwrap().unwrap();
        assert_eq!(recorded.take().len(), 1, "the client and its panel in one query");
        assert_eq!(listed, client);
        assert_eq!((&panel.account, &panel.invite_delivery, &panel.reset_delivery), (&account, &invite, &reset));
        let stored = recorded.store.account_panel(client.practice_id, &client.id).await.unwrap();
        assert_eq!(recorded.take().len(), 1, "the panel of the portal's tables in one query");
        assert_eq!(stored, panel);
        panel
    };
    let fresh = compare(world.client.clone()).await;
    assert_eq!((fresh.invite_delivery, fresh.reset_delivery), (None, None));
    // Two invitations: the panel shows the current one's mail, not the cancelled first one's.
    world.invite(db, &world.client, "first", at(0)).await;
    world.invite(db, &world.client, "second", at(10)).await;
    let invited = compare(world.client.clone()).await;
    assert!(matches!(invited.invite_delivery, Some(portal_core::DeliveryState::Pending { .. })));
    let registered = world.register(db, &world.client, "ada", at(20)).await;
    let mut resetting = registered;
    let reset = token(portal_core::TokenPurpose::Reset, "reset", at(30));
    resetting.issue_reset(reset.clone()).unwrap();
    let mut commit = change(resetting, at(30));
    commit.mail.push(crate::fixtures::mail(
        &world.client,
        portal_core::MailKind::PasswordReset { token_id: reset.id, expires_at: reset.expires_at },
        at(30),
    ));
    db.store.commit(commit).await.unwrap();
    db.store
        .mark_sent(db.store.claim_due(at(31), SignedDuration::from_secs(60), 10).await.unwrap()[0].mail.id, at(32))
        .await
        .unwrap();
    let resetting = compare(world.client.clone()).await;
    assert!(resetting.reset_delivery.is_some() && resetting.invite_delivery.is_some());

    // Not a bundled client (another practice's, or a host's): no panel from the joined read,
    // while the portal's own tables still answer for the host's id.
    let other = World::with_slug(db, "moonrise").await;
    assert_eq!(db.store.client_panel(other.practice.id, &world.client.id).await.unwrap(), None);
    let host = host_id("MRN-1");
    assert_eq!(db.store.client_panel(world.practice.id, &host).await.unwrap(), None);
    let panel = db.store.account_panel(world.practice.id, &host).await.unwrap();
    assert_eq!(panel.account, PortalAccount::new(world.practice.id, host));
}

/// The service over a recorded store: `StaffContext` needs no query, so what is counted is the
/// use case's own reads.
fn service_over<D: portal_core::ClientDirectory>(
    store: SeaOrmStore,
    directory: D,
) -> PortalService<SeaOrmStore, ScryptHasher, ManualClock, SeededRandom, D> {
    PortalService::new(
        store,
        directory,
        ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(),
        ManualClock::new(at(60)),
        SeededRandom::new(5),
        Policy::default(),
        LinkKey::from_bytes([3; 32]),
    )
}

pub async fn the_status_lookup_is_one_query_with_bundled_records_and_one_beside_a_hosts_directory(db: &TestDb) {
    let world = World::new(db).await;
    world.invite(db, &world.client, "invite", at(0)).await;
    let staff = StaffContext { staff: world.staff.clone(), request: Default::default() };

    let recorded = Recorded::new(db);
    let bundled = service_over(recorded.store.clone(), recorded.store.clone()).with_bundled_records();
    assert_eq!(bundled.client_records(), ClientRecords::Bundled);
    recorded.take();
    let panel = bundled.portal(&staff, &world.client.id).await.unwrap();
    assert_eq!(recorded.take().len(), 1, "GET …/portal: one statement");
    assert!(panel.invite.is_some_and(|invite| invite.delivery.is_some()));
    let view = bundled.client(&staff, &world.client.id).await.unwrap();
    assert_eq!(recorded.take().len(), 1, "GET /api/v1/clients/{{id}}: one statement");
    assert_eq!(view.client, world.client);
    let missing = bundled.portal(&staff, &host_id("nobody")).await;
    assert!(matches!(missing, Err(portal_core::service::ClientError::ClientNotFound)));
    assert_eq!(recorded.take().len(), 1);

    // A host's directory (in memory here: it runs no SQL) and one read of the portal's tables.
    let patients = InMemoryDirectory::new();
    let patient = client_with_id(&world.practice, host_id("MRN-7"), "Host Patient");
    patients.insert(patient.clone());
    let host = service_over(recorded.store.clone(), patients);
    host.send_invite(&staff, &patient.id).await.unwrap();
    recorded.take();
    let panel = host.portal(&staff, &patient.id).await.unwrap();
    assert_eq!(recorded.take().len(), 1, "the host's lookup plus one statement");
    assert!(panel.invite.is_some_and(|invite| invite.delivery.is_some()));
}

pub async fn the_client_search_migration_fills_the_keys_of_existing_clients_and_rolls_back(db: &TestDb) {
    let world = World::new(db).await;
    let steps = crate::host_migration::steps_back_to_before("m20261201_000005_client_search");
    portal_store::rollback(&db.url, Some(steps)).await.unwrap();
    // Clients written before the keys existed: more than one batch of the backfill.
    let uuid = match db.backend() {
        DbBackend::Postgres => format!("'{}'::uuid", world.practice.id.as_uuid()),
        _ => format!("X'{}'", world.practice.id.as_uuid().simple()),
    };
    let rows: Vec<String> = (0..1234)
        .map(|n| format!("({uuid}, 'old-{n}', 'ÉLODIE Old {n:04}', 'Old.{n}@Example.org', 'en', true, 0)"))
        .collect();
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO clients (practice_id, id, name, email, language, email_consent, created_at) VALUES {}",
            chunk.join(", ")
        );
        db.store.connection().execute_unprepared(&sql).await.unwrap();
    }
    portal_store::migrate(&db.url).await.unwrap();

    assert_eq!(db.count("clients", "name_key = ''").await, 0, "every client has its key");
    let found = db.store.list_clients(world.practice.id, &searching("élodie old 12"), at(0)).await.unwrap();
    assert_eq!(found.items.len(), 34, "Old 1200 to Old 1233");
    let by_mail = db.store.list_clients(world.practice.id, &searching("OLD.123"), at(0)).await.unwrap();
    let mut ids: Vec<&str> = by_mail.items.iter().map(|(c, _)| c.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["old-123", "old-1230", "old-1231", "old-1232", "old-1233"]);
    let keys = db.query("SELECT name, name_key, email, email_key FROM clients").await;
    for row in keys {
        let (name, key): (String, String) = (row.try_get("", "name").unwrap(), row.try_get("", "name_key").unwrap());
        assert_eq!(key, search_key(&name));
        let email: Option<String> = row.try_get("", "email").unwrap();
        assert_eq!(row.try_get::<Option<String>>("", "email_key").unwrap(), email.as_deref().map(search_key));
    }

    // Down (with every later migration) and up again: the keys go with their columns and come back filled.
    portal_store::rollback(&db.url, Some(steps)).await.unwrap();
    assert!(db.store.list_clients(world.practice.id, &ClientListQuery::default(), at(0)).await.is_err());
    portal_store::migrate(&db.url).await.unwrap();
    assert_eq!(db.count("clients", "name_key = ''").await, 0);
    assert_eq!(db.store.list_clients(world.practice.id, &sized(200), at(0)).await.unwrap().items.len(), 200);
}
