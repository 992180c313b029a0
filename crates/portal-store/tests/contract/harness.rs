//! Fresh databases for each test: a temporary SQLite file always, and a uniquely named
//! PostgreSQL database when `PORTAL_TEST_POSTGRES_URL` is set (created before, dropped after).

use std::future::Future;
use std::path::PathBuf;

use portal_store::SeaOrmStore;
use portal_testkit::PgDatabase;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};

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

/// Runs `test` against a fresh PostgreSQL database, or does nothing when
/// `PORTAL_TEST_POSTGRES_URL` is unset. The database is dropped afterwards, also when the test
/// panics.
pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = PgDatabase::create().await else { return };
    let url = database.url().to_owned();
    let store = portal_store::connect(&url).await.expect("the test database opens");
    test(TestDb { store, url, sqlite_path: None }).await;
    drop(database);
}
