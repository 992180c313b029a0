//! The data set of a `--scale` run: practices, clients and portal accounts written straight into
//! the database with portal-store's bulk inserts (`SeaOrmStore::insert_clients`,
//! `insert_accounts`), not through the API: a million clients through the API would take hours,
//! and what is measured is the server on a large database, not how it got large.
//!
//! Clients are spread evenly over the practices (the bench's own practice is one of them) and
//! look like a clinic's: two-part names from a small list (so a name search finds a few per
//! cent), most with an email they consented to, some in Spanish, created over five years.
//! Their portal accounts follow a shape a practice with a portal has after a while:
//!
//! | share | portal |
//! |---:|---|
//! | 25 % | active account (registered from an invitation, which is used) |
//! | 2 % | disabled account |
//! | 6 % | invitation pending (sent in the last 40 hours) |
//! | 5 % | invitation expired (sent 3–30 days ago) |
//! | 62 % | nothing yet (every client without an email or consent is here) |
//!
//! What is not seeded: mail (the outbox), audit events and sessions of the bulk accounts.
//! Bulk accounts share one password hash and are never signed in to; the sign-in scenario uses
//! accounts registered through the API.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use portal_core::service::STAFF_KEY_PREFIX;
use portal_core::{
    AccountState, BearerSecret, Client, ClientId, Credentials, Directory, DisplayName, EmailAddress, IssuedToken,
    Language, OsRandom, Password, PasswordHash, PortalAccount, Practice, PracticeId, PracticeSlug, ScryptHasher,
    ScryptParams, StaffId, StaffMember, TimeZoneName, TokenHash, TokenId, TokenPurpose, TokenState, Username,
};
use portal_store::SeaOrmStore;
use secrecy::ExposeSecret as _;

use crate::Result;

/// How many `status` lines the run samples (spread over every practice).
const STATUS_SAMPLE: usize = 5_000;
/// How many `invite` lines the run samples (clients without an account who can be mailed).
const INVITE_SAMPLE: usize = 2_000;
/// Clients generated and stored at a time (one bulk transaction each).
const BATCH: usize = 10_000;

const FIRST_NAMES: [&str; 40] = [
    "Maria", "James", "Ana", "John", "Sofia", "Robert", "Lucia", "Michael", "Carmen", "David", "Elena", "William",
    "Isabel", "Richard", "Laura", "Joseph", "Rosa", "Thomas", "Marta", "Charles", "Sarah", "Daniel", "Patricia",
    "Jorge", "Jennifer", "Luis", "Linda", "Carlos", "Barbara", "Miguel", "Susan", "Javier", "Jessica", "Pedro",
    "Karen", "Diego", "Nancy", "Pablo", "Emily", "Andres",
];
const LAST_NAMES: [&str; 40] = [
    "Garcia",
    "Smith",
    "Rodriguez",
    "Johnson",
    "Martinez",
    "Williams",
    "Hernandez",
    "Brown",
    "Lopez",
    "Jones",
    "Gonzalez",
    "Miller",
    "Perez",
    "Davis",
    "Sanchez",
    "Wilson",
    "Ramirez",
    "Anderson",
    "Torres",
    "Taylor",
    "Flores",
    "Thomas",
    "Rivera",
    "Moore",
    "Gomez",
    "Jackson",
    "Diaz",
    "Martin",
    "Reyes",
    "Lee",
    "Cruz",
    "White",
    "Morales",
    "Harris",
    "Ortiz",
    "Clark",
    "Gutierrez",
    "Lewis",
    "Chavez",
    "Walker",
];

/// Prefixes a `list_search` line asks for: a first name's first three letters (each matches
/// 1 in 40 clients of a practice, in either case).
pub(crate) fn search_prefixes() -> impl Iterator<Item = String> {
    FIRST_NAMES.iter().map(|name| name[..3].to_lowercase())
}

/// A pseudo-random, reproducible 64-bit value for `n` (splitmix64).
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A client's name from its number: "First Last", the same for the same number in every run.
pub(crate) fn name_of(number: usize) -> (&'static str, &'static str) {
    let h = mix(number as u64);
    (FIRST_NAMES[(h % 40) as usize], LAST_NAMES[((h / 40) % 40) as usize])
}

/// How large a scale run is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) clients: usize,
    pub(crate) practices: usize,
}

/// A practice with a staff key, for the wrk lines.
pub(crate) struct Keyed {
    pub(crate) id: PracticeId,
    pub(crate) key: String,
}

/// What was stored, and the samples the scenarios use.
pub(crate) struct Seeded {
    pub(crate) practices: Vec<Keyed>,
    /// "key\tpractice\tclient" lines over every practice.
    pub(crate) status: Vec<String>,
    /// "key\tclient" lines of clients with an email, consent and no account.
    pub(crate) invite: Vec<String>,
    pub(crate) clients: u64,
    pub(crate) accounts: u64,
    pub(crate) seconds: f64,
}

/// What the portal looks like for one generated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Portal {
    Active,
    Disabled,
    Invited,
    InviteExpired,
    Nothing,
}

/// Everything generated for one client number, decided by its number alone (but for the random
/// ids).
struct Generated {
    client: Client,
    portal: Portal,
}

fn generate(number: usize, practice: PracticeId, now: Timestamp) -> Result<Generated> {
    let h = mix(number as u64 ^ 0x5EED);
    let (first, last) = name_of(number);
    let name = DisplayName::parse("name", &format!("{first} {last}")).map_err(|e| e.to_string())?;
    let has_email = h % 100 >= 5;
    let email = has_email
        .then(|| EmailAddress::parse(&format!("{}.{}.{number}@example.org", first.to_lowercase(), last.to_lowercase())))
        .transpose()
        .map_err(|e| e.to_string())?;
    let email_consent = (h / 100) % 100 >= 3;
    let language = if (h / 10_000) % 100 < 15 { Language::Es } else { Language::En };
    let age = SignedDuration::from_secs(((h >> 20) % (5 * 365 * 86_400)) as i64);
    let portal = match (h >> 40) % 100 {
        _ if !has_email || !email_consent => Portal::Nothing,
        0..25 => Portal::Active,
        25..27 => Portal::Disabled,
        27..33 => Portal::Invited,
        33..38 => Portal::InviteExpired,
        _ => Portal::Nothing,
    };
    // A random UUID, as the bundled server numbers the clients it creates.
    let id = ClientId::generate(&OsRandom).map_err(|e| e.to_string())?;
    let client = Client {
        id,
        practice_id: practice,
        name,
        email,
        language,
        email_consent,
        date_of_birth: None,
        created_at: now - age,
    };
    Ok(Generated { client, portal })
}

/// An invitation issued at `issued` (its link secret is random and thrown away: nobody uses it).
fn invitation(issued: Timestamp, state: TokenState) -> Result<IssuedToken> {
    let id = TokenId::generate(&OsRandom).map_err(|e| e.to_string())?;
    let secret = BearerSecret::generate("bench_", &OsRandom).map_err(|e| e.to_string())?;
    Ok(IssuedToken {
        id,
        purpose: TokenPurpose::Invite,
        hash: TokenHash::of(secret.expose().expose_secret().as_bytes()),
        issued_at: issued,
        expires_at: issued + SignedDuration::from_hours(48),
        state,
        date_of_birth_failures: 0,
        reminder: None,
    })
}

/// The account of a generated client, `None` when it has none.
fn account_of(
    number: usize,
    generated: &Generated,
    password: &PasswordHash,
    now: Timestamp,
) -> Result<Option<PortalAccount>> {
    let client = &generated.client;
    let h = mix(number as u64 ^ 0xACC0);
    let restore = |version, state, invite| {
        PortalAccount::restore(client.practice_id, client.id.clone(), version, state, Some(invite), None)
    };
    let registered = client.created_at + SignedDuration::from_hours(1 + (h % 2000) as i64);
    let registered = registered.min(now);
    let credentials = || -> Result<Credentials> {
        Ok(Credentials {
            username: Username::parse(&format!("client{number}")).map_err(|e| e.to_string())?,
            password_hash: password.clone(),
            registered_at: registered,
            password_changed_at: registered,
        })
    };
    let used = |at: Timestamp| TokenState::Used { at };
    Ok(match generated.portal {
        Portal::Nothing => None,
        Portal::Active => Some(restore(
            2,
            AccountState::Active(credentials()?),
            invitation(registered - SignedDuration::from_hours(2), used(registered))?,
        )),
        Portal::Disabled => Some(restore(
            3,
            AccountState::Disabled {
                credentials: credentials()?,
                reason: None,
                since: now - SignedDuration::from_hours(24),
            },
            invitation(registered - SignedDuration::from_hours(2), used(registered))?,
        )),
        Portal::Invited => Some(restore(
            1,
            AccountState::NoAccount,
            invitation(now - SignedDuration::from_mins((h % (40 * 60)) as i64), TokenState::Live)?,
        )),
        Portal::InviteExpired => Some(restore(
            1,
            AccountState::NoAccount,
            invitation(now - SignedDuration::from_hours(72 + (h % (27 * 24)) as i64), TokenState::Live)?,
        )),
    })
}

/// Creates `plan.practices - 1` more practices, each with a staff key, next to the bench's own
/// (`bench`, whose key the caller has), then `plan.clients` clients over all of them with their
/// accounts. Progress goes to stderr.
pub(crate) fn seed(database_url: &str, bench: Keyed, plan: Plan) -> Result<Seeded> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| format!("tokio runtime: {error}"))?;
    runtime.block_on(seed_async(database_url, bench, plan))
}

async fn seed_async(database_url: &str, bench: Keyed, plan: Plan) -> Result<Seeded> {
    let started = Instant::now();
    let store = portal_store::connect(database_url).await.map_err(|error| format!("bench database: {error}"))?;
    let now = Timestamp::now();
    let mut practices = vec![bench];
    for number in 1..plan.practices.max(1) {
        practices.push(create_practice(&store, number, now).await?);
    }
    // One real production-strength hash, shared: the bulk accounts are never signed in to.
    let password = ScryptHasher::new(ScryptParams::default())
        .and_then(|hasher| hasher.hash_blocking(&Password::new("bench accounts never sign in")))
        .map_err(|error| format!("scrypt: {error}"))?;

    let status_every = (plan.clients / STATUS_SAMPLE).max(1);
    // About half the clients can be invited (no account, an email, consent): every `invite_every`th
    // client is a candidate, so the sample covers every practice without reaching the cap.
    let invite_every = (plan.clients * 2 / (INVITE_SAMPLE * 3)).max(1);
    let (mut status, mut invite) = (Vec::new(), Vec::new());
    let (mut clients_stored, mut accounts_stored) = (0, 0);
    let mut next_report = Instant::now() + std::time::Duration::from_secs(15);
    // While one batch is stored (its clients and its accounts at once: different tables), the
    // next is generated: the generator, the client side of the inserts and the database each
    // keep a core busy part of the time.
    let mut storing: Option<tokio::task::JoinHandle<Result<(u64, u64)>>> = None;
    for first in (0..plan.clients).step_by(BATCH) {
        let mut clients = Vec::with_capacity(BATCH);
        let mut accounts = Vec::new();
        for number in first..(first + BATCH).min(plan.clients) {
            // Each practice's clients one after another: a batch then touches a few practices'
            // parts of the primary-key indexes, not all of them (several times faster on SQLite,
            // whose page cache is small, and the resulting tables are the same).
            let practice = &practices[number * practices.len() / plan.clients];
            let generated = generate(number, practice.id, now)?;
            let id = generated.client.id.as_str();
            if number % status_every == 0 {
                status.push(format!("{}\t{}\t{id}", practice.key, practice.id));
            }
            if generated.portal == Portal::Nothing
                && generated.client.email.is_some()
                && generated.client.email_consent
                && invite.len() < INVITE_SAMPLE
                && number % invite_every == invite_every / 2
            {
                invite.push(format!("{}\t{id}", practice.key));
            }
            accounts.extend(account_of(number, &generated, &password, now)?);
            clients.push(generated.client);
        }
        if let Some(previous) = storing.take() {
            let (clients, accounts) = previous.await.map_err(|error| format!("bulk insert: {error}"))??;
            clients_stored += clients;
            accounts_stored += accounts;
        }
        storing = Some(tokio::spawn(store_batch(store.clone(), clients, accounts)));
        if Instant::now() >= next_report {
            eprintln!(
                "bench: seeded {clients_stored} of {} clients ({:.0} s)",
                plan.clients,
                started.elapsed().as_secs_f64()
            );
            next_report = Instant::now() + std::time::Duration::from_secs(15);
        }
    }
    if let Some(last) = storing {
        let (clients, accounts) = last.await.map_err(|error| format!("bulk insert: {error}"))??;
        clients_stored += clients;
        accounts_stored += accounts;
    }
    // As an operator would after a bulk load (and the retention job does after each run): the
    // planner learns the tables' new sizes now, not whenever autovacuum gets to them.
    portal_core::Retention::refresh_statistics(&store).await.map_err(|error| format!("analyze: {error}"))?;
    store.close().await.map_err(|error| format!("bench database: {error}"))?;
    Ok(Seeded {
        practices,
        status,
        invite,
        clients: clients_stored,
        accounts: accounts_stored,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Stores one batch: its clients and its accounts side by side.
async fn store_batch(store: SeaOrmStore, clients: Vec<Client>, accounts: Vec<PortalAccount>) -> Result<(u64, u64)> {
    let (clients, accounts) = tokio::join!(store.insert_clients(&clients), store.insert_accounts(&accounts));
    Ok((
        clients.map_err(|error| format!("insert clients: {error}"))?,
        accounts.map_err(|error| format!("insert accounts: {error}"))?,
    ))
}

/// Practice `number` (`bench-practice-N`) with a staff key, stored the way the core creates one.
async fn create_practice(store: &SeaOrmStore, number: usize, now: Timestamp) -> Result<Keyed> {
    let random = |error: portal_core::RandomnessError| error.to_string();
    let practice = Practice {
        id: PracticeId::generate(&OsRandom).map_err(random)?,
        slug: PracticeSlug::parse(&format!("bench-practice-{number}")).map_err(|e| e.to_string())?,
        name: DisplayName::parse("name", &format!("Bench Practice {number}")).map_err(|e| e.to_string())?,
        time_zone: TimeZoneName::utc(),
        discreet_mail: true,
        settings: portal_core::PracticeSettings::default(),
        created_at: now,
    };
    let staff = StaffMember {
        id: StaffId::generate(&OsRandom).map_err(random)?,
        practice_id: practice.id,
        label: DisplayName::parse("label", "Front desk").map_err(|e| e.to_string())?,
        created_at: now,
    };
    let key = BearerSecret::generate(STAFF_KEY_PREFIX, &OsRandom).map_err(random)?;
    store.create_practice(&practice, &staff, &key.hash()).await.map_err(|error| format!("create practice: {error}"))?;
    Ok(Keyed { id: practice.id, key: key.expose().expose_secret().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_clients_are_reproducible_and_shaped_like_a_practice() {
        let practice = PracticeId::from_uuid(Default::default());
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let generated: Vec<Generated> = (0..10_000).map(|n| generate(n, practice, now).unwrap()).collect();
        assert_eq!(name_of(42), name_of(42));
        let share = |portal| generated.iter().filter(|g| g.portal == portal).count() as f64 / 10_000.0;
        assert!((0.21..0.27).contains(&share(Portal::Active)), "{}", share(Portal::Active));
        assert!((0.55..0.70).contains(&share(Portal::Nothing)), "{}", share(Portal::Nothing));
        // Nobody without an email or consent has been invited.
        assert!(
            generated
                .iter()
                .all(|g| g.portal == Portal::Nothing || (g.client.email.is_some() && g.client.email_consent))
        );
        // A search prefix finds a few per cent.
        let mar = generated.iter().filter(|g| g.client.name.as_str().to_lowercase().starts_with("mar")).count();
        assert!((100..600).contains(&mar), "{mar}");
        let hash = PasswordHash::from_phc("$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA".to_owned());
        let accounts: Vec<_> =
            generated.iter().enumerate().filter_map(|(n, g)| account_of(n, g, &hash, now).unwrap()).collect();
        assert!(accounts.iter().all(|a| a.invite().is_some()));
    }
}
