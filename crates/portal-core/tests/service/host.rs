//! The client-directory seam (design §7): the host owns clients, the portal owns credentials.
//! The service runs over a portal store that holds no client records at all and a separate
//! directory standing for an EHR's patients, keyed by the EHR's own ids.

use jiff::Timestamp;
use portal_core::service::{
    ClientError, MAX_STATES_PER_CALL, PortalService, PortalStatesError, SendInviteError, StaffContext,
};
use portal_core::testing::{InMemoryDirectory, InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    Client, ClientId, ClientListQuery, Directory, DisplayName, EmailAddress, Language, MailKind, Policy, PortalStatus,
    TimeZoneName, TokenPurpose,
};
use secrecy::ExposeSecret;

use crate::helpers::{GOOD_PASSWORD, ctx, fast_hasher, key, password, start};

type HostService =
    PortalService<InMemoryStore, portal_core::ScryptHasher, ManualClock, SeededRandom, InMemoryDirectory>;

struct Host {
    service: HostService,
    store: InMemoryStore,
    patients: InMemoryDirectory,
    staff: StaffContext,
}

fn patient(practice: portal_core::PracticeId, id: &str, name: &str, email: &str) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        practice_id: practice,
        name: DisplayName::parse("name", name).unwrap(),
        email: Some(EmailAddress::parse(email).unwrap()),
        language: Language::Es,
        email_consent: true,
        date_of_birth: None,
        created_at: Timestamp::UNIX_EPOCH,
    }
}

async fn host() -> Host {
    let (store, patients) = (InMemoryStore::new(), InMemoryDirectory::new());
    let service = PortalService::new(
        store.clone(),
        patients.clone(),
        fast_hasher(),
        ManualClock::new(start()),
        SeededRandom::new(11),
        Policy::default(),
        key(),
    );
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let staff = StaffContext { staff: created.staff, request: ctx() };
    patients.insert(patient(staff.staff.practice_id, "1001", "Ada Lovelace", "ada@example.org"));
    Host { service, store, patients, staff }
}

fn id(text: &str) -> ClientId {
    ClientId::parse(text).unwrap()
}

fn invite_link(store: &InMemoryStore) -> String {
    let token_id = store
        .outbox()
        .into_iter()
        .rev()
        .find_map(|(mail, _)| match mail.kind {
            MailKind::Invitation { token_id, .. } => Some(token_id),
            _ => None,
        })
        .unwrap();
    key().link_token(TokenPurpose::Invite, token_id).expose().expose_secret().to_owned()
}

#[tokio::test]
async fn the_whole_lifecycle_runs_on_the_hosts_clients_and_ids() {
    let h = host().await;
    let ada = id("1001");
    let sent = h.service.send_invite(&h.staff, &ada).await.unwrap();

    // The mail is addressed from the directory; the portal keeps the address only in the outbox.
    let (mail, _) = h.store.outbox().pop().unwrap();
    assert_eq!((mail.client_id.as_str(), mail.to.as_str()), ("1001", "ada@example.org"));
    let practice = h.staff.staff.practice_id;
    let listed = h.store.list_clients(practice, &ClientListQuery::default(), start()).await.unwrap();
    assert!(listed.items.is_empty(), "the portal copied a client record");

    h.service.register(&invite_link(&h.store), "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let signed_in = h.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let token = signed_in.token.expose().expose_secret().to_owned();

    // The name shown to the client is the host's current one, read when needed.
    h.patients.insert(patient(practice, "1001", "Ada King", "ada@example.org"));
    let session = h.service.authenticate_session(&token).await.unwrap();
    assert_eq!(session.client_name.as_str(), "Ada King");

    h.service.set_enabled(&h.staff, &ada, false, None).await.unwrap();
    assert!(h.service.authenticate_session(&token).await.is_err());
    h.service.set_enabled(&h.staff, &ada, true, None).await.unwrap();
    h.service.send_reset(&h.staff, &ada).await.unwrap();
    let view = h.service.portal(&h.staff, &ada).await.unwrap();
    assert!(matches!(view.status, PortalStatus::Active { .. }), "{view:?}");
    assert!(view.reset.is_some());
    assert!(sent.expires_at > sent.sent_at);
}

#[tokio::test]
async fn a_client_the_host_does_not_know_is_not_found_and_nothing_is_written() {
    let h = host().await;
    let before = (h.store.outbox().len(), h.store.audit_events().len());
    let stranger = id("1002");
    let refused = h.service.send_invite(&h.staff, &stranger).await;
    assert!(matches!(refused, Err(SendInviteError::ClientNotFound)), "{refused:?}");
    assert!(matches!(h.service.portal(&h.staff, &stranger).await, Err(ClientError::ClientNotFound)));
    assert_eq!((h.store.outbox().len(), h.store.audit_events().len()), before);

    // Another practice's patient with the same id is not this practice's client.
    let elsewhere = h.service.create_practice("Elsewhere", Some("elsewhere"), TimeZoneName::utc()).await.unwrap();
    h.patients.insert(patient(elsewhere.practice.id, "1002", "Grace Hopper", "grace@example.org"));
    assert!(matches!(h.service.send_invite(&h.staff, &stranger).await, Err(SendInviteError::ClientNotFound)));
}

#[tokio::test]
async fn batch_states_answer_every_id_in_order_without_reading_the_directory() {
    let h = host().await;
    h.service.send_invite(&h.staff, &id("1001")).await.unwrap();
    // "2002" is not in the directory: the batch read does not ask, and it has no account.
    let asked = [id("2002"), id("1001"), id("2002")];
    let states = h.service.portal_states(&h.staff, &asked).await.unwrap();
    let ids: Vec<&str> = states.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["2002", "1001"], "in the order asked, each once");
    assert_eq!(states[0].1, PortalStatus::NotInvited);
    assert!(matches!(states[1].1, PortalStatus::Invited { .. }), "{:?}", states[1]);

    let too_many: Vec<ClientId> = (0..=MAX_STATES_PER_CALL).map(|n| id(&n.to_string())).collect();
    let refused = h.service.portal_states(&h.staff, &too_many).await;
    assert!(matches!(refused, Err(PortalStatesError::TooManyClients { max: 500 })), "{refused:?}");
}

#[tokio::test]
async fn a_removed_patient_can_no_longer_be_invited_but_keeps_the_portal_state() {
    let h = host().await;
    let ada = id("1001");
    h.service.send_invite(&h.staff, &ada).await.unwrap();
    h.patients.remove(h.staff.staff.practice_id, &ada);
    assert!(matches!(h.service.send_invite(&h.staff, &ada).await, Err(SendInviteError::ClientNotFound)));
    let states = h.service.portal_states(&h.staff, std::slice::from_ref(&ada)).await.unwrap();
    assert!(matches!(states[0].1, PortalStatus::Invited { .. }));
}
