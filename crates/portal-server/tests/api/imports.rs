//! `portal-server clients import FILE.csv --practice SLUG [--dry-run]` over the real binary, on
//! SQLite and PostgreSQL: a good file, a file with errors that writes nothing, a BOM and CRLF
//! file, repeats skipped with a warning, a dry run, and ten thousand rows.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::Value;

use crate::helpers::{Backend, TestDatabase};

fn run(data_dir: &Path, database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_DATABASE_URL", database_url)
        .env("PORTAL_LOG", "warn")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn import(data_dir: &Path, database_url: &str, file: &Path, extra: &[&str]) -> Output {
    let file = file.to_str().expect("a UTF-8 path");
    let mut args = vec!["clients", "import", file, "--practice", "sunrise"];
    args.extend_from_slice(extra);
    run(data_dir, database_url, &args)
}

fn summary(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {output:?}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let statement = Statement::from_string(db.get_database_backend(), sql.to_owned());
    let row = db.query_one_raw(statement).await.expect("a count").expect("a row");
    row.try_get_by_index::<i64>(0).expect("a number")
}

async fn clients(db: &DatabaseConnection) -> i64 {
    count(db, "SELECT COUNT(*) FROM clients").await
}

async fn created_events(db: &DatabaseConnection) -> i64 {
    count(db, "SELECT COUNT(*) FROM audit_events WHERE action = 'client_created'").await
}

async fn imports_over_the_binary(backend: Backend) {
    let Some(TestDatabase { dir: data, url, pg: _pg }) = TestDatabase::create(backend).await else { return };
    let created = run(data.path(), &url, &["practice", "create", "--name", "Sunrise Therapy", "--slug", "sunrise"]);
    assert!(created.status.success(), "{created:?}");
    let db = Database::connect(&url).await.expect("the database");
    let files = tempfile::tempdir().expect("a temporary directory");

    // Two bad lines: nothing is written, and each problem is named by its line, never its value.
    let bad = files.path().join("bad.csv");
    std::fs::write(
        &bad,
        "name,email,language,date_of_birth\n\
         Ada Lovelace,ada@example.org,en,1915-12-10\n\
         ,not-an-email,en,\n\
         Grace Hopper,grace@example.org,es,1906-12-09\n\
         Hedy Lamarr,,fr,1914-13-09\n",
    )
    .expect("a file written");
    let refused = import(data.path(), &url, &bad, &[]);
    assert!(!refused.status.success(), "{refused:?}");
    let words = stderr(&refused);
    for expected in
        ["line 3: name", "line 3: email", "line 5: language", "line 5: date_of_birth", "nothing was written"]
    {
        assert!(words.contains(expected), "{expected}: {words}");
    }
    assert!(!words.contains("1914-13-09") && !words.contains("not-an-email"), "{words}");
    assert_eq!(clients(&db).await, 0);

    // A dry run checks and counts, writing nothing.
    let good = files.path().join("good.csv");
    std::fs::write(
        &good,
        "name,email,language,date_of_birth\n\
         Ada Lovelace,ada@example.org,en,1915-12-10\n\
         \"Hopper, Grace\",grace@example.org,es,\n\
         Hedy Lamarr,,,\n\
         Ada Again,ADA@example.org,,\n",
    )
    .expect("a file written");
    let dry = summary(&import(data.path(), &url, &good, &["--dry-run"]));
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["created"].as_u64(), dry["would_create"].as_u64()),
        (Some(true), Some(0), Some(3))
    );
    assert_eq!(clients(&db).await, 0);

    // The good file: three clients, each with its audit event; the repeated email is skipped.
    let output = import(data.path(), &url, &good, &[]);
    let done = summary(&output);
    assert_eq!(
        (done["rows"].as_u64(), done["created"].as_u64(), done["skipped"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    assert!(stderr(&output).contains("line 5: skipped: line 2 has the same email"), "{}", stderr(&output));
    assert_eq!((clients(&db).await, created_events(&db).await), (3, 3));
    // The import leaves the planner statistics fresh: without it a new PostgreSQL database
    // plans the first lists and lookups for empty tables (autovacuum waits for 50 changed rows).
    let analysed = match backend {
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_stat_user_tables WHERE relname = 'clients' AND last_analyze IS NOT NULL"
        }
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'clients'",
    };
    assert!(count(&db, analysed).await >= 1, "no planner statistics for clients after the import");

    // A BOM and CRLF line endings (a spreadsheet's export); Grace is in the practice already.
    let windows = files.path().join("windows.csv");
    std::fs::write(
        &windows,
        b"\xEF\xBB\xBFName,Email,Language,Date_of_birth\r\nGrace Hopper,grace@example.org,es,1906-12-09\r\nKatherine Johnson,katherine@example.org,en,1918-08-26\r\nMary Jackson,,en,\r\n",
    )
    .expect("a file written");
    let output = import(data.path(), &url, &windows, &[]);
    let done = summary(&output);
    assert_eq!((done["created"].as_u64(), done["skipped"].as_u64()), (Some(2), Some(1)));
    assert!(stderr(&output).contains("line 2: skipped: a client of the practice already has this email"));
    assert_eq!((clients(&db).await, created_events(&db).await), (5, 5));

    // Ten thousand rows, written in batches.
    let many = files.path().join("many.csv");
    let mut text = String::from("name,email,language,date_of_birth\n");
    for n in 0..10_000 {
        let _ = writeln!(text, "Client {n},client-{n}@example.org,{},1990-01-01", if n % 2 == 0 { "en" } else { "es" });
    }
    std::fs::write(&many, text).expect("a file written");
    let done = summary(&import(data.path(), &url, &many, &[]));
    assert_eq!(done["created"].as_u64(), Some(10_000));
    assert_eq!((clients(&db).await, created_events(&db).await), (10_005, 10_005));

    let unknown =
        run(data.path(), &url, &["clients", "import", good.to_str().expect("a UTF-8 path"), "--practice", "nowhere"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("no practice"), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_imported_from_csv_after_every_row_is_checked_on_sqlite() {
    imports_over_the_binary(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_imported_from_csv_after_every_row_is_checked_on_postgres() {
    imports_over_the_binary(Backend::Postgres).await;
}
