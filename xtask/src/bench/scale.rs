//! `--scale N`: the staff and sign-in scenarios again on a database of N clients over many
//! practices (bulk-inserted, see `seed`), each against the same scenario on the 500-client
//! database of the same run.

use std::time::Instant;

use super::fixture::{self, write_lines};
use super::report::{Check, Goal, Measured, Section};
use super::seed::{self, Keyed, Plan};
use super::server::Database;
use super::small::{Compared, loads, measure, prepare_database};
use super::{Bench, LIST_P99_GOAL_MS, two_servers};
use crate::Result;
use crate::served::Deployment;

/// How many practices the list scenarios page through at scale (a sample: each has a first page
/// and a next page to read).
const LIST_PRACTICES: usize = 200;
/// Throughput at N against the same scenario on 500 clients.
const SCALE_GOAL: f64 = 0.9;

/// The scale run on one database; with `with_two_servers` (PostgreSQL) the two-server run too,
/// on the large database.
pub(crate) fn run(
    bench: &Bench<'_>,
    database: &Database,
    plan: Plan,
    small: &Compared,
    with_two_servers: bool,
) -> Result<Vec<Section>> {
    let Bench { binary, ceiling, seconds, root } = *bench;
    let started = Instant::now();
    let run_dir = super::fresh_dir(&root.join(format!("{}-scale", database.label().to_lowercase())))?;
    let (db, practice) = prepare_database(binary, database, &run_dir, "_scale")?;
    let practice_id =
        portal_core::PracticeId::parse(&practice.id).map_err(|_| format!("practice id {}", practice.id))?;
    eprintln!("bench: seeding {} clients over {} practices into {}", plan.clients, plan.practices, database.label());
    let seeded = seed::seed(&db.url, Keyed { id: practice_id, key: practice.staff_key.clone() }, plan)?;
    eprintln!("bench: seeded {} clients and {} accounts in {:.0} s", seeded.clients, seeded.accounts, seeded.seconds);

    let deployment = Deployment { binary, data_dir: &run_dir, database_url: Some(&db.url) };
    let server =
        deployment.serve(portal_testkit::free_port(), &["--trust-forwarded-for"], &run_dir.join("server.log"))?;
    // The sign-in accounts and sessions come through the API as on the small database; the
    // lookups and invitations go to the bulk clients, all over the practices.
    let mut fixture = fixture::prepare(&server, &run_dir, &practice, fixture::Seeding::accounts_only())?;
    fixture.status = write_lines(&run_dir, "status.txt", &seeded.status)?;
    fixture.invite = write_lines(&run_dir, "invite.txt", &seeded.invite)?;
    let step = (seeded.practices.len() / LIST_PRACTICES).max(1);
    let keys: Vec<&str> = seeded.practices.iter().step_by(step).map(|p| p.key.as_str()).collect();
    let lists = fixture::list_lines(server.base_url(), &keys)?;
    fixture.list_first = write_lines(&run_dir, "list-first.txt", &lists.first)?;
    fixture.list_search = write_lines(&run_dir, "list-search.txt", &lists.search)?;
    fixture.list_next = write_lines(&run_dir, "list-next.txt", &lists.next)?;

    let scenario = |name: &'static str, load| measure(&server, &fixture, &run_dir, name, load);
    let store = scenario("one primary-key read through the store (yardstick)", loads::cheap("store:1", seconds))?;
    let status = scenario("staff: portal status lookup", loads::cheap("status:1", seconds))?;
    let list_first = scenario("staff: client list, first page", loads::list("list_first:1", seconds))?;
    let list_search = scenario("staff: client list, a name search", loads::list("list_search:1", seconds))?;
    let list_next = scenario("staff: client list, the next page", loads::list("list_next:1", seconds))?;
    let invite = scenario("staff: send invitation (tx + outbox + audit)", loads::invite(seconds))?;
    let sign_in = scenario("client: sign in (scrypt ln=17)", loads::sign_in(ceiling.cores, seconds))?;

    let checks = checks(small, [&store, &status, &list_first, &list_search, &list_next, &invite, &sign_in]);
    let size = grouped(plan.clients);
    let note = format!(
        "{size} clients over {} practices, {} of them with a portal account or invitation, bulk-inserted in {:.0} s; \
         lookups and invitations spread over every practice, lists over {} of them.",
        grouped(plan.practices),
        grouped(usize::try_from(seeded.accounts).unwrap_or(usize::MAX)),
        seeded.seconds,
        lists.first.len(),
    );
    let mut sections = vec![Section::new(
        format!("{} at {size} clients", database.label()),
        Some(note),
        vec![store, status, list_first, list_search, list_next, invite, sign_in],
        checks,
    )];
    if with_two_servers {
        let two = two_servers::run(&server, &run_dir, &deployment, &fixture, seconds, small.mixed)?;
        sections.push(Section::new(
            format!("{}: two servers on one database of {size} clients", database.label()),
            None,
            two.scenarios,
            two.checks,
        ));
    }
    drop(server);
    drop(db);
    eprintln!("bench: {} at {size} clients took {:.0} s", database.label(), started.elapsed().as_secs_f64());
    Ok(sections)
}

/// Each scenario at N against itself on 500 clients; the lists' tails; the lookup against one
/// store read.
fn checks(
    small: &Compared,
    [store, status, list_first, list_search, list_next, invite, sign_in]: [&Measured; 7],
) -> Vec<Check> {
    let rate = |m: &Measured| m.figures.success_rate();
    let against = |what: &'static str, m: &Measured, small: &super::wrk::Figures| {
        Check::new(what, rate(m), "/s", small.success_rate(), Goal::AtLeast(SCALE_GOAL))
    };
    let tail = |what: &'static str, m: &Measured| {
        Check::new(what, m.figures.p99_ms, "ms", LIST_P99_GOAL_MS, Goal::AtMost(1.0))
    };
    vec![
        against("status lookup at N vs at 500 clients", status, &small.status),
        against("client list, first page, at N vs at 500 clients", list_first, &small.list_first),
        against("client list, a name search, at N vs at 500 clients", list_search, &small.list_search),
        against("client list, the next page, at N vs at 500 clients", list_next, &small.list_next),
        against("send invitation at N vs at 500 clients", invite, &small.invite),
        against("sign-in at N vs at 500 clients", sign_in, &small.sign_in),
        Check::new("store read at N vs at 500 clients", rate(store), "/s", small.store.success_rate(), Goal::None),
        tail("client list, first page: p99 vs 20 ms", list_first),
        tail("client list, a name search: p99 vs 20 ms", list_search),
        tail("client list, the next page: p99 vs 20 ms", list_next),
        Check::new(
            "status lookup vs one primary-key read through the store",
            rate(status),
            "/s",
            rate(store),
            Goal::AtLeast(0.5),
        ),
    ]
}

/// `1000000` as `1,000,000`.
pub(crate) fn grouped(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(grouped(50_000), "50,000");
        assert_eq!(grouped(999), "999");
    }
}
