//! Crash safety (a commit failing midway leaves nothing) and secrecy (no raw secret is ever
//! stored).

use jiff::SignedDuration;
use portal_core::{
    AccountStore, AuditAction, Directory, MailKind, MailOutbox, PortalAccount, PracticeId, SessionStore, StoreError,
    ThrottleStore, TokenHash, TokenPurpose,
};
use sea_orm::DbBackend;

use crate::fixtures::{
    self, World, at, change, event, id, invitation, mail, notice, password_hash, session, token, username,
};
use crate::harness::TestDb;

/// Row counts of every table, and a few columns that a partial write would change.
async fn snapshot(db: &TestDb) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for table in db.tables().await {
        let n = db.count(&table, "").await;
        counts.push((table, n));
    }
    for (what, filter) in [("voided tokens", "voided_at IS NOT NULL"), ("used tokens", "used_at IS NOT NULL")] {
        counts.push((what.into(), db.count("tokens", filter).await));
    }
    counts.push(("throttle failures".into(), db.count("sign_in_throttle", "failures = 1").await));
    counts
}

async fn state(db: &TestDb, world: &World) -> (Vec<(String, i64)>, PortalAccount) {
    (snapshot(db).await, db.store.account(world.practice.id, &world.client.id).await.unwrap())
}

pub async fn a_commit_failing_midway_leaves_nothing_written(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let mut account = world.register(db, &world.client, "ada", at(1)).await;
    let signed_in = session(&world.client, "session-secret", at(2));
    db.store
        .create_session(&signed_in, &event(practice, Some(&client), AuditAction::SignInSucceeded, at(2)))
        .await
        .unwrap();
    db.store.record_failure(practice, "ada", at(3)).await.unwrap();
    let live_reset = token(TokenPurpose::Reset, "first-reset", at(4));
    account.issue_reset(live_reset.clone()).unwrap();
    db.store.commit(change(account, at(4))).await.unwrap();
    let before = state(db, &world).await;

    // A change touching everything: a new reset (voiding the live one), mail, audit, session
    // revocation and throttle reset; made to fail at its very last insert or in its middle.
    let attempt = |fail: &str| {
        let mut account = before.1.clone();
        let reset = token(TokenPurpose::Reset, &format!("second-reset-{fail}"), at(50));
        account.issue_reset(reset.clone()).unwrap();
        let mut commit = change(account, at(50));
        commit.mail.push(mail(
            &world.client,
            MailKind::PasswordReset { token_id: reset.id, expires_at: reset.expires_at },
            at(50),
        ));
        commit.audit.push(event(practice, Some(&client), AuditAction::ResetSent, at(50)));
        commit.revoke_sessions = true;
        commit.clear_throttle = true;
        commit
    };

    // 1. The second audit event reuses the first one's id: the last statement fails.
    let mut commit = attempt("audit");
    let reused = portal_core::AuditEvent { action: AuditAction::SessionsRevoked, ..commit.audit[0].clone() };
    commit.audit.push(reused);
    let err = db.store.commit(commit).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("audit event")), "{err:?}");
    assert_eq!(state(db, &world).await, before);

    // 2. A mail row for a practice that does not exist: a foreign key fails midway.
    let mut commit = attempt("mail");
    commit
        .mail
        .push(portal_core::OutgoingMail { practice_id: PracticeId::from_uuid(id()), ..notice(&world.client, at(50)) });
    let err = db.store.commit(commit).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(state(db, &world).await, before);

    assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), Some(signed_in));
    assert_eq!(db.store.throttle(practice, "ada").await.unwrap().failures, 1);
    assert_eq!(before.1.reset(), Some(&live_reset));
    assert_eq!(db.count("tokens", "voided_at IS NULL AND used_at IS NULL AND purpose = 'reset'").await, 1);
}

/// Strings that must never reach the database: the raw secrets behind every hash it stores.
const STAFF_KEY: &str = "pst_MARKER-staff-key-9f2c1d";
const INVITE_LINKS: [&str; 2] = ["MARKER-invite-link-one-51ab7e", "MARKER-invite-link-two-8c03f4"];
const RESET_LINK: &str = "MARKER-reset-link-e6d290";
const SESSION_SECRET: &str = "pss_MARKER-session-secret-47b1aa";
const PASSWORDS: [&str; 2] = ["MARKER correct horse battery staple", "MARKER a brand new passphrase"];

fn markers() -> Vec<&'static str> {
    let mut all = vec![STAFF_KEY, RESET_LINK, SESSION_SECRET];
    all.extend(INVITE_LINKS);
    all.extend(PASSWORDS);
    all
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every row of every table as text (PostgreSQL: the row cast to text, bytea as hex; SQLite:
/// `quote()` of each column, blobs as hex).
pub async fn dump(db: &TestDb) -> String {
    let mut out = String::new();
    for table in db.tables().await {
        let sql = match db.backend() {
            DbBackend::Postgres => format!("SELECT CAST(t AS text) AS line FROM \"{table}\" t"),
            _ => {
                let columns: Vec<String> = db
                    .query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .await
                    .iter()
                    .map(|row| format!("quote(\"{}\")", row.try_get::<String>("", "name").unwrap()))
                    .collect();
                format!("SELECT {} AS line FROM \"{table}\"", columns.join(" || '|' || "))
            }
        };
        for row in db.query(&sql).await {
            out.push_str(&row.try_get::<String>("", "line").unwrap());
            out.push('\n');
        }
    }
    out
}

fn assert_no_marker(haystack: &[u8], place: &str) {
    let lower = String::from_utf8_lossy(haystack).to_lowercase();
    for marker in markers() {
        let found_raw = haystack.windows(marker.len()).any(|w| w == marker.as_bytes());
        assert!(!found_raw, "{marker:?} found in {place}");
        assert!(!lower.contains(&hex(marker.as_bytes())), "{marker:?} found hex-encoded in {place}");
    }
}

pub async fn no_raw_secret_is_stored_anywhere_after_a_full_lifecycle(db: &TestDb) {
    // Set-up with the markers' hashes only, as the core would.
    let practice = fixtures::practice("sunrise");
    let staff = fixtures::staff(&practice, "Front desk");
    db.store.create_practice(&practice, &staff, &TokenHash::of(STAFF_KEY.as_bytes())).await.unwrap();
    let client = fixtures::client(&practice, "Ada Lovelace");
    db.store
        .create_client(&client, &event(practice.id, Some(&client.id), AuditAction::ClientCreated, at(0)))
        .await
        .unwrap();
    let (p, c) = (practice.id, client.id.clone());

    // Invite, resend, register.
    let mut last_invite = None;
    for (i, link) in INVITE_LINKS.into_iter().enumerate() {
        let mut account = db.store.account(p, &c).await.unwrap();
        let invite = token(TokenPurpose::Invite, link, at(i64::try_from(i).unwrap()));
        account.issue_invite(invite.clone()).unwrap();
        let mut commit = change(account, invite.issued_at);
        commit.mail.push(invitation(&client, &invite));
        db.store.commit(commit).await.unwrap();
        last_invite = Some(invite);
    }
    let invite = last_invite.unwrap();
    let mut account = db.store.account_by_token(TokenPurpose::Invite, &invite.hash).await.unwrap().unwrap();
    // The hasher's output never contains the password; the store only ever sees this.
    account
        .register(&TokenHash::of(INVITE_LINKS[1].as_bytes()), username("ada"), password_hash("c2FsdA"), at(10))
        .unwrap();
    db.store.commit(change(account, at(10))).await.unwrap();

    // Sign in, fail, reset, complete.
    let signed_in = session(&client, SESSION_SECRET, at(11));
    db.store.create_session(&signed_in, &event(p, Some(&c), AuditAction::SignInSucceeded, at(11))).await.unwrap();
    db.store.touch_session(signed_in.id, at(12)).await.unwrap();
    db.store.record_failure(p, "ada", at(13)).await.unwrap();
    let mut account = db.store.account(p, &c).await.unwrap();
    let reset = token(TokenPurpose::Reset, RESET_LINK, at(20));
    account.issue_reset(reset.clone()).unwrap();
    let mut commit = change(account, at(20));
    commit.mail.push(mail(
        &client,
        MailKind::PasswordReset { token_id: reset.id, expires_at: reset.expires_at },
        at(20),
    ));
    db.store.commit(commit).await.unwrap();
    let mut account =
        db.store.account_by_token(TokenPurpose::Reset, &TokenHash::of(RESET_LINK.as_bytes())).await.unwrap().unwrap();
    account.complete_reset(&reset.hash, password_hash("bmV3c2FsdA"), at(30)).unwrap();
    let mut commit = change(account, at(30));
    commit.revoke_sessions = true;
    commit.clear_throttle = true;
    commit.mail.push(notice(&client, at(30)));
    db.store.commit(commit).await.unwrap();

    // Deliver everything, then disable and enable.
    for claim in db.store.claim_due(at(40), SignedDuration::from_secs(60), 100).await.unwrap() {
        db.store.mark_sent(claim.mail.id, at(41)).await.unwrap();
    }
    let mut account = db.store.account(p, &c).await.unwrap();
    account.disable(None, at(50)).unwrap();
    db.store.commit(change(account, at(50))).await.unwrap();
    let mut account = db.store.account(p, &c).await.unwrap();
    account.enable().unwrap();
    db.store.commit(change(account, at(60))).await.unwrap();
    assert!(db.store.account(p, &c).await.unwrap().is_active());

    // Every cell of every table.
    let cells = dump(db).await;
    assert!(cells.contains("Ada Lovelace"), "the dump reads real data");
    assert!(cells.to_lowercase().contains(&hex(TokenHash::of(STAFF_KEY.as_bytes()).as_bytes())), "hashes are visible");
    assert_no_marker(cells.as_bytes(), "a table");
    for password in PASSWORDS {
        assert!(!cells.contains(password));
    }

    // And the raw SQLite files, free pages and write-ahead log included.
    if let Some(path) = &db.sqlite_path {
        let mut scanned = 0;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if let Ok(bytes) = std::fs::read(&file) {
                assert_no_marker(&bytes, &file.display().to_string());
                scanned += bytes.len();
            }
        }
        assert!(scanned > 0);
        let wal = std::fs::read(format!("{}-wal", path.display())).unwrap_or_default();
        let main = std::fs::read(path).unwrap_or_default();
        let readable = |bytes: &[u8]| bytes.windows(12).any(|w| w == b"Ada Lovelace");
        assert!(readable(&wal) || readable(&main), "the file scan reads real data");
    }
}
