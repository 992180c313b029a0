//! Invitations in bulk and client imports: each client on the path of a single invitation, the
//! selection of "every client without an account", the cap, and what one client's refusal or
//! failure does to the others.

use async_trait::async_trait;
use jiff::SignedDuration;
use portal_core::service::{
    BulkInviteError, BulkInvites, BulkOutcome, BulkSelection, ImportError, ImportRow, ImportSkip, MAX_INVITES_PER_CALL,
    NewClient, PortalService, StaffContext,
};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{AuditAction, Client, ClientDirectory, ClientId, Policy, PortalStatus, PracticeId, StoreError};

use crate::helpers::{Service, World, ctx, fast_hasher, key, start, world};

async fn client(world: &World, name: &str, email: Option<&str>) -> ClientId {
    let new = NewClient { name: name.into(), email: email.map(Into::into), ..Default::default() };
    world.service.create_client(&world.staff, new).await.unwrap().client.id
}

fn outcomes(invites: &BulkInvites) -> Vec<(ClientId, String)> {
    invites
        .results
        .iter()
        .map(|result| {
            let outcome = match &result.outcome {
                BulkOutcome::Sent(_) => "sent".to_owned(),
                BulkOutcome::Resent(_) => "resent".to_owned(),
                BulkOutcome::Skipped(reason) => format!("skipped {reason:?}"),
                BulkOutcome::Failed(_) => "failed".to_owned(),
                BulkOutcome::NotAttempted => "not attempted".to_owned(),
            };
            (result.client_id.clone(), outcome)
        })
        .collect()
}

fn invite_audits(world: &World, client: &ClientId) -> Vec<AuditAction> {
    world
        .store
        .audit_events()
        .into_iter()
        .filter(|event| event.client_id.as_ref() == Some(client))
        .map(|event| event.action)
        .filter(|action| matches!(action, AuditAction::InviteSent | AuditAction::InviteResent))
        .collect()
}

#[tokio::test]
async fn each_selected_client_is_sent_resent_or_skipped_with_the_reason_and_refusals_never_stop_the_rest() {
    let w = world().await;
    let ada = w.client.clone();
    let grace = client(&w, "Grace Hopper", Some("grace@example.org")).await;
    let nobody_email = client(&w, "Hedy Lamarr", None).await;
    let quiet = w
        .service
        .create_client(
            &w.staff,
            NewClient {
                name: "Quiet Client".into(),
                email: Some("quiet@example.org".into()),
                email_consent: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .client
        .id;
    let registered = client(&w, "Registered One", Some("reg@example.org")).await;
    w.service.send_invite(&w.staff, &registered).await.unwrap();
    let link = w.latest_link(portal_core::TokenPurpose::Invite);
    w.service
        .register(&link, "registered", &crate::helpers::password(crate::helpers::GOOD_PASSWORD), &ctx())
        .await
        .unwrap();
    w.service.send_invite(&w.staff, &grace).await.unwrap();
    let unknown = ClientId::parse("no-such-client").unwrap();
    let mail_before = w.mail().len();

    let selection = vec![
        nobody_email.clone(),
        ada.clone(),
        unknown.clone(),
        grace.clone(),
        quiet.clone(),
        registered.clone(),
        ada.clone(),
    ];
    let invites = w.service.send_invites(&w.staff, BulkSelection::Clients(selection)).await.unwrap();

    assert_eq!(
        outcomes(&invites),
        [
            (nobody_email, "skipped NoEmailOnFile".to_owned()),
            (ada.clone(), "sent".to_owned()),
            (unknown, "skipped ClientNotFound".to_owned()),
            (grace.clone(), "resent".to_owned()),
            (quiet, "skipped EmailNotPermitted".to_owned()),
            (registered, "skipped AccountExists".to_owned()),
        ],
        "a repeated id is answered once, in the order given"
    );
    assert_eq!(invites.remaining, None);
    assert_eq!(invites.results[1].client.as_ref().map(|c| c.name.as_str()), Some("Ada Lovelace"));
    // One mail and one audit event per client invited, as a single invitation writes them.
    let mail = w.mail();
    assert_eq!(mail.len(), mail_before + 2);
    assert_eq!(mail[mail_before].client_id, ada);
    assert_eq!(mail[mail_before + 1].client_id, grace);
    assert_eq!(invite_audits(&w, &ada), [AuditAction::InviteSent]);
    assert_eq!(invite_audits(&w, &grace), [AuditAction::InviteSent, AuditAction::InviteResent]);
    assert!(matches!(w.service.client(&w.staff, &ada).await.unwrap().portal, PortalStatus::Invited { .. }));
}

#[tokio::test]
async fn an_empty_or_oversized_list_is_refused_whole() {
    let w = world().await;
    let none = w.service.send_invites(&w.staff, BulkSelection::Clients(Vec::new())).await;
    assert!(matches!(none, Err(BulkInviteError::NoClients)));
    let many: Vec<ClientId> = (0..=MAX_INVITES_PER_CALL).map(|n| ClientId::parse(&n.to_string()).unwrap()).collect();
    let too_many = w.service.send_invites(&w.staff, BulkSelection::Clients(many)).await;
    assert!(matches!(too_many, Err(BulkInviteError::TooManyClients { max: 500 })));
    assert!(w.mail().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn every_client_without_an_account_takes_the_uninvited_and_the_expired_with_an_email_capped_per_call() {
    let w = world().await;
    // Ada (the world's client) is invited and her invitation lapses; Grace has a live one.
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.advance(SignedDuration::from_hours(49));
    let grace = client(&w, "Grace Hopper", Some("grace@example.org")).await;
    w.service.send_invite(&w.staff, &grace).await.unwrap();
    client(&w, "No Email", None).await;
    let mut fresh = Vec::new();
    for n in 0..MAX_INVITES_PER_CALL + 2 {
        fresh.push(client(&w, &format!("Client {n:04}"), Some(&format!("c{n}@example.org"))).await);
    }

    let first = w.service.send_invites(&w.staff, BulkSelection::EveryClientWithoutAccount).await.unwrap();
    assert_eq!(first.results.len(), MAX_INVITES_PER_CALL);
    assert_eq!(first.remaining, Some(3), "two never invited and Ada's expired invitation are left");
    assert!(first.results.iter().all(|r| matches!(r.outcome, BulkOutcome::Sent(_))));
    assert!(first.results.iter().all(|r| r.client_id != grace), "a live invitation is not resent");

    let second = w.service.send_invites(&w.staff, BulkSelection::EveryClientWithoutAccount).await.unwrap();
    assert_eq!(second.remaining, Some(0));
    let second = outcomes(&second);
    assert_eq!(second.len(), 3);
    assert!(second.contains(&(w.client.clone(), "resent".to_owned())), "{second:?}");
    let third = w.service.send_invites(&w.staff, BulkSelection::EveryClientWithoutAccount).await.unwrap();
    assert!(third.results.is_empty());
    assert_eq!(third.remaining, Some(0));
}

/// A host's directory that cannot read some clients.
#[derive(Clone)]
struct Flaky {
    inner: InMemoryStore,
    corrupt: ClientId,
    unavailable: ClientId,
}

#[async_trait]
impl ClientDirectory for Flaky {
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if *id == self.corrupt {
            return Err(StoreError::Corrupt("unreadable row".into()));
        }
        if *id == self.unavailable {
            return Err(StoreError::Unavailable("the records are down".into()));
        }
        ClientDirectory::client(&self.inner, practice, id).await
    }
    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        self.inner.clients(practice, ids).await
    }
}

#[tokio::test]
async fn a_failure_on_one_client_is_reported_for_it_and_only_an_outage_stops_the_clients_after_it() {
    let w = world().await;
    let names = ["Bea", "Cy", "Di", "Ed"];
    let mut ids = vec![w.client.clone()];
    for name in names {
        ids.push(client(&w, name, Some(&format!("{}@example.org", name.to_lowercase()))).await);
    }
    let flaky = Flaky { inner: w.store.clone(), corrupt: ids[1].clone(), unavailable: ids[3].clone() };
    let service: PortalService<_, _, _, _, Flaky> = PortalService::new(
        w.store.clone(),
        flaky,
        fast_hasher(),
        ManualClock::new(start()),
        SeededRandom::new(3),
        Policy::default(),
        key(),
    );
    let staff = StaffContext { staff: w.staff.staff.clone(), request: ctx() };

    let invites = service.send_invites(&staff, BulkSelection::Clients(ids.clone())).await.unwrap();
    let got: Vec<String> = outcomes(&invites).into_iter().map(|(_, outcome)| outcome).collect();
    assert_eq!(got, ["sent", "failed", "sent", "failed", "not attempted"]);
    assert_eq!(w.mail().len(), 2, "only the clients sent to have mail");
    assert!(invite_audits(&w, &ids[1]).is_empty() && invite_audits(&w, &ids[4]).is_empty());

    // Over a host's directory the portal cannot list every client.
    let every = service.send_invites(&staff, BulkSelection::EveryClientWithoutAccount).await;
    assert!(matches!(every, Err(BulkInviteError::NoClientRecords)));
}

fn row(line: u64, name: &str, email: &str, language: &str, date_of_birth: &str) -> ImportRow {
    let some = |text: &str| Some(text.to_owned());
    ImportRow {
        line,
        client: NewClient {
            name: name.into(),
            email: some(email),
            language: some(language),
            email_consent: None,
            date_of_birth: some(date_of_birth),
        },
    }
}

#[tokio::test]
async fn an_import_checks_every_row_first_and_writes_nothing_when_one_is_bad() {
    let w: World = world().await;
    let service: &Service = &w.service;
    let rows = [
        row(2, "Good Row", "good@example.org", "es", "1990-04-01"),
        row(3, "", "not-an-email", "en", ""),
        row(4, "Bad Date", "", "", "1990-13-01"),
        row(5, "Bad Language", "", "klingon", ""),
    ];
    let Err(ImportError::InvalidRows(errors)) = service.plan_import("sunrise", &rows).await else {
        panic!("the bad rows are refused");
    };
    let lines: Vec<(u64, usize)> = errors.iter().map(|e| (e.line, e.problems.len())).collect();
    assert_eq!(lines, [(3, 2), (4, 1), (5, 1)], "every problem of every bad row: {errors:?}");
    assert_eq!(w.store.client_records().len(), 1, "nothing written");

    let unknown = service.plan_import("nowhere", &rows[..1]).await;
    assert!(matches!(unknown, Err(ImportError::PracticeNotFound)));
}

#[tokio::test]
async fn an_import_skips_emails_already_in_the_practice_or_earlier_in_the_file_and_audits_each_client() {
    let w = world().await;
    let rows = [
        row(2, "Grace Hopper", "Grace@Example.org", "en", "1906-12-09"),
        row(3, "Ada Again", "ADA@example.org", "en", ""),
        row(4, "Grace Twice", "grace@example.org", "", ""),
        row(5, "No Email", "", "es", ""),
        row(6, "Also No Email", "", "", ""),
    ];
    let plan = w.service.plan_import("sunrise", &rows).await.unwrap();
    assert_eq!(plan.clients.len(), 3);
    let skipped: Vec<(u64, ImportSkip)> = plan.skipped.iter().map(|s| (s.line, s.skip)).collect();
    assert_eq!(skipped, [(3, ImportSkip::EmailInPractice), (4, ImportSkip::EmailEarlierInFile { line: 2 })]);

    let mut progress = Vec::new();
    let created = w.service.import(&plan, &mut |n| progress.push(n)).await.unwrap();
    assert_eq!((created, progress), (3, vec![3]));
    let records = w.store.client_records();
    assert_eq!(records.len(), 4);
    let grace = records.iter().find(|c| c.name.as_str() == "Grace Hopper").unwrap();
    assert!(grace.date_of_birth.is_some() && grace.email_consent);
    let created_events = w
        .store
        .audit_events()
        .into_iter()
        .filter(|e| e.action == AuditAction::ClientCreated && e.actor == portal_core::Actor::System)
        .count();
    assert_eq!(created_events, 3, "one ClientCreated event per imported client");

    // The same file again adds nothing: every email is on file now.
    let again = w.service.plan_import("sunrise", &rows).await.unwrap();
    assert_eq!(again.clients.len(), 2, "rows without an email are never repeats");
}
