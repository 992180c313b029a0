//! Every scenario on a practice of 500 clients seeded through the API, as a clinic starts out:
//! the yardsticks, the staff and client requests, the hashing scenarios, the flood and the mixed
//! load, each figure against its limit from the same run.

use std::path::Path;

use super::fixture::{self, BenchPractice, Fixture};
use super::hash::HashCeiling;
use super::report::{Check, Goal, Measured, Section};
use super::server::{Database, RunDatabase, rss_bytes, sample_rss, wait_until_idle};
use super::wrk::{self, Figures, Load};
use super::{Bench, LIST_P99_GOAL_MS, LOOKUP_P99_GOAL_MS, MIB_PER_HASH, two_servers};
use crate::Result;
use crate::served::Deployment;

/// The scenarios a scale run repeats at N, as measured here on 500 clients.
pub(crate) struct Compared {
    pub(crate) store: Figures,
    pub(crate) status: Figures,
    pub(crate) list_first: Figures,
    pub(crate) list_search: Figures,
    pub(crate) list_next: Figures,
    pub(crate) invite: Figures,
    pub(crate) sign_in: Figures,
    /// One server's mixed load, 2xx/s.
    pub(crate) mixed: f64,
}

/// The load of each scenario, shared with the scale run so both measure alike.
pub(crate) mod loads {
    use super::Load;

    pub(crate) fn of(mix: &'static str, threads: u32, connections: u32, seconds: u32) -> Load {
        Load { mix, threads, connections, seconds, timeout_seconds: 5 }
    }
    pub(crate) fn cheap(mix: &'static str, seconds: u32) -> Load {
        of(mix, 2, 32, seconds)
    }
    pub(crate) fn list(mix: &'static str, seconds: u32) -> Load {
        of(mix, 2, 16, seconds)
    }
    pub(crate) fn invite(seconds: u32) -> Load {
        of("invite:1", 2, 16, seconds)
    }
    /// As many sign-ins at once as the pool has permits and queue places: the pool stays busy
    /// and nothing is refused.
    pub(crate) fn sign_in(permits: usize, seconds: u32) -> Load {
        of("signin:1", 1, (permits * 2) as u32, seconds)
    }
}

/// Creates the run's database (`name_suffix` tells two PostgreSQL databases of one run apart)
/// and the bench practice in it (`portal-server migrate`, `practice create`).
pub(crate) fn prepare_database(
    binary: &Path,
    database: &Database,
    run_dir: &Path,
    name_suffix: &str,
) -> Result<(RunDatabase, BenchPractice)> {
    let db = RunDatabase::create(database, run_dir, name_suffix)?;
    let deployment = Deployment { binary, data_dir: run_dir, database_url: Some(&db.url) };
    deployment.command(&["migrate"])?;
    let created: serde_json::Value =
        serde_json::from_str(&deployment.command(&["practice", "create", "--name", "Bench Clinic"])?)
            .map_err(|error| format!("practice create printed no JSON: {error}"))?;
    let field = |name: &str| {
        created[name].as_str().map(str::to_owned).ok_or_else(|| format!("practice create: no {name} in {created}"))
    };
    let practice = BenchPractice { id: field("practice_id")?, slug: field("slug")?, staff_key: field("staff_key")? };
    Ok((db, practice))
}

/// All scenarios on one database; the figures a scale run compares against; with
/// `two_servers` (PostgreSQL) also the two-server run.
pub(crate) fn run(bench: &Bench<'_>, database: &Database, with_two_servers: bool) -> Result<(Vec<Section>, Compared)> {
    let Bench { binary, ceiling, seconds, root } = *bench;
    let started = std::time::Instant::now();
    let run_dir = super::fresh_dir(&root.join(database.label().to_lowercase()))?;
    let (db, practice) = prepare_database(binary, database, &run_dir, "")?;
    let deployment = Deployment { binary, data_dir: &run_dir, database_url: Some(&db.url) };
    // Staff also get an address of their own (`--staff-bind`), served from threads of their own:
    // the flood is measured with lookups on each address.
    let staff_bind = format!("--staff-bind=127.0.0.1:{}", portal_testkit::free_port());
    let server = deployment.serve(
        portal_testkit::free_port(),
        &["--trust-forwarded-for", &staff_bind],
        &run_dir.join("server.log"),
    )?;
    let staff_url = format!("http://{}", staff_bind.trim_start_matches("--staff-bind="));
    // Enough unused links that the registration scenario runs its full time (twice what the
    // hash ceiling allows, plus room for the first seconds).
    let registrations = (ceiling.parallel_per_second * f64::from(seconds) * 2.0).ceil() as usize + 20;
    let fixture = fixture::prepare(&server, &run_dir, &practice, fixture::Seeding::practice(registrations))?;
    // The planner statistics a deployment has once its tables hold data (autovacuum's analyze on
    // PostgreSQL, the retention job's on both): one prune run, as the server's hourly job or cron
    // does. Without it PostgreSQL plans every query for empty tables, as it never would in use.
    deployment.command(&["prune"])?;
    let base_url = server.base_url().to_owned();
    // The server's default: one hashing permit per core (and a queue of twice that).
    let permits = ceiling.cores;
    let scenario = |name: &'static str, load: Load| measure(&server, &fixture, &run_dir, name, load);

    let plain = scenario("plain poem JSON handler (yardstick)", loads::cheap("plain:1", seconds))?;
    let store = scenario("one primary-key read through the store (yardstick)", loads::cheap("store:1", seconds))?;
    let status = scenario("staff: portal status lookup", loads::cheap("status:1", seconds))?;
    let list_first = scenario("staff: client list, first page", loads::list("list_first:1", seconds))?;
    let list_search = scenario("staff: client list, a name search", loads::list("list_search:1", seconds))?;
    let list_next = scenario("staff: client list, the next page", loads::list("list_next:1", seconds))?;
    let me = scenario("client: session check (GET /me)", loads::cheap("me:1", seconds))?;
    let invite = scenario("staff: send invitation (tx + outbox + audit)", loads::invite(seconds))?;
    let sign_in = scenario("client: sign in (scrypt ln=17)", loads::sign_in(permits, seconds))?;
    let register = scenario(
        "client: register from the link (scrypt ln=17)",
        loads::of("register:1", 1, (permits * 2) as u32, seconds),
    )?;

    // What 200 connections cost without any hashing: the same connection count on the plain
    // handler, so the flood's memory can be read as connections + hashes.
    wait_until_idle(&server)?;
    let connections_sampler = sample_rss(&server);
    wrk::run(loads::of("plain:1", 1, 200, 3), &base_url, &fixture, &run_dir)?;
    let connections_rss = connections_sampler.peak();

    eprintln!("bench: flood of 200 concurrent sign-ins with status lookups beside it ({seconds} s)");
    wait_until_idle(&server)?;
    let base_rss = rss_bytes(&server)?;
    let side_by_side =
        |first: (&'static str, Load), second: (&'static str, Load, &str)| -> Result<(Measured, Measured)> {
            let sampler = sample_rss(&server);
            let first_run = wrk::start(first.1, &base_url, &fixture, &run_dir)?;
            let second_run = wrk::start(second.1, second.2, &fixture, &run_dir)?;
            let (first_figures, second_figures) = (first_run.finish()?, second_run.finish()?);
            let peak_rss = sampler.peak();
            Ok((
                Measured { name: first.0, load: first.1.describe(), peak_rss, figures: first_figures },
                Measured { name: second.0, load: second.1.describe(), peak_rss, figures: second_figures },
            ))
        };
    let flood_load = |mix, connections| Load { mix, threads: 1, connections, seconds, timeout_seconds: 10 };
    let (flood, flood_lookups) = side_by_side(
        ("flood: 200 concurrent sign-ins", flood_load("signin:1", 200)),
        ("flood: status lookups beside it, same address", flood_load("status:1", 4), &base_url),
    )?;
    wait_until_idle(&server)?;
    let (staff_flood, staff_flood_lookups) = side_by_side(
        ("flood again: 200 concurrent sign-ins", flood_load("signin:1", 200)),
        ("flood again: status lookups on the staff address", flood_load("status:1", 4), &staff_url),
    )?;

    // Staff and clients at work, with sign-ins trickling in beside them (one at a time: a
    // closed-loop generator would otherwise overload the hash pool with any fixed share).
    eprintln!("bench: mixed clinic load with a sign-in trickle beside it ({seconds} s)");
    wait_until_idle(&server)?;
    let (mixed, trickle) = side_by_side(
        ("mixed clinic load: 70% status, 20% /me, 10% invite", loads::of("status:70,me:20,invite:10", 2, 16, seconds)),
        ("mixed: sign-ins beside it, one at a time", loads::of("signin:1", 1, 1, seconds), &base_url),
    )?;

    let measured = Scenarios {
        plain,
        store,
        status,
        list_first,
        list_search,
        list_next,
        me,
        invite,
        sign_in,
        register,
        flood,
        flood_lookups,
        staff_flood,
        staff_flood_lookups,
        mixed,
        trickle,
    };
    let checks = measured.checks(ceiling, permits, (base_rss, connections_rss));
    let compared = measured.compared();
    let mut sections = vec![Section::new(database.label().to_owned(), None, measured.into_list(), checks)];
    if with_two_servers {
        let two = two_servers::run(&server, &run_dir, &deployment, &fixture, seconds, compared.mixed)?;
        sections.push(Section::new(
            format!("{}: two servers on one database", database.label()),
            None,
            two.scenarios,
            two.checks,
        ));
    }
    drop(server);
    drop(db);
    eprintln!("bench: {} run took {:.0} s", database.label(), started.elapsed().as_secs_f64());
    Ok((sections, compared))
}

/// One wrk scenario against `server`, with its peak memory.
pub(crate) fn measure(
    server: &portal_testkit::PortalServer,
    fixture: &Fixture,
    run_dir: &Path,
    name: &'static str,
    load: Load,
) -> Result<Measured> {
    eprintln!("bench: {name} ({}, {} s)", load.describe(), load.seconds);
    wait_until_idle(server)?;
    let sampler = sample_rss(server);
    let figures = wrk::run(load, server.base_url(), fixture, run_dir)?;
    Ok(Measured { name, load: load.describe(), peak_rss: sampler.peak(), figures })
}

/// The small run's scenarios by name.
struct Scenarios {
    plain: Measured,
    store: Measured,
    status: Measured,
    list_first: Measured,
    list_search: Measured,
    list_next: Measured,
    me: Measured,
    invite: Measured,
    sign_in: Measured,
    register: Measured,
    flood: Measured,
    flood_lookups: Measured,
    /// The flood again, with the lookups on the staff listener (`--staff-bind`).
    staff_flood: Measured,
    staff_flood_lookups: Measured,
    mixed: Measured,
    trickle: Measured,
}

impl Scenarios {
    fn compared(&self) -> Compared {
        Compared {
            store: self.store.figures.clone(),
            status: self.status.figures.clone(),
            list_first: self.list_first.figures.clone(),
            list_search: self.list_search.figures.clone(),
            list_next: self.list_next.figures.clone(),
            invite: self.invite.figures.clone(),
            sign_in: self.sign_in.figures.clone(),
            mixed: self.mixed.figures.success_rate(),
        }
    }

    fn into_list(self) -> Vec<Measured> {
        vec![
            self.plain,
            self.store,
            self.status,
            self.list_first,
            self.list_search,
            self.list_next,
            self.me,
            self.invite,
            self.sign_in,
            self.register,
            self.flood,
            self.flood_lookups,
            self.staff_flood,
            self.staff_flood_lookups,
            self.mixed,
            self.trickle,
        ]
    }

    /// Every figure against its limit. `base_rss`: the idle server's memory before the flood,
    /// and its peak carrying 200 connections of plain requests.
    fn checks(&self, ceiling: &HashCeiling, permits: usize, base_rss: (u64, u64)) -> Vec<Check> {
        let rate = |m: &Measured| m.figures.success_rate();
        let nominal = ceiling.nominal_per_second();
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let hash_memory = permits as f64 * MIB_PER_HASH;
        let (idle_rss, connections_rss) = base_rss;
        // What the mix would reach if each kind of request cost what it cost alone.
        let predicted_mix = 1.0 / (0.70 / rate(&self.status) + 0.20 / rate(&self.me) + 0.10 / rate(&self.invite));
        let unanswered = [&self.flood, &self.staff_flood]
            .iter()
            .map(|flood| (flood.figures.timeouts + flood.figures.socket_errors) as f64)
            .sum::<f64>();
        let list_p99 = |what: &'static str, m: &Measured| {
            Check::new(what, m.figures.p99_ms, "ms", LIST_P99_GOAL_MS, Goal::AtMost(1.0))
        };
        vec![
            Check::new(
                "sign-in throughput vs hash ceiling (cores ÷ one hash)",
                rate(&self.sign_in),
                "/s",
                nominal,
                Goal::AtLeast(0.9),
            ),
            Check::new(
                "sign-in throughput vs measured parallel hashing",
                rate(&self.sign_in),
                "/s",
                ceiling.parallel_per_second,
                Goal::AtLeast(0.9),
            ),
            Check::new("registration throughput vs hash ceiling", rate(&self.register), "/s", nominal, Goal::None),
            Check::new(
                "flood: peak RSS vs idle base + permits × 128 MiB",
                mib(self.flood.peak_rss.max(self.staff_flood.peak_rss)),
                "MiB",
                mib(idle_rss) + hash_memory,
                Goal::AtMost(1.0),
            ),
            Check::new(
                "flood: peak RSS vs base with 200 connections + permits × 128 MiB",
                mib(self.flood.peak_rss.max(self.staff_flood.peak_rss)),
                "MiB",
                mib(connections_rss) + hash_memory,
                Goal::AtMost(1.0),
            ),
            Check::new(
                "flood: status lookup p99 on the staff address vs 10 ms",
                self.staff_flood_lookups.figures.p99_ms,
                "ms",
                LOOKUP_P99_GOAL_MS,
                Goal::AtMost(1.0),
            ),
            Check::new(
                "flood: status lookup p99 on the flooded address vs 10 ms",
                self.flood_lookups.figures.p99_ms,
                "ms",
                LOOKUP_P99_GOAL_MS,
                Goal::None,
            ),
            Check::new("flood: sign-ins never answered (timeouts, socket errors)", unanswered, "", 0.0, Goal::Zero),
            Check::new(
                "status lookup vs one primary-key read through the store",
                rate(&self.status),
                "/s",
                rate(&self.store),
                Goal::AtLeast(0.5),
            ),
            Check::new(
                "status lookup vs plain poem JSON handler",
                rate(&self.status),
                "/s",
                rate(&self.plain),
                Goal::AtLeast(0.5),
            ),
            Check::new("store read vs plain poem JSON handler", rate(&self.store), "/s", rate(&self.plain), Goal::None),
            list_p99("client list, first page: p99 vs 20 ms", &self.list_first),
            list_p99("client list, a name search: p99 vs 20 ms", &self.list_search),
            list_p99("client list, the next page: p99 vs 20 ms", &self.list_next),
            Check::new(
                "session check (/me) vs plain poem JSON handler",
                rate(&self.me),
                "/s",
                rate(&self.plain),
                Goal::None,
            ),
            Check::new(
                "send invitation vs plain poem JSON handler",
                rate(&self.invite),
                "/s",
                rate(&self.plain),
                Goal::None,
            ),
            Check::new("mixed load vs its parts measured alone", rate(&self.mixed), "/s", predicted_mix, Goal::None),
            Check::new(
                "mixed: sign-in trickle vs one hash at a time",
                rate(&self.trickle),
                "/s",
                1.0 / ceiling.one_hash_seconds,
                Goal::None,
            ),
        ]
    }
}
