//! `portal-server prune` over the real binary: it deletes what the retention settings no
//! longer keep, keeps live locks and recent audit events, and prints the counts as JSON.

use std::path::Path;
use std::process::Command;

use jiff::{SignedDuration, Timestamp};
use portal_core::{
    Actor, AuditAction, AuditEvent, AuditId, AuditLog, Directory, PracticeSlug, RequestContext, ThrottleStore,
};
use portal_server::cli::sqlite_url;
use serde_json::{Value, json};

fn run(data_dir: &Path, database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_DATABASE_URL", database_url)
        .env("PORTAL_LOG", "warn")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn json_of(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {output:?}"))
}

fn audit(practice: portal_core::PracticeId, at: Timestamp) -> AuditEvent {
    AuditEvent {
        id: AuditId::from_uuid(uuid::Uuid::new_v4()),
        at,
        practice_id: practice,
        client_id: None,
        actor: Actor::System,
        action: AuditAction::SignInFailed,
        failure: None,
        detail: None,
        context: RequestContext::default(),
    }
}

#[tokio::test]
async fn prune_deletes_what_is_no_longer_kept_and_prints_the_counts() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let url = sqlite_url(&data.path().join("portal.db")).expect("a URL");
    let created = json_of(&run(data.path(), &url, &["practice", "create", "--name", "Sunrise", "--slug", "sunrise"]));
    assert_eq!(created["slug"], "sunrise");

    let store = portal_store::connect(&url).await.expect("the database opens");
    let slug = PracticeSlug::parse("sunrise").expect("a slug");
    let practice = store.practice_by_slug(&slug).await.expect("a read").expect("the practice").id;
    let now = Timestamp::now();
    let long_ago = now - SignedDuration::from_hours(24 * 3);
    for i in 0..25 {
        store.record_failure(practice, &format!("nobody-{i}"), long_ago).await.expect("a failure");
    }
    for _ in 0..50 {
        store.record_failure(practice, "ada", now).await.expect("a failure");
    }
    let seven_years = now - SignedDuration::from_hours(24 * 365 * 7);
    store.append(&[audit(practice, seven_years), audit(practice, now)]).await.expect("audit events");
    store.close().await.expect("closed");

    let counts = json_of(&run(data.path(), &url, &["prune"]));
    let expected = json!({
        "sessions": 0, "staff_sessions": 0, "throttle": 25, "outbox": 0, "tokens": 0, "audit": 1, "sign_in_steps": 0
    });
    assert_eq!(counts, expected);

    let store = portal_store::connect(&url).await.expect("the database opens");
    assert_eq!(store.throttle(practice, "ada").await.expect("a read").failures, 50, "the live lock stays");
    assert_eq!(store.throttle(practice, "nobody-0").await.expect("a read").failures, 0);
    store.close().await.expect("closed");

    // A second run finds nothing; a shorter audit retention is taken from the flag.
    let counts = json_of(&run(data.path(), &url, &["prune", "--audit-retention", "365d"]));
    assert_eq!(counts["audit"], 0);
    assert_eq!(counts["throttle"], 0);
    // Too short an audit retention is refused, naming the flag.
    let refused = run(data.path(), &url, &["prune", "--audit-retention", "30d"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--audit-retention"), "{refused:?}");
}

#[test]
fn help_documents_prune_and_the_retention_settings() {
    let output = Command::new(env!("CARGO_BIN_EXE_portal-server")).arg("--help").output().expect("the binary runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "prune",
        "--prune-interval",
        "PORTAL_PRUNE_INTERVAL",
        "--token-retention",
        "--outbox-retention",
        "--audit-retention",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}");
    }
}
