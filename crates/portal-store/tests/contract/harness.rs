//! Fresh databases for each test: a temporary SQLite file always, and a uniquely named
//! PostgreSQL database when `PORTAL_TEST_POSTGRES_URL` is set (created before, dropped after).

use std::any::Any;
use std::future::Future;
use std::path::PathBuf;

use portal_store::SeaOrmStore;
use sea_orm::{ConnectionTrait, Database, DbBackend, QueryResult, Statement};

/// The environment variable naming a PostgreSQL server the suite may create databases on.
pub const POSTGRES_URL_VAR: &str = "PORTAL_TEST_POSTGRES_URL";

/// One test's database.
pub struct TestDb {
    /// The store under test, migrated.
    pub store: SeaOrmStore,
    /// The URL it was opened with (for migration tests).
    pub url: String,
    /// The SQLite file, when the backend is SQLite.
    pub sqlite_path: Option<PathBuf>,
}

impl TestDb {
    pub fn backend(&self) -> DbBackend {
        self.store.backend()
    }

    /// Runs a raw query.
    pub async fn query(&self, sql: &str) -> Vec<QueryResult> {
        self.store.connection().query_all_raw(Statement::from_string(self.backend(), sql)).await.unwrap()
    }

    /// `SELECT COUNT(*)` of a table (optionally with a `WHERE` clause).
    pub async fn count(&self, table: &str, filter: &str) -> i64 {
        let filter = if filter.is_empty() { String::new() } else { format!(" WHERE {filter}") };
        let rows = self.query(&format!("SELECT COUNT(*) AS n FROM {table}{filter}")).await;
        rows[0].try_get::<i64>("", "n").unwrap()
    }

    /// The names of every table in the database.
    pub async fn tables(&self) -> Vec<String> {
        let sql = match self.backend() {
            DbBackend::Postgres => {
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
            }
            _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        };
        let mut names: Vec<String> =
            self.query(sql).await.iter().map(|row| row.try_get::<String>("", "name").unwrap()).collect();
        names.sort();
        names
    }
}

/// Runs `test` against a fresh SQLite file in a temporary directory.
pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = portal_store::connect(&url).await.unwrap();
    test(TestDb { store, url, sqlite_path: Some(path) }).await;
    drop(dir);
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Runs `test` against a fresh PostgreSQL database, or does nothing when
/// `PORTAL_TEST_POSTGRES_URL` is unset. The database is dropped afterwards, even when the test
/// panics (the panic is then re-raised).
pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!("{POSTGRES_URL_VAR} is not set: PostgreSQL run skipped");
        return;
    };
    let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server_url.as_str()).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let url = with_database(&server_url, &name);
    let outcome: Result<(), Box<dyn Any + Send>> = match portal_store::connect(&url).await {
        Ok(store) => tokio::spawn(test(TestDb { store, url, sqlite_path: None })).await.map_err(|e| e.into_panic()),
        Err(err) => Err(Box::new(format!("cannot open the test database: {err:?}"))),
    };
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.unwrap();
    let _ = admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn the_database_name_is_replaced_in_a_postgres_url() {
    assert_eq!(with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
    assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "t1"), "postgres://u:p@h/t1?sslmode=disable");
    assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
}
