//! No password, raw link token, session token, staff key or link key in the database files or
//! the logs after a full lifecycle.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::helpers::{AppOptions, captured_logs, spawn_app_with};
use crate::lifecycle::the_whole_lifecycle;

/// Where `needle` occurs in `haystack`, if anywhere.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_database_files_or_the_logs() {
    let app = spawn_app_with(AppOptions::default()).await.expect("SQLite");
    let used = the_whole_lifecycle(&app).await;
    let factor_secrets = crate::second_factors::second_factor_secrets(&app).await;
    let link_key = app.link_key;
    let staff_key = app.staff_key.clone();
    let files_before_stop = app.sqlite_files();
    let dir = app.stop().await;
    let sqlite_dir = dir.path();

    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for password in &used.passwords {
        secrets.push(("a password".into(), password.as_bytes().to_vec()));
    }
    for token in &used.link_tokens {
        secrets.push(("a link token".into(), token.as_bytes().to_vec()));
    }
    for token in &used.session_tokens {
        secrets.push(("a session token".into(), token.as_bytes().to_vec()));
        // The random part alone, without the `pcs_` prefix.
        let random = token.split_once('_').map_or(token.as_str(), |(_, rest)| rest);
        secrets.push(("a session token's secret".into(), random.as_bytes().to_vec()));
    }
    secrets.push(("the staff key".into(), staff_key.as_bytes().to_vec()));
    let random = staff_key.split_once('_').map_or(staff_key.as_str(), |(_, rest)| rest);
    secrets.push(("the staff key's secret".into(), random.as_bytes().to_vec()));
    secrets.push(("the link key".into(), link_key.to_vec()));
    secrets.push(("the link key (base64url)".into(), URL_SAFE_NO_PAD.encode(link_key).into_bytes()));
    secrets.push(("the link key (base64)".into(), STANDARD.encode(link_key).into_bytes()));
    assert!(used.link_tokens.len() >= 2 && used.session_tokens.len() >= 3, "{used:?}");
    secrets.extend(factor_secrets);

    // The database, its WAL and shared memory, while running and after the stop.
    let mut files = files_before_stop;
    for name in ["portal.db", "portal.db-wal", "portal.db-shm"] {
        if let Ok(bytes) = std::fs::read(sqlite_dir.join(name)) {
            files.push((sqlite_dir.join(name), bytes));
        }
    }
    // A positive control: what the database does hold (the username) is found by this scan.
    assert!(files.iter().any(|(_, bytes)| find(bytes, b"ada.l").is_some()), "the database files were read");
    for (path, bytes) in &files {
        for (what, secret) in &secrets {
            assert!(find(bytes, secret).is_none(), "{what} is in {}", path.display());
        }
    }

    let logs = captured_logs();
    assert!(logs.contains("mail delivered"), "the logs were captured at debug level");
    for (what, secret) in &secrets {
        assert!(find(logs.as_bytes(), secret).is_none(), "{what} is in the logs");
    }
}
