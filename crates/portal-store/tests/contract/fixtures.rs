//! Domain values for the tests, built from `portal-core` types directly.

use jiff::{SignedDuration, Timestamp};
use portal_core::{
    AccountCommit, AccountStore, Actor, AuditAction, AuditEvent, AuditId, Client, ClientId, Directory, DisplayName,
    EmailAddress, IssuedToken, Language, MailId, MailKind, OutgoingMail, PasswordHash, PortalAccount, Practice,
    PracticeId, PracticeSlug, RequestContext, StaffId, StaffMember, TimeZoneName, TokenHash, TokenId, TokenPurpose,
    TokenState, Username,
};
use uuid::Uuid;

use crate::harness::TestDb;

/// A fixed instant plus `secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

pub fn id() -> Uuid {
    Uuid::new_v4()
}

pub fn name(text: &str) -> DisplayName {
    DisplayName::parse("name", text).unwrap()
}

pub fn username(text: &str) -> Username {
    Username::parse(text).unwrap()
}

/// A PHC-looking hash; the store never verifies it.
pub fn password_hash(salt: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$scrypt$ln=4,r=8,p=1${salt}$aGFzaGhhc2hoYXNoaGFzaA"))
}

pub fn practice(slug: &str) -> Practice {
    Practice {
        id: PracticeId::from_uuid(id()),
        slug: PracticeSlug::parse(slug).unwrap(),
        name: name("Sunrise Therapy"),
        time_zone: TimeZoneName::parse("America/Chicago").unwrap(),
        discreet_mail: true,
        settings: portal_core::PracticeSettings::default(),
        created_at: at(0),
    }
}

pub fn staff(practice: &Practice, label: &str) -> StaffMember {
    StaffMember { id: StaffId::from_uuid(id()), practice_id: practice.id, label: name(label), created_at: at(0) }
}

/// A host client id (any text the core accepts: `42`, `MRN-0042`, a UUID).
pub fn host_id(text: &str) -> ClientId {
    ClientId::parse(text).unwrap()
}

/// A bundled client with a fresh UUID id, as the bundled server numbers them.
pub fn client(practice: &Practice, client_name: &str) -> Client {
    client_with_id(practice, host_id(&id().to_string()), client_name)
}

/// A client record with the given host id.
pub fn client_with_id(practice: &Practice, client_id: ClientId, client_name: &str) -> Client {
    Client {
        id: client_id,
        practice_id: practice.id,
        name: name(client_name),
        email: Some(EmailAddress::parse("client@example.org").unwrap()),
        language: Language::Es,
        email_consent: true,
        date_of_birth: None,
        created_at: at(0),
    }
}

pub fn event(practice: PracticeId, client: Option<&ClientId>, action: AuditAction, when: Timestamp) -> AuditEvent {
    AuditEvent {
        id: AuditId::from_uuid(id()),
        at: when,
        practice_id: practice,
        client_id: client.cloned(),
        actor: Actor::Client,
        action,
        failure: None,
        detail: None,
        context: RequestContext { request_id: Some("req-1".into()), source_ip: Some("192.0.2.7".parse().unwrap()) },
    }
}

/// A link token whose secret is `secret` (stored only as its hash).
pub fn token(purpose: TokenPurpose, secret: &str, issued: Timestamp) -> IssuedToken {
    IssuedToken {
        id: TokenId::from_uuid(id()),
        purpose,
        hash: TokenHash::of(secret.as_bytes()),
        issued_at: issued,
        expires_at: issued + SignedDuration::from_hours(48),
        state: TokenState::Live,
        date_of_birth_failures: 0,
        reminder: None,
    }
}

pub fn mail(client: &Client, kind: MailKind, when: Timestamp) -> OutgoingMail {
    OutgoingMail {
        id: MailId::from_uuid(id()),
        practice_id: client.practice_id,
        client_id: client.id.clone(),
        to: client.email.clone().unwrap(),
        kind,
        created_at: when,
    }
}

pub fn invitation(client: &Client, token: &IssuedToken) -> OutgoingMail {
    mail(client, MailKind::Invitation { token_id: token.id, expires_at: token.expires_at }, token.issued_at)
}

/// A commit of `account` with nothing else.
pub fn change(account: PortalAccount, when: Timestamp) -> AccountCommit {
    AccountCommit {
        at: when,
        account,
        mail: Vec::new(),
        audit: Vec::new(),
        revoke_sessions: false,
        clear_throttle: false,
    }
}

/// A practice with one staff key and one client, stored.
pub struct World {
    pub practice: Practice,
    pub staff: StaffMember,
    pub client: Client,
}

impl World {
    pub async fn new(db: &TestDb) -> Self {
        Self::with_slug(db, "sunrise").await
    }

    pub async fn with_slug(db: &TestDb, slug: &str) -> Self {
        let practice = practice(slug);
        let staff = staff(&practice, "Front desk");
        db.store.create_practice(&practice, &staff, &TokenHash::of(format!("pst_{slug}").as_bytes())).await.unwrap();
        let client = client(&practice, "Ada Lovelace");
        db.store
            .create_client(&client, &event(practice.id, Some(&client.id), AuditAction::ClientCreated, at(0)))
            .await
            .unwrap();
        Self { practice, staff, client }
    }

    /// Another client of the same practice, stored.
    pub async fn add_client(&self, db: &TestDb, client_name: &str) -> Client {
        let client = client(&self.practice, client_name);
        db.store
            .create_client(&client, &event(self.practice.id, Some(&client.id), AuditAction::ClientCreated, at(0)))
            .await
            .unwrap();
        client
    }

    /// Invites `client` (a fresh invite from `secret`), committed; returns the token.
    pub async fn invite(&self, db: &TestDb, client: &Client, secret: &str, when: Timestamp) -> IssuedToken {
        let mut account = db.store.account(self.practice.id, &client.id).await.unwrap();
        let invite = token(TokenPurpose::Invite, secret, when);
        account.issue_invite(invite.clone()).unwrap();
        let mut commit = change(account, when);
        commit.mail.push(invitation(client, &invite));
        commit.audit.push(event(self.practice.id, Some(&client.id), AuditAction::InviteSent, when));
        db.store.commit(commit).await.unwrap();
        invite
    }

    /// Invites and registers `client` as `name`; returns the stored account.
    pub async fn register(&self, db: &TestDb, client: &Client, name: &str, when: Timestamp) -> PortalAccount {
        let secret = format!("invite-{}", client.id);
        let invite = self.invite(db, client, &secret, when).await;
        let mut account = db.store.account(self.practice.id, &client.id).await.unwrap();
        account.register(&invite.hash, username(name), password_hash("c2FsdA"), when).unwrap();
        db.store.commit(change(account, when)).await.unwrap();
        db.store.account(self.practice.id, &client.id).await.unwrap()
    }
}

/// A session whose bearer secret is `secret` (stored only as its hash).
pub fn session(client: &Client, secret: &str, when: Timestamp) -> portal_core::Session {
    portal_core::Session {
        id: portal_core::SessionId::from_uuid(id()),
        token_hash: TokenHash::of(secret.as_bytes()),
        practice_id: client.practice_id,
        client_id: client.id.clone(),
        created_at: when,
        last_seen_at: when,
    }
}

/// Queues `mail` through a commit of `client`'s (otherwise unchanged) account.
pub async fn queue(db: &TestDb, client: &Client, mail: Vec<OutgoingMail>, when: Timestamp) {
    let account = db.store.account(client.practice_id, &client.id).await.unwrap();
    let mut commit = change(account, when);
    commit.mail = mail;
    db.store.commit(commit).await.unwrap();
}

/// A "your password was changed" mail (no token).
pub fn notice(client: &Client, when: Timestamp) -> OutgoingMail {
    mail(client, MailKind::PasswordChanged, when)
}
