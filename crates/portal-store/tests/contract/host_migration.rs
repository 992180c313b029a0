//! `m20261201_000002_host_client_ids`: rows written in the old layout (UUID client ids, foreign
//! keys to `clients`, the name and language in the outbox) read back through the new code.

use jiff::SignedDuration;
use portal_core::{
    AccountStore, AuditAction, AuditLog, ClientDirectory, ClientId, DeliveryState, Directory, EmailAddress, Language,
    MailKind, MailOutbox, PracticeId, SessionStore, TokenHash, TokenId, TokenPurpose, TokenState,
};
use portal_store::Migrator;
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

use crate::fixtures::{at, change, event, host_id, id, token};
use crate::harness::TestDb;

const HOST_IDS: &str = "m20261201_000002_host_client_ids";

/// How many migrations to roll back to get to the schema just before `name` (robust to
/// migrations added later).
pub fn steps_back_to_before(name: &str) -> u32 {
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let position = names.iter().position(|n| n == name).expect("a known migration");
    u32::try_from(names.len() - position).unwrap()
}

/// A UUID literal in the old layout (SQLite: the 16-byte blob sea-orm writes).
fn uuid_literal(backend: DbBackend, id: Uuid) -> String {
    match backend {
        DbBackend::Postgres => format!("'{id}'::uuid"),
        _ => format!("X'{}'", id.simple()),
    }
}

fn blob_literal(backend: DbBackend, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match backend {
        DbBackend::Postgres => format!("'\\x{hex}'::bytea"),
        _ => format!("X'{hex}'"),
    }
}

fn micros(at: jiff::Timestamp) -> i64 {
    at.as_microsecond()
}

async fn exec(db: &TestDb, sql: &str) {
    db.store.connection().execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn the_host_client_id_migration_keeps_every_row(db: &TestDb) {
    portal_store::rollback(&db.url, Some(steps_back_to_before(HOST_IDS))).await.unwrap();
    let backend = db.backend();
    let u = |id: Uuid| uuid_literal(backend, id);
    let (practice, client, invite, session, mail, kept, pruned) = (id(), id(), id(), id(), id(), id(), id());
    let invite_hash = TokenHash::of(b"old-invite-link");
    let session_hash = TokenHash::of(b"old-session-secret");
    let (issued, expires) = (micros(at(0)), micros(at(0) + SignedDuration::from_hours(48)));
    let statements = [
        format!(
            "INSERT INTO practices (id, slug, name, time_zone, discreet_mail, created_at) \
             VALUES ({}, 'sunrise', 'Sunrise Therapy', 'UTC', false, {issued})",
            u(practice)
        ),
        format!(
            "INSERT INTO clients (id, practice_id, name, email, language, email_consent, created_at) \
             VALUES ({}, {}, 'Ada Lovelace', 'ada@example.org', 'es', true, {issued})",
            u(client),
            u(practice)
        ),
        format!(
            "INSERT INTO tokens (id, practice_id, client_id, purpose, hash, issued_at, expires_at) \
             VALUES ({}, {}, {}, 'invite', {}, {issued}, {expires})",
            u(invite),
            u(practice),
            u(client),
            blob_literal(backend, invite_hash.as_bytes())
        ),
        format!(
            "INSERT INTO portal_accounts (client_id, practice_id, state, invite_token_id, version) \
             VALUES ({}, {}, 'no_account', {}, 1)",
            u(client),
            u(practice),
            u(invite)
        ),
        format!(
            "INSERT INTO sessions (id, token_hash, practice_id, client_id, created_at, last_seen_at) \
             VALUES ({}, {}, {}, {}, {issued}, {issued})",
            u(session),
            blob_literal(backend, session_hash.as_bytes()),
            u(practice),
            u(client)
        ),
        format!(
            "INSERT INTO mail_outbox (id, practice_id, client_id, kind, token_id, link_expires_at, recipient, \
             recipient_name, language, status, attempts, next_attempt_at, created_at) \
             VALUES ({}, {}, {}, 'invitation', {}, {expires}, 'ada@example.org', 'Ada Lovelace', 'es', 'pending', \
             0, {issued}, {issued})",
            u(mail),
            u(practice),
            u(client),
            u(invite)
        ),
        // Two events, the later one pruned: the sequence must not hand its number out again.
        format!(
            "INSERT INTO audit_events (id, at, practice_id, client_id, actor_kind, action) \
             VALUES ({}, {issued}, {}, {}, 'client', 'invite_sent')",
            u(kept),
            u(practice),
            u(client)
        ),
        format!(
            "INSERT INTO audit_events (id, at, practice_id, client_id, actor_kind, action) \
             VALUES ({}, {issued}, {}, NULL, 'system', 'invite_sent')",
            u(pruned),
            u(practice)
        ),
        format!("DELETE FROM audit_events WHERE id = {}", u(pruned)),
    ];
    for sql in &statements {
        exec(db, sql).await;
    }

    portal_store::migrate(&db.url).await.unwrap();

    // Every row reads back through the new code, the client under its UUID as text.
    let (practice, client_id) = (PracticeId::from_uuid(practice), host_id(&client.hyphenated().to_string()));
    assert!(db.store.practice(practice).await.unwrap().is_some());
    let record = db.store.client(practice, &client_id).await.unwrap().expect("the bundled client");
    assert_eq!(record.id, client_id);
    assert_eq!(record.language, Language::Es);
    assert_eq!(record.email, Some(EmailAddress::parse("ada@example.org").unwrap()));

    let account = db.store.account(practice, &client_id).await.unwrap();
    assert_eq!(account.version(), 1);
    let held = account.invite().expect("the invitation");
    assert_eq!((held.id, held.state), (TokenId::from_uuid(invite), TokenState::Live));
    assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &invite_hash).await.unwrap(), Some(account.clone()));
    assert_eq!(
        db.store.accounts(practice, std::slice::from_ref(&client_id)).await.unwrap(),
        std::slice::from_ref(&account)
    );

    let signed_in = db.store.session_by_token(&session_hash).await.unwrap().expect("the session");
    assert_eq!(signed_in.client_id, client_id);

    let trail = db.store.trail(practice, &client_id).await.unwrap();
    assert_eq!(trail.iter().map(|e| e.action).collect::<Vec<_>>(), [AuditAction::InviteSent]);

    let claimed = db.store.claim_due(at(10), SignedDuration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].mail.client_id, client_id);
    assert_eq!(claimed[0].mail.to.as_str(), "ada@example.org");
    assert!(matches!(claimed[0].mail.kind, MailKind::Invitation { token_id, .. } if token_id == held.id));
    assert!(matches!(db.store.delivery_for_token(held.id).await.unwrap(), Some(DeliveryState::Pending { .. })));

    // The raw columns hold the hyphenated lower-case UUID.
    let rows = db.query("SELECT client_id FROM tokens").await;
    assert_eq!(rows[0].try_get::<String>("", "client_id").unwrap(), client.hyphenated().to_string());
    if backend == DbBackend::Sqlite {
        assert!(db.query("PRAGMA foreign_key_check").await.is_empty());
        let check = db.query("PRAGMA integrity_check").await;
        assert_eq!(check[0].try_get_by_index::<String>(0).unwrap(), "ok");
    }

    // The audit sequence continues past the pruned event.
    db.store.append(&[event(practice, Some(&client_id), AuditAction::SignedOut, at(20))]).await.unwrap();
    let rows = db.query("SELECT MAX(seq) AS n FROM audit_events").await;
    assert_eq!(rows[0].try_get::<i64>("", "n").unwrap(), 3);

    // Writes work on migrated rows: a resend voids the old invitation.
    let mut resent = account;
    resent.issue_invite(token(TokenPurpose::Invite, "new-link", at(30))).unwrap();
    db.store.commit(change(resent, at(30))).await.unwrap();
    assert_eq!(db.count("tokens", "voided_at IS NOT NULL").await, 1);

    refuses_to_roll_back_host_ids(db, practice).await;
}

/// Once a host id that is not a bundled client is stored, rolling back is refused and
/// changes nothing.
async fn refuses_to_roll_back_host_ids(db: &TestDb, practice: PracticeId) {
    let host = host_id("MRN-0042");
    let mut account = db.store.account(practice, &host).await.unwrap();
    account.issue_invite(token(TokenPurpose::Invite, "host-link", at(40))).unwrap();
    db.store.commit(change(account, at(40))).await.unwrap();

    // Rolling back to before this migration (later ones, if any, go first) stops at it.
    let err = portal_store::rollback(&db.url, Some(steps_back_to_before(HOST_IDS))).await.unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default());
    assert!(text.contains("cannot roll back"), "{text}");
    assert_eq!(db.store.account(practice, &host).await.unwrap().version(), 1, "nothing was rolled back");
    assert_eq!(db.count("portal_migrations", &format!("version = '{HOST_IDS}'")).await, 1);
    let unrelated: ClientId = host_id("42");
    assert_eq!(db.store.account(practice, &unrelated).await.unwrap().version(), 0);
}
