//! Tests of the in-memory ports, with a small world (one practice, one client) to build on.

mod accounts;
mod clock_and_randomness;
mod directory;
mod outbox;
mod retention;
mod sessions_and_throttle;
mod transport;

use jiff::{SignedDuration, Timestamp};

use crate::account::{AccountState, InviteRedeemRefused, PortalAccount, PortalStatus};
use crate::delivery::{DeliveryCause, DeliveryProblem};
use crate::hashing::PasswordHash;
use crate::ports::{
    AccountCommit, AccountStore, AuditLog, Clock, Directory, MailOutbox, MailTransport, PortalStore, Randomness,
    RenderedEmail, SessionStore, StoreError, ThrottleStore, TransportError,
};
use crate::records::{
    Actor, AuditAction, AuditEvent, ClaimedMail, Client, DeliveryState, MailKind, OutgoingMail, Practice,
    RequestContext, Session, StaffMember, ThrottleState,
};
use crate::token::{IssuedToken, TokenHash, TokenPurpose, TokenState};
use crate::types::{
    AuditId, ClientId, DisplayName, EmailAddress, Language, MailId, PracticeId, PracticeSlug, SessionId, StaffId,
    TimeZoneName, TokenId, Username,
};

use super::*;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const T0: Timestamp = Timestamp::constant(1_800_000_000, 0);

fn at(secs: i64) -> Timestamp {
    T0 + SignedDuration::from_secs(secs)
}

fn change(account: PortalAccount, at: Timestamp) -> AccountCommit {
    AccountCommit { at, account, mail: vec![], audit: vec![], revoke_sessions: false, clear_throttle: false }
}

/// A store with one practice and one client, plus builders for the values tests commit.
struct World {
    store: InMemoryStore,
    random: SeededRandom,
    practice: Practice,
    client: Client,
}

impl World {
    async fn new() -> TestResult<Self> {
        let store = InMemoryStore::new();
        let random = SeededRandom::new(42);
        let practice = Practice {
            id: PracticeId::generate(&random)?,
            slug: PracticeSlug::parse("sunrise")?,
            name: DisplayName::parse("name", "Sunrise Therapy")?,
            time_zone: TimeZoneName::utc(),
            discreet_mail: false,
            settings: crate::PracticeSettings::default(),
            created_at: T0,
        };
        let client = Client {
            id: ClientId::generate(&random)?,
            practice_id: practice.id,
            name: DisplayName::parse("name", "Ada Lovelace")?,
            email: Some(EmailAddress::parse("ada@example.org")?),
            language: Language::En,
            email_consent: true,
            date_of_birth: None,
            created_at: T0,
        };
        let world = Self { store, random, practice, client };
        world
            .store
            .create_practice(&world.practice, &world.staff(world.practice.id)?, &TokenHash::of(b"key-1"))
            .await?;
        world.store.create_client(&world.client, &world.event(&world.client, AuditAction::ClientCreated, T0)?).await?;
        Ok(world)
    }

    fn staff(&self, practice: PracticeId) -> TestResult<StaffMember> {
        let label = DisplayName::parse("label", "Front desk")?;
        Ok(StaffMember { id: StaffId::generate(&self.random)?, practice_id: practice, label, created_at: T0 })
    }

    async fn other_practice(&self, slug: &str) -> TestResult<Practice> {
        let practice = Practice {
            id: PracticeId::generate(&self.random)?,
            slug: PracticeSlug::parse(slug)?,
            name: DisplayName::parse("name", "Other Practice")?,
            ..self.practice.clone()
        };
        self.store.create_practice(&practice, &self.staff(practice.id)?, &TokenHash::of(slug.as_bytes())).await?;
        Ok(practice)
    }

    async fn add_client(&self, practice: PracticeId, name: &str) -> TestResult<Client> {
        let client = Client {
            id: ClientId::generate(&self.random)?,
            practice_id: practice,
            name: DisplayName::parse("name", name)?,
            ..self.client.clone()
        };
        self.store.create_client(&client, &self.event(&client, AuditAction::ClientCreated, T0)?).await?;
        Ok(client)
    }

    fn event(&self, client: &Client, action: AuditAction, at: Timestamp) -> TestResult<AuditEvent> {
        Ok(AuditEvent {
            id: AuditId::generate(&self.random)?,
            at,
            practice_id: client.practice_id,
            client_id: Some(client.id.clone()),
            actor: Actor::System,
            action,
            failure: None,
            detail: None,
            context: RequestContext::default(),
        })
    }

    fn token(&self, purpose: TokenPurpose, at: Timestamp) -> TestResult<IssuedToken> {
        let id = TokenId::generate(&self.random)?;
        Ok(IssuedToken {
            id,
            purpose,
            hash: TokenHash::of(id.as_uuid().as_bytes()),
            issued_at: at,
            expires_at: at + SignedDuration::from_hours(48),
            state: TokenState::Live,
            date_of_birth_failures: 0,
            reminder: None,
        })
    }

    fn mail(&self, client: &Client, token: &IssuedToken, at: Timestamp) -> TestResult<OutgoingMail> {
        let (token_id, expires_at) = (token.id, token.expires_at);
        Ok(OutgoingMail {
            id: MailId::generate(&self.random)?,
            practice_id: client.practice_id,
            client_id: client.id.clone(),
            to: EmailAddress::parse("ada@example.org")?,
            kind: match token.purpose {
                TokenPurpose::Invite => MailKind::Invitation { token_id, expires_at },
                TokenPurpose::Reset => MailKind::PasswordReset { token_id, expires_at },
            },
            created_at: at,
        })
    }

    /// Sends (or resends) an invitation with its mail and audit event.
    async fn invite(&self, client: &Client, at: Timestamp) -> TestResult<IssuedToken> {
        let mut account = self.store.account(client.practice_id, &client.id).await?;
        let action = if account.invite().is_some() { AuditAction::InviteResent } else { AuditAction::InviteSent };
        let token = self.token(TokenPurpose::Invite, at)?;
        account.issue_invite(token.clone())?;
        let commit = AccountCommit {
            mail: vec![self.mail(client, &token, at)?],
            audit: vec![self.event(client, action, at)?],
            ..change(account, at)
        };
        self.store.commit(commit).await?;
        Ok(token)
    }

    /// The registration commit for `client`, built on its stored account.
    async fn registration(
        &self,
        client: &Client,
        invite: &IssuedToken,
        username: &str,
        at: Timestamp,
    ) -> TestResult<AccountCommit> {
        let mut account = self.store.account(client.practice_id, &client.id).await?;
        let hash = PasswordHash::from_phc("$scrypt$ln=4,r=8,p=1$x$y".into());
        account.register(&invite.hash, Username::parse(username)?, hash, at)?;
        Ok(AccountCommit { audit: vec![self.event(client, AuditAction::Registered, at)?], ..change(account, at) })
    }

    /// Invites and registers `client`.
    async fn register(&self, client: &Client, username: &str) -> TestResult {
        let invite = self.invite(client, at(0)).await?;
        self.store.commit(self.registration(client, &invite, username, at(60)).await?).await?;
        Ok(())
    }

    /// Sends a password reset with its mail.
    async fn reset(&self, client: &Client, at: Timestamp) -> TestResult<IssuedToken> {
        let mut account = self.store.account(client.practice_id, &client.id).await?;
        let token = self.token(TokenPurpose::Reset, at)?;
        account.issue_reset(token.clone())?;
        let commit = AccountCommit {
            mail: vec![self.mail(client, &token, at)?],
            audit: vec![self.event(client, AuditAction::ResetSent, at)?],
            ..change(account, at)
        };
        self.store.commit(commit).await?;
        Ok(token)
    }

    fn session(&self, client: &Client, secret: &[u8], at: Timestamp) -> TestResult<Session> {
        Ok(Session {
            id: SessionId::generate(&self.random)?,
            token_hash: TokenHash::of(secret),
            practice_id: client.practice_id,
            client_id: client.id.clone(),
            created_at: at,
            last_seen_at: at,
        })
    }
}
