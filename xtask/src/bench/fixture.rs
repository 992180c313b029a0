//! The data a run measures against, made through the public API exactly as a clinic would make
//! it: clients, invitations, registrations from the emailed links, sign-ins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::Result;
use portal_testkit::{EmlDir, MailSource as _, PortalServer};

use crate::served::invitation_in;

/// Clients whose portal status the `status` scenario looks up (some active, some invited, most
/// without an account, as in a real practice).
const LOOKUP_CLIENTS: usize = 500;
/// Of those, clients with an active account (the sign-in scenarios cycle through them).
const ACCOUNTS: usize = 16;
/// Of those, clients with a pending invitation.
const PENDING_INVITES: usize = 100;
/// Clients without an account that the `invite` scenario sends (and resends) invitations to.
const INVITE_CLIENTS: usize = 300;

/// What the wrk script reads, as files in the run directory (see `xtask/bench/load.lua`).
pub(crate) struct Fixture {
    /// The bench practice's slug.
    pub(crate) practice: String,
    pub(crate) status: PathBuf,
    pub(crate) invite: PathBuf,
    pub(crate) list_first: PathBuf,
    pub(crate) list_search: PathBuf,
    pub(crate) list_next: PathBuf,
    pub(crate) accounts: PathBuf,
    pub(crate) sessions: PathBuf,
    pub(crate) registrations: PathBuf,
}

impl Fixture {
    /// The environment the wrk script reads.
    pub(crate) fn environment(&self) -> Vec<(&'static str, String)> {
        let path = |file: &PathBuf| file.display().to_string();
        vec![
            ("BENCH_PRACTICE", self.practice.clone()),
            ("BENCH_STATUS", path(&self.status)),
            ("BENCH_INVITE", path(&self.invite)),
            ("BENCH_LIST_FIRST", path(&self.list_first)),
            ("BENCH_LIST_SEARCH", path(&self.list_search)),
            ("BENCH_LIST_NEXT", path(&self.list_next)),
            ("BENCH_ACCOUNTS", path(&self.accounts)),
            ("BENCH_SESSIONS", path(&self.sessions)),
            ("BENCH_REGISTRATIONS", path(&self.registrations)),
        ]
    }
}

/// The bench practice as `portal-server practice create` made it.
pub(crate) struct BenchPractice {
    pub(crate) id: String,
    pub(crate) slug: String,
    pub(crate) staff_key: String,
}

/// `lines` as a file `name` in `run_dir`, one per line.
pub(crate) fn write_lines(run_dir: &Path, name: &str, lines: &[String]) -> Result<PathBuf> {
    let path = run_dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path)
}

/// A password that passes the production policy and is unique per account.
fn password_of(number: usize) -> String {
    // Never containing the username (the policy refuses that), always 15+ characters.
    format!("violet kettles hum at dawn {}", number * 7919 + 13)
}

/// How much [`prepare`] makes through the API.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seeding {
    /// Clients to look up; the first [`ACCOUNTS`] get an account, the next `pending` an
    /// invitation.
    lookups: usize,
    pending: usize,
    /// Clients without an account, to invite.
    invitees: usize,
    /// Unused invitation links for the `register` scenario.
    registrations: usize,
    /// Whether the list scenarios page through the bench practice.
    lists: bool,
}

impl Seeding {
    /// A practice of 500 clients to look up (16 with an account, 100 invited), 300 to invite,
    /// and `registrations` unused links.
    pub(crate) fn practice(registrations: usize) -> Self {
        Self { lookups: LOOKUP_CLIENTS, pending: PENDING_INVITES, invitees: INVITE_CLIENTS, registrations, lists: true }
    }

    /// Only the sign-in accounts and their sessions (a scale run brings everything else).
    pub(crate) fn accounts_only() -> Self {
        Self { lookups: ACCOUNTS, pending: 0, invitees: 0, registrations: 0, lists: false }
    }
}

/// Seeds the server as `seeding` says: `registrations` invitation links are left unused for the
/// `register` scenario; the list scenarios page through the bench practice.
pub(crate) fn prepare(
    server: &PortalServer,
    run_dir: &Path,
    bench: &BenchPractice,
    seeding: Seeding,
) -> Result<Fixture> {
    let (staff_key, practice) = (bench.staff_key.as_str(), bench.slug.as_str());
    let api = Api::new(server.base_url(), staff_key)?;
    let started = Instant::now();
    let registrations = seeding.registrations;
    let lookup_ids = api.create_clients("lookup", seeding.lookups)?;
    let invite_ids = api.create_clients("invite", seeding.invitees)?;
    let registration_ids = api.create_clients("register", registrations)?;

    let mut invited: Vec<&str> = lookup_ids[..ACCOUNTS + seeding.pending].iter().map(String::as_str).collect();
    invited.extend(registration_ids.iter().map(String::as_str));
    for id in &invited {
        api.invite(id)?;
    }
    let tokens = invitation_tokens(&server.mail(), invited.len())?;

    let mut accounts = Vec::new();
    let mut sessions = Vec::new();
    for number in 0..ACCOUNTS {
        let token = tokens.get(&email_of("lookup", number)).ok_or("an invitation email is missing")?;
        let username = format!("user-{number}");
        let password = password_of(number);
        api.register(token, &username, &password)?;
        sessions.push(api.sign_in(practice, &username, &password)?);
        accounts.push(format!("{username}\t{password}"));
    }
    let mut registration_lines = Vec::new();
    for number in 0..registrations {
        let token = tokens.get(&email_of("register", number)).ok_or("an invitation email is missing")?;
        let username = format!("reg-{number}");
        registration_lines.push(format!("{token}\t{username}\t{}", password_of(ACCOUNTS + number)));
    }
    eprintln!(
        "bench: seeded {} clients, {ACCOUNTS} accounts, {registrations} unused invitation links in {:.1} s",
        seeding.lookups + seeding.invitees + registrations,
        started.elapsed().as_secs_f64()
    );

    let status: Vec<String> = lookup_ids.iter().map(|id| format!("{staff_key}\t{}\t{id}", bench.id)).collect();
    let invite: Vec<String> = invite_ids.iter().map(|id| format!("{staff_key}\t{id}")).collect();
    let lists = if seeding.lists {
        list_lines(server.base_url(), &[staff_key])?
    } else {
        ListLines { first: Vec::new(), search: Vec::new(), next: Vec::new() }
    };
    let write = |name: &str, lines: &[String]| write_lines(run_dir, name, lines);
    Ok(Fixture {
        practice: practice.to_owned(),
        status: write("status.txt", &status)?,
        invite: write("invite.txt", &invite)?,
        list_first: write("list-first.txt", &lists.first)?,
        list_search: write("list-search.txt", &lists.search)?,
        list_next: write("list-next.txt", &lists.next)?,
        accounts: write("accounts.txt", &accounts)?,
        sessions: write("sessions.txt", &sessions)?,
        registrations: write("registrations.txt", &registration_lines)?,
    })
}

/// Page size of the list scenarios.
const LIST_LIMIT: u32 = 50;

/// The list scenarios' lines ("staff key\tquery"): for each practice (named by a key of it)
/// its first page, a search by name prefix, and the page after the first (its cursor read from
/// the first page now: the scenarios change no names, so it stays valid).
pub(crate) struct ListLines {
    pub(crate) first: Vec<String>,
    pub(crate) search: Vec<String>,
    pub(crate) next: Vec<String>,
}

/// [`ListLines`] over the practices of `staff_keys`.
pub(crate) fn list_lines(base_url: &str, staff_keys: &[&str]) -> Result<ListLines> {
    let client =
        Client::builder().timeout(Duration::from_secs(60)).build().map_err(|error| format!("HTTP client: {error}"))?;
    let prefixes: Vec<String> = super::seed::search_prefixes().collect();
    let mut lines = ListLines { first: Vec::new(), search: Vec::new(), next: Vec::new() };
    for (number, key) in staff_keys.iter().enumerate() {
        let first = format!("limit={LIST_LIMIT}");
        let answer = client.get(format!("{base_url}/api/v1/clients?{first}")).bearer_auth(key).send();
        let page = Api::expect(answer, "list clients", 200)?;
        let Some(cursor) = page.get("next_cursor").and_then(Value::as_str) else {
            return Err(format!(
                "GET /api/v1/clients?{first} answered no `next_cursor` (a practice of more than {LIST_LIMIT} clients \
                 pages, and the list API of issue 13 answers {{\"clients\": […], \"next_cursor\": …}}): {page}"
            ));
        };
        // Every prefix once for a single practice; one per practice (in turn) for many.
        let searches = if staff_keys.len() == 1 { prefixes.len() } else { 1 };
        for offset in 0..searches {
            let prefix = &prefixes[(number + offset) % prefixes.len()];
            lines.search.push(format!("{key}\t{first}&q={prefix}"));
        }
        lines.next.push(format!("{key}\t{first}&cursor={}", query_escaped(cursor)));
        lines.first.push(format!("{key}\t{first}"));
    }
    Ok(lines)
}

/// `text` with everything but RFC 3986's unreserved characters percent-encoded.
fn query_escaped(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn email_of(group: &str, number: usize) -> String {
    format!("{group}-{number}@bench.example.org")
}

/// The newest invitation token per recipient, once `expected` emails are in the mail directory.
fn invitation_tokens(mail: &EmlDir, expected: usize) -> Result<HashMap<String, String>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let arrived = mail.files().len();
        if arrived >= expected {
            // Oldest first: a later invitation to the same address replaces an earlier one.
            return Ok(mail.raw_messages().iter().filter_map(|raw| invitation_in(raw)).collect());
        }
        if Instant::now() > deadline {
            return Err(format!("only {arrived} of {expected} invitation emails arrived within 120 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The few API calls the seeding makes.
struct Api {
    client: Client,
    base: String,
    staff_key: String,
    next_address: std::cell::Cell<u32>,
}

impl Api {
    fn new(base_url: &str, staff_key: &str) -> Result<Self> {
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| format!("HTTP client: {error}"))?;
        Ok(Self {
            client,
            base: format!("{base_url}/api/v1"),
            staff_key: staff_key.to_owned(),
            next_address: std::cell::Cell::new(1),
        })
    }

    /// A different client address for each client call, as the load itself does (the server
    /// trusts X-Forwarded-For in the bench), so the per-IP limit does not slow the seeding.
    fn forwarded_for(&self) -> String {
        let n = self.next_address.get();
        self.next_address.set(n + 1);
        format!("10.200.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }

    fn expect(answer: reqwest::Result<reqwest::blocking::Response>, what: &str, status: u16) -> Result<Value> {
        let answer = answer.map_err(|error| format!("{what}: {error}"))?;
        let got = answer.status().as_u16();
        let body = answer.text().unwrap_or_default();
        if got != status {
            return Err(format!("{what}: expected {status}, got {got}: {body}"));
        }
        if body.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_str(&body).map_err(|error| format!("{what}: {error}"))
        }
    }

    fn create_clients(&self, group: &str, count: usize) -> Result<Vec<String>> {
        (0..count)
            .map(|number| {
                // Names as the scale run's bulk clients have them, so a name search finds as many.
                let (first, last) = super::seed::name_of(number);
                let body = json!({ "name": format!("{first} {last}"), "email": email_of(group, number) });
                let answer =
                    self.client.post(format!("{}/clients", self.base)).bearer_auth(&self.staff_key).json(&body).send();
                let created = Self::expect(answer, "create client", 201)?;
                created["id"].as_str().map(str::to_owned).ok_or_else(|| format!("create client: no id in {created}"))
            })
            .collect()
    }

    fn invite(&self, id: &str) -> Result {
        let answer = self
            .client
            .post(format!("{}/clients/{id}/portal/invitation", self.base))
            .bearer_auth(&self.staff_key)
            .send();
        Self::expect(answer, "send invitation", 202).map(drop)
    }

    fn register(&self, token: &str, username: &str, password: &str) -> Result {
        let body = json!({ "token": token, "username": username, "password": password });
        let answer = self
            .client
            .post(format!("{}/portal/registrations", self.base))
            .header("X-Forwarded-For", self.forwarded_for())
            .json(&body)
            .send();
        Self::expect(answer, "register", 201).map(drop)
    }

    fn sign_in(&self, practice: &str, username: &str, password: &str) -> Result<String> {
        let body = json!({ "practice": practice, "username": username, "password": password });
        let answer = self
            .client
            .post(format!("{}/portal/sessions", self.base))
            .header("X-Forwarded-For", self.forwarded_for())
            .json(&body)
            .send();
        let session = Self::expect(answer, "sign in", 201)?;
        session["token"].as_str().map(str::to_owned).ok_or_else(|| format!("sign in: no token in {session}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_escaped_for_a_query_string() {
        assert_eq!(query_escaped("abc-_.~"), "abc-_.~");
        assert_eq!(query_escaped("a+b/c="), "a%2Bb%2Fc%3D");
    }

    #[test]
    fn bench_passwords_differ_per_account() {
        assert_ne!(password_of(1), password_of(2));
        assert!(password_of(0).chars().count() >= 15);
    }
}
