//! Throwaway PostgreSQL databases: one uniquely named database per test on the server
//! `PORTAL_TEST_POSTGRES_URL` names, dropped when the value is.

use sea_orm::ConnectionTrait as _;

use crate::postgres_url::with_database;

/// The variable naming a PostgreSQL server the tests may create databases on, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "PORTAL_TEST_POSTGRES_URL";

/// A fresh, empty PostgreSQL database, dropped (`WITH (FORCE)`, so open connections do not keep
/// it) when this value is dropped, also while a failed test unwinds.
#[derive(Debug)]
pub struct PgDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    /// Creates a database named `portal_test_<uuid>`; `None` (after saying so on stderr) when
    /// `PORTAL_TEST_POSTGRES_URL` is not set, so a PostgreSQL test returns early and passes.
    ///
    /// # Panics
    /// When the variable is set but the server cannot be reached or refuses `CREATE DATABASE`.
    pub async fn create() -> Option<Self> {
        let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("{POSTGRES_URL_VAR} is not set: PostgreSQL run skipped");
            return None;
        };
        let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(server_url.as_str())
            .await
            .unwrap_or_else(|error| panic!("cannot reach the PostgreSQL server {POSTGRES_URL_VAR} names: {error}"));
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("CREATE DATABASE");
        let _ = admin.close().await;
        let url = with_database(&server_url, &name);
        Some(Self { server_url, name, url })
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL that opens it.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop may run inside the test's runtime, perhaps while unwinding: a thread of our own
        // with its own runtime does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(server_url.as_str()).await.expect("the PostgreSQL server");
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                admin.execute_unprepared(&sql).await.expect("DROP DATABASE");
                let _ = admin.close().await;
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
