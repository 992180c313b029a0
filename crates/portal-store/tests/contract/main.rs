//! The store-contract suite: every port method's contract, concurrency, crash safety, secrecy
//! and migrations. Each test runs against a fresh SQLite file, and against a fresh PostgreSQL
//! database when `PORTAL_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`).

// Test code: an unwrap is an assertion (clippy's `allow-unwrap-in-tests` covers only `#[test]`
// functions, not the helpers and contract functions they call).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // Used by the contract modules as they are added.
mod fixtures;
#[allow(dead_code)] // Used by the contract modules as they are added.
mod harness;

mod migrations;

/// Declares each contract test twice: `sqlite::name` and `postgres::name`.
macro_rules! contract_tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run_sqlite(|db| async move { crate::$module::$name(&db).await }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run_postgres(|db| async move { crate::$module::$name(&db).await }).await;
                }
            )*
        }
    };
}

contract_tests! {
    migrations::migrations_round_trip_up_down_up,
}
