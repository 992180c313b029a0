//! Fuzz target `lifecycle`: random sequences of use cases against [`PortalService`] over the
//! in-memory ports, with a [`ManualClock`] the sequence moves (to the exact second a link or a
//! session expires, among others).
//!
//! The harness keeps its own small model of what must be true (each client's account state,
//! every link ever mailed and whether it is dead, the sessions, the sign-in throttle counters)
//! and predicts the outcome of every command from it. Invariants checked at every step:
//! - the outcome of each use case is exactly the one the lifecycle table prescribes (for
//!   example a link at `now == issued_at + ttl` is expired, one second earlier it works);
//! - a consumed or voided link (used, superseded by a newer one, a reset voided by disable)
//!   never works again, nor does a link for the other purpose, a tampered one or garbage;
//! - a disabled account never signs in, never completes a reset and has no live session;
//! - `LinkSent::expires_at` is exactly `sent_at + ttl`;
//! - storage holds at most one live invitation and one live reset per client, usernames are
//!   unique in the practice, the staff view shows the model's state, and no pending mail goes
//!   to a disabled client or carries a dead link.
//!
//! Scrypt runs at `ScryptParams::INSECURE_FAST_FOR_TESTS` here (a harness setting, like the
//! service tests; production defaults are untouched). The policy's link lifetimes come from the
//! input, within the bounds `Policy::new` allows.
//!
//! This module (both files) is shared with `crates/portal-core/tests/fuzz_regressions.rs` (see
//! `link_token.rs`).

mod commands;

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use arbitrary::{Arbitrary, Unstructured};
use jiff::{SignedDuration, Timestamp};
use portal_core::account::{InviteRedeemRefused, ResetRedeemRefused};
use portal_core::service::{
    NewClient, PortalService, RegisterError, ResetError, SendInviteError, SendResetError, SessionError, SignInError,
    StaffContext, ToggleError, VerifyInviteError,
};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    ClientId, DeliveryState, LinkKey, Password, Policy, PolicySettings, PortalStatus, RequestContext, ScryptHasher,
    ScryptParams, ThrottleDecision, ThrottleState, TimeZoneName, TokenId, TokenPurpose,
};
use secrecy::ExposeSecret;

type Service = PortalService<InMemoryStore, ScryptHasher, ManualClock, SeededRandom, InMemoryStore>;

/// Commands per input; longer sequences add little but slow every run down.
const MAX_STEPS: usize = 48;
const SLUG: &str = "sunrise";
const PASSWORDS: [&str; 4] =
    ["correct horse battery staple", "a completely different passphrase", "purple monkey dishwasher seven", "password"];

/// A whole run: the policy's link lifetimes, the randomness seed and the commands.
#[derive(Debug, Arbitrary)]
struct Scenario {
    invite_ttl_minutes: u16,
    reset_ttl_minutes: u16,
    seed: u64,
    commands: Vec<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
enum Who {
    Ada,
    Bob,
}

/// A link as presented by someone.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum LinkRef {
    /// The n-th link ever mailed (modulo their number).
    Mailed(u8),
    /// The n-th mailed link's token id, minted for the other purpose.
    OtherPurpose(u8),
    /// The n-th mailed link with one character changed.
    Tampered(u8, u8),
    /// Not a token at all.
    Garbage,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Name {
    Ada,
    Bob,
    /// `ADA`: the same username as `Ada`.
    AdaShouting,
    /// Too short to be a username.
    Invalid,
}

impl Name {
    fn typed(self) -> &'static str {
        match self {
            Self::Ada => "ada",
            Self::Bob => "bob",
            Self::AdaShouting => "ADA",
            Self::Invalid => "x",
        }
    }
}

/// An index into [`PASSWORDS`]; the last one is too short and too common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
struct Secret(u8);

impl Secret {
    fn index(self) -> usize {
        usize::from(self.0) % PASSWORDS.len()
    }
    fn password(self) -> Password {
        Password::new(PASSWORDS[self.index()])
    }
    fn is_weak(self) -> bool {
        self.index() == PASSWORDS.len() - 1
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Edge {
    SecondBefore,
    At,
    SecondAfter,
}

impl Edge {
    fn offset(self) -> SignedDuration {
        match self {
            Self::SecondBefore => SignedDuration::from_secs(-1),
            Self::At => SignedDuration::ZERO,
            Self::SecondAfter => SignedDuration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Command {
    SendInvite(Who),
    SendReset(Who),
    VerifyInvite(LinkRef),
    Register(LinkRef, Name, Secret),
    VerifyReset(LinkRef),
    CompleteReset(LinkRef, Secret),
    Disable(Who),
    Enable(Who),
    SignIn(Name, Secret),
    UseSession(u8),
    SignOut(u8),
    WaitSeconds(u16),
    WaitHours(u8),
    /// Move the clock to a mailed link's expiry (only forwards).
    ToLinkExpiry(u8, Edge),
    /// Move the clock to a session's expiry (only forwards).
    ToSessionExpiry(u8, Edge),
}

/// What the model knows of one client's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NoAccount,
    Active,
    Disabled,
}

#[derive(Debug, Clone)]
struct Account {
    client: ClientId,
    state: State,
    username: Option<&'static str>,
    password: Option<usize>,
}

/// A mailed link.
#[derive(Debug, Clone)]
struct Link {
    who: Who,
    purpose: TokenPurpose,
    token_id: TokenId,
    text: String,
    expires_at: Timestamp,
    /// Used, or voided by a newer link or by disable: never works again.
    dead: bool,
}

#[derive(Debug, Clone)]
struct ModelSession {
    who: Who,
    token: String,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    revoked: bool,
}

struct Harness {
    service: Service,
    store: InMemoryStore,
    clock: ManualClock,
    staff: StaffContext,
    policy: Policy,
    accounts: HashMap<Who, Account>,
    links: Vec<Link>,
    sessions: Vec<ModelSession>,
    /// Consecutive failures and the last failure per throttle key (the username as typed,
    /// normalised).
    throttle: HashMap<String, ThrottleState>,
}

/// Runs one input; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let Ok(scenario) = Scenario::arbitrary(&mut Unstructured::new(data)) else { return };
    let mut harness = Harness::new(&scenario);
    for command in scenario.commands.iter().take(MAX_STEPS) {
        harness.step(*command);
        harness.check_store();
    }
}

/// Polls a use case once. The in-memory ports and the inline hasher never wait, so a use case
/// that is not ready at once would be a bug in them (and would hang a real executor's test).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a use case over the in-memory ports returned Pending"),
    }
}

fn hasher() -> ScryptHasher {
    static HASHER: OnceLock<ScryptHasher> = OnceLock::new();
    HASHER.get_or_init(|| ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).expect("a test hasher")).clone()
}

fn key() -> LinkKey {
    LinkKey::from_bytes([0x42; 32])
}

fn start() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("a valid timestamp")
}

/// A link lifetime from 1 minute to 7 days.
fn ttl(minutes: u16) -> SignedDuration {
    SignedDuration::from_mins(1 + i64::from(minutes) % (7 * 24 * 60))
}

impl Harness {
    fn new(scenario: &Scenario) -> Self {
        let policy = Policy::new(PolicySettings {
            invite_ttl: ttl(scenario.invite_ttl_minutes),
            reset_ttl: ttl(scenario.reset_ttl_minutes),
            ..PolicySettings::default()
        })
        .expect("link lifetimes within the policy's bounds");
        let store = InMemoryStore::new();
        let clock = ManualClock::new(start());
        let service = PortalService::new(
            store.clone(),
            store.clone(),
            hasher(),
            clock.clone(),
            SeededRandom::new(scenario.seed),
            policy.clone(),
            key(),
        );
        let created =
            block_on(service.create_practice("Sunrise Therapy", Some(SLUG), TimeZoneName::utc())).expect("a practice");
        let staff = StaffContext { staff: created.staff, request: RequestContext::default() };
        let mut accounts = HashMap::new();
        for (who, name, email) in [(Who::Ada, "Ada Lovelace", "ada@example.org"), (Who::Bob, "Bob", "bob@example.org")]
        {
            let new = NewClient { name: name.into(), email: Some(email.into()), ..NewClient::default() };
            let client = block_on(service.create_client(&staff, new)).expect("a client").client.id;
            accounts.insert(who, Account { client, state: State::NoAccount, username: None, password: None });
        }
        Self {
            service,
            store,
            clock,
            staff,
            policy,
            accounts,
            links: Vec::new(),
            sessions: Vec::new(),
            throttle: HashMap::new(),
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn account(&self, who: Who) -> &Account {
        &self.accounts[&who]
    }

    fn account_mut(&mut self, who: Who) -> &mut Account {
        self.accounts.get_mut(&who).expect("both clients exist")
    }

    /// The text presented for a link reference, and the mailed link it is genuinely, if any.
    fn resolve(&self, link: LinkRef) -> (String, Option<usize>) {
        let pick = |n: u8| (!self.links.is_empty()).then(|| usize::from(n) % self.links.len());
        match link {
            LinkRef::Mailed(n) => match pick(n) {
                Some(i) => (self.links[i].text.clone(), Some(i)),
                None => ("no link was mailed yet".to_owned(), None),
            },
            LinkRef::OtherPurpose(n) => match pick(n) {
                Some(i) => {
                    let mailed = &self.links[i];
                    let other = match mailed.purpose {
                        TokenPurpose::Invite => TokenPurpose::Reset,
                        TokenPurpose::Reset => TokenPurpose::Invite,
                    };
                    (key().link_token(other, mailed.token_id).expose().expose_secret().to_owned(), None)
                }
                None => (String::new(), None),
            },
            LinkRef::Tampered(n, at) => match pick(n) {
                Some(i) => {
                    let mut bytes = self.links[i].text.clone().into_bytes();
                    let at = usize::from(at) % bytes.len();
                    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
                    (String::from_utf8(bytes).expect("base64url is ASCII"), None)
                }
                None => ("A".repeat(64), None),
            },
            LinkRef::Garbage => ("not-a-token".to_owned(), None),
        }
    }

    /// The mailed link `index` refers to, when it is of `purpose`.
    fn genuine(&self, index: Option<usize>, purpose: TokenPurpose) -> Option<&Link> {
        index.map(|i| &self.links[i]).filter(|link| link.purpose == purpose)
    }

    /// The model's verdict on presenting a link of `purpose`: `Ok`, or the refusal's name.
    fn link_verdict(&self, index: Option<usize>, purpose: TokenPurpose) -> Result<(), &'static str> {
        let Some(link) = self.genuine(index, purpose) else {
            return Err(match purpose {
                TokenPurpose::Invite => "InviteNotFound",
                TokenPurpose::Reset => "ResetNotFound",
            });
        };
        let expired = self.now() >= link.expires_at;
        match purpose {
            TokenPurpose::Invite if link.dead => Err("InviteNotFound"),
            TokenPurpose::Invite if expired => Err("InviteExpired"),
            // A disabled client is told why, whatever the state of the link.
            TokenPurpose::Reset if self.account(link.who).state == State::Disabled => Err("AccountDisabled"),
            TokenPurpose::Reset if link.dead => Err("ResetNotFound"),
            TokenPurpose::Reset if expired => Err("ResetExpired"),
            _ => Ok(()),
        }
    }

    /// Marks every link of `who` and `purpose` dead.
    fn kill_links(&mut self, who: Who, purpose: TokenPurpose) {
        for link in self.links.iter_mut().filter(|l| l.who == who && l.purpose == purpose) {
            link.dead = true;
        }
    }

    fn revoke_sessions(&mut self, who: Who) {
        for session in self.sessions.iter_mut().filter(|s| s.who == who) {
            session.revoked = true;
        }
    }

    fn session_expiry(&self, session: &ModelSession) -> Timestamp {
        (session.last_seen_at + self.policy.session_idle()).min(session.created_at + self.policy.session_absolute())
    }

    fn step(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::SendInvite(who) => self.send_link(who, TokenPurpose::Invite),
            Command::SendReset(who) => self.send_link(who, TokenPurpose::Reset),
            Command::VerifyInvite(link) => {
                let (text, index) = self.resolve(link);
                let outcome = block_on(self.service.verify_invite(&text));
                let expected = self.link_verdict(index, TokenPurpose::Invite);
                let shown = match &outcome {
                    Ok(info) => {
                        let link = self.genuine(index, TokenPurpose::Invite).expect("a genuine link verified");
                        assert_eq!(info.expires_at, link.expires_at);
                        Ok(())
                    }
                    Err(VerifyInviteError::Refused(refused)) => Err(invite_name(refused)),
                    Err(other) => panic!("verify_invite failed: {other:?}"),
                };
                assert_eq!(shown, expected, "{command:?}");
            }
            Command::Register(link, name, secret) => self.register(link, name, secret),
            Command::VerifyReset(link) => {
                let (text, index) = self.resolve(link);
                let outcome = block_on(self.service.verify_reset(&text));
                let expected = self.link_verdict(index, TokenPurpose::Reset);
                let shown = match &outcome {
                    Ok(_) => Ok(()),
                    Err(ResetError::Refused(refused)) => Err(redeem_name(refused)),
                    Err(other) => panic!("verify_reset failed: {other:?}"),
                };
                assert_eq!(shown, expected, "{command:?}");
            }
            Command::CompleteReset(link, secret) => self.complete_reset(link, secret),
            Command::Disable(who) => self.toggle(who, false),
            Command::Enable(who) => self.toggle(who, true),
            Command::SignIn(name, secret) => self.sign_in(name, secret),
            Command::UseSession(n) => {
                if self.sessions.is_empty() {
                    return;
                }
                let i = usize::from(n) % self.sessions.len();
                let session = self.sessions[i].clone();
                let valid = !session.revoked
                    && now < self.session_expiry(&session)
                    && self.account(session.who).state == State::Active;
                match block_on(self.service.authenticate_session(&session.token)) {
                    Ok(signed_in) => {
                        assert!(valid, "a dead session authenticated: {session:?} at {now}");
                        assert_eq!(Some(signed_in.username.as_str()), self.account(session.who).username);
                        self.sessions[i].last_seen_at = now;
                    }
                    Err(SessionError::Unauthenticated) => assert!(!valid, "a live session was refused: {session:?}"),
                    Err(other) => panic!("authenticate_session failed: {other:?}"),
                }
            }
            Command::SignOut(n) => {
                if self.sessions.is_empty() {
                    return;
                }
                let i = usize::from(n) % self.sessions.len();
                let token = self.sessions[i].token.clone();
                block_on(self.service.sign_out(&token, &RequestContext::default())).expect("sign-out never fails");
                self.sessions[i].revoked = true;
            }
            Command::WaitSeconds(seconds) => {
                self.clock.advance(SignedDuration::from_secs(i64::from(seconds)));
            }
            Command::WaitHours(hours) => {
                self.clock.advance(SignedDuration::from_hours(i64::from(hours)));
            }
            Command::ToLinkExpiry(n, edge) => {
                if !self.links.is_empty() {
                    let target = self.links[usize::from(n) % self.links.len()].expires_at + edge.offset();
                    self.clock.set(target.max(now));
                }
            }
            Command::ToSessionExpiry(n, edge) => {
                if !self.sessions.is_empty() {
                    let session = &self.sessions[usize::from(n) % self.sessions.len()];
                    let target = self.session_expiry(session) + edge.offset();
                    self.clock.set(target.max(now));
                }
            }
        }
    }

    /// Invariants of storage, checked after every command.
    fn check_store(&self) {
        let now = self.now();
        let mut usernames = Vec::new();
        for (who, account) in &self.accounts {
            let live = self.store.live_tokens(&account.client);
            for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
                let count = live.iter().filter(|t| t.purpose == purpose).count();
                assert!(count <= 1, "{who:?} has {count} live {purpose:?} tokens");
            }
            let view = block_on(self.service.client(&self.staff, &account.client)).expect("the client exists");
            let expected = match account.state {
                State::Active => "active",
                State::Disabled => "disabled",
                State::NoAccount => {
                    match self.links.iter().rev().find(|l| l.who == *who && l.purpose == TokenPurpose::Invite) {
                        None => "no_account",
                        Some(invite) if now < invite.expires_at => "invited",
                        Some(_) => "invite_expired",
                    }
                }
            };
            assert_eq!(view.portal.kind().name(), expected, "{who:?} at {now}");
            usernames.extend(account.username);
        }
        let count = usernames.len();
        usernames.sort_unstable();
        usernames.dedup();
        assert_eq!(usernames.len(), count, "a username is held by two accounts");

        for (mail, delivery) in self.store.outbox() {
            if !matches!(delivery, DeliveryState::Pending { .. }) {
                continue;
            }
            let (who, account) =
                self.accounts.iter().find(|(_, a)| a.client == mail.client_id).expect("mail to a known client");
            assert_ne!(account.state, State::Disabled, "pending mail to disabled {who:?}: {mail:?}");
            if let Some(token_id) = mail.kind.token_id() {
                let link = self.links.iter().find(|l| l.token_id == token_id).expect("mail for a mailed link");
                assert!(!link.dead, "pending mail carries a dead link: {mail:?}");
            }
        }
        for session in self.store.sessions() {
            let (_, account) =
                self.accounts.iter().find(|(_, a)| a.client == session.client_id).expect("a session of a known client");
            assert_ne!(account.state, State::Disabled, "a disabled account has a stored session");
        }
    }
}

fn invite_name(refused: &InviteRedeemRefused) -> &'static str {
    match refused {
        InviteRedeemRefused::InviteNotFound => "InviteNotFound",
        InviteRedeemRefused::InviteExpired => "InviteExpired",
        InviteRedeemRefused::InviteClosed => "InviteClosed",
    }
}

fn redeem_name(refused: &ResetRedeemRefused) -> &'static str {
    match refused {
        ResetRedeemRefused::ResetNotFound => "ResetNotFound",
        ResetRedeemRefused::ResetExpired => "ResetExpired",
        ResetRedeemRefused::ResetClosed => "ResetClosed",
        ResetRedeemRefused::AccountDisabled => "AccountDisabled",
    }
}
