//! A PostgreSQL server that stops answering without closing its connections (a network
//! partition), staged with portal-testkit's `TcpProxy` between the store and the server: every
//! store call gives up within the database timeout with `Unavailable`, the store serves again
//! once the network does, nothing is left half-done, and a connection whose query was abandoned
//! never goes back to the pool in an unknown state. PostgreSQL only: SQLite has no network to
//! lose, and its waits are bounded by the busy timeout.

use std::time::{Duration, Instant};

use jiff::SignedDuration;
use portal_core::{AccountDecision, AccountStore, Directory, MailOutbox, StoreError};
use portal_store::StoreConfig;
use portal_testkit::{PgDatabase, TcpProxy, poll_until};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use crate::fixtures::{World, at, change};
use crate::harness::TestDb;

/// Slack on top of the database timeout before an answer counts as late: a loaded two-core
/// machine may be slow to wake a timer, never this slow.
const SLACK: Duration = Duration::from_secs(3);

/// How the store talks to PostgreSQL through the proxy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// As the URL says (sqlx's default `sslmode=prefer`: TLS when the server offers it).
    AsConfigured,
    /// Plain TCP (`sslmode=disable`).
    Plain,
}

/// A fresh database, a proxy in front of it, and the store opened through the proxy with
/// `timeout`. `None` when `PORTAL_TEST_POSTGRES_URL` is unset.
async fn behind_a_proxy(timeout: Duration, transport: Transport) -> Option<(PgDatabase, TcpProxy, TestDb)> {
    let database = PgDatabase::create().await?;
    let (proxy, mut url) = TcpProxy::for_postgres(database.url()).await;
    if transport == Transport::Plain {
        // The last `sslmode` given wins.
        url.push_str(if url.contains('?') { "&sslmode=disable" } else { "?sslmode=disable" });
    }
    let store = portal_store::connect_with(&url, StoreConfig { database_timeout: timeout }).await.unwrap();
    Some((database, proxy, TestDb { store, url, sqlite_path: None }))
}

/// What `call` returned and how long it took.
async fn timed<T>(call: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let outcome = call.await;
    (outcome, started.elapsed())
}

/// Asserts an `Unavailable` that came within the timeout plus [`SLACK`].
#[track_caller]
fn assert_gave_up_in_time<T: std::fmt::Debug>(
    what: &str,
    (outcome, took): &(Result<T, StoreError>, Duration),
    timeout: Duration,
) {
    assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{what}: {outcome:?}");
    assert!(*took <= timeout + SLACK, "{what} gave up after {took:?}, the timeout is {timeout:?}");
}

/// `SELECT count(*) …` on the test's own connection (not through the proxy).
async fn count(direct: &DatabaseConnection, sql: &str) -> i64 {
    let row = direct.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn postgresql_sessions_carry_the_database_timeout_and_migrations_are_not_cut_by_it() {
    // A timeout far shorter than any migration: the migrations run with it lifted.
    let timeout = Duration::from_millis(1);
    let Some(database) = PgDatabase::create().await else { return };
    let store = portal_store::connect_with(database.url(), StoreConfig { database_timeout: timeout }).await.unwrap();
    assert_eq!(store.database_timeout(), Some(timeout));
    let direct = sea_orm::Database::connect(database.url()).await.unwrap();
    let tables = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'portal_accounts'";
    assert_eq!(count(&direct, tables).await, 1, "every migration applied");
    direct.close().await.unwrap();
    // The store's own sessions: a `SHOW` takes microseconds, but a loaded machine may pause the
    // server past 1 ms, which cancels it; a few tries settle it.
    for setting in ["statement_timeout", "idle_in_transaction_session_timeout"] {
        let show = Statement::from_string(DbBackend::Postgres, format!("SHOW {setting}"));
        let mut value = None;
        for _ in 0..20 {
            if let Ok(Some(row)) = store.connection().query_one_raw(show.clone()).await {
                value = Some(row.try_get_by_index::<String>(0).unwrap());
                break;
            }
        }
        assert_eq!(value.as_deref(), Some("1ms"), "{setting}");
    }

    let sqlite = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", sqlite.path().join("portal.db").display());
    let store = portal_store::connect_with(&url, StoreConfig { database_timeout: timeout }).await.unwrap();
    assert_eq!(store.database_timeout(), None, "SQLite's waits are the busy timeout's");
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_postgresql_fails_every_call_within_the_timeout_and_the_store_recovers() {
    let timeout = Duration::from_secs(1);
    let Some((database, proxy, db)) = behind_a_proxy(timeout, Transport::AsConfigured).await else { return };
    let world = World::new(&db).await;
    world.invite(&db, &world.client, "queued-before", at(1)).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());

    proxy.partition();
    let mut touch = |account| AccountDecision::Commit(Box::new(change(account, at(2))));
    let (read, write, claim, ping) = tokio::join!(
        timed(db.store.practice_count()),
        timed(db.store.update_account(practice, &client, &mut touch)),
        timed(db.store.claim_due(at(3), SignedDuration::from_mins(5), 10)),
        timed(db.store.ping()),
    );
    assert_gave_up_in_time("a read", &read, timeout);
    assert_gave_up_in_time("a serialised write", &write, timeout);
    assert_gave_up_in_time("a claim", &claim, timeout);
    assert_gave_up_in_time("a ping", &ping, timeout);

    proxy.heal();
    let recovered =
        poll_until(timeout + SLACK * 2, "the store answers again", || async { db.store.ping().await.is_ok() }).await;
    // Nothing of the abandoned calls remains: the write did not happen, the mail is still
    // there to claim, and no session of this database sits in a transaction (its locks gone).
    let account = db.store.account(practice, &client).await.unwrap();
    let version = account.version();
    db.store.update_account(practice, &client, &mut touch).await.unwrap();
    assert_eq!(db.store.account(practice, &client).await.unwrap().version(), version + 1);
    let claimed = db.store.claim_due(at(3), SignedDuration::from_mins(5), 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "the mail queued before the partition is claimed once, now");
    let direct = sea_orm::Database::connect(database.url()).await.unwrap();
    let half_open = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state LIKE 'idle in transaction%'",
        database.name()
    );
    poll_until(SLACK, "no transaction left open", || async { count(&direct, &half_open).await == 0 }).await;
    eprintln!(
        "partition: read {:?}, write {:?}, claim {:?}, ping {:?} (timeout {timeout:?}); answering again {recovered:?} after the heal",
        read.1, write.1, claim.1, ping.1
    );
    direct.close().await.unwrap();
}

/// The hard case for a pool: the partition ends for new connections only, so every connection
/// it held stays silent for good (a firewall that lost their state). Each of them was in the
/// middle of a query when its caller gave up. sqlx pings a released connection before pooling
/// it again, with no limit of its own: without the store's release check the whole pool would
/// wait in that ping for the operating system's TCP timeouts, and the store would answer nothing
/// long after the network came back.
///
/// Plain TCP: over TLS, sqlx 0.9 cannot close a connection whose peer is silent (its rustls
/// socket's flush, which closing starts with, waits to read from the peer when it has nothing
/// to write), so the slot of such a connection comes back only when the operating system gives
/// up on the socket (`docs/operations.md`, "A silent database").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_a_partition_keeps_for_good_are_closed_and_the_pool_recovers() {
    let timeout = Duration::from_secs(2);
    let Some((database, proxy, db)) = behind_a_proxy(timeout, Transport::Plain).await else { return };
    let world = World::new(&db).await;
    let pool_size = db.store.connection().get_postgres_connection_pool().options().get_max_connections();
    let callers = usize::try_from(pool_size).unwrap() + 4;

    // Every pooled connection busy in a query: the test (on its own connection) locks the
    // table they read, and more callers than the pool has connections read it.
    let direct = sea_orm::Database::connect(database.url()).await.unwrap();
    let lock = direct.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE portal_accounts IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let reads: Vec<_> = (0..callers)
        .map(|_| {
            let (store, practice, client) = (db.store.clone(), world.practice.id, world.client.id.clone());
            tokio::spawn(async move { timed(store.account(practice, &client)).await })
        })
        .collect();
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
        database.name()
    );
    poll_until(timeout / 2, "every pooled connection waits for the lock", || async {
        count(&direct, &waiting).await >= i64::from(pool_size)
    })
    .await;

    proxy.partition();
    proxy.heal_new_connections();
    lock.rollback().await.unwrap();
    for read in reads {
        assert_gave_up_in_time("a read", &read.await.unwrap(), timeout);
    }
    let recovered = poll_until(timeout * 2 + SLACK * 2, "the store answers again on new connections", || async {
        db.store.practice_count().await.is_ok()
    })
    .await;
    // And goes on answering: the pool holds none of the silent connections.
    for _ in 0..pool_size * 2 {
        db.store.account(world.practice.id, &world.client.id).await.unwrap();
    }
    eprintln!(
        "{callers} callers on a pool of {pool_size} held for good by a partition: the store answered again {recovered:?} later"
    );
    direct.close().await.unwrap();
}
