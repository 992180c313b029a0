//! The host owns clients (issue 12): portal rows name a client by (practice, host id), any id
//! the core accepts works, a client need not be in the bundled table, and the batch reads.

use jiff::SignedDuration;
use portal_core::{
    AccountStore, AuditAction, AuditLog, Client, ClientDirectory, ClientId, ClientListQuery, DeliveryProblem,
    Directory, EmailAddress, MailOutbox, PortalAccount, SessionStore, StoreError, TokenPurpose,
};
use sea_orm::DbBackend;

use crate::fixtures::{World, at, change, client_with_id, event, host_id, notice, queue, session, token};
use crate::harness::TestDb;

/// A client the host owns: never stored in the bundled table.
fn host_client(world: &World, raw_id: &str) -> Client {
    let mut client = client_with_id(&world.practice, host_id(raw_id), "Host Patient");
    client.email = Some(EmailAddress::parse(&format!("patient-{}@host.example", raw_id.to_lowercase())).unwrap());
    client
}

fn by_client(mut accounts: Vec<PortalAccount>) -> Vec<PortalAccount> {
    accounts.sort_by(|a, b| a.client_id().cmp(b.client_id()));
    accounts
}

pub async fn host_ids_that_are_not_uuids_work_for_every_portal_row(db: &TestDb) {
    let world = World::new(db).await;
    for (raw, name) in [("42", "host-a"), ("MRN-0042", "host-b")] {
        let host = host_client(&world, raw);
        assert_eq!(db.store.client(world.practice.id, &host.id).await.unwrap(), None, "not a bundled client");

        let account = world.register(db, &host, name, at(1)).await;
        assert_eq!(account.client_id(), &host.id);
        assert!(account.is_active());
        let by_name = db.store.account_by_username(world.practice.id, &crate::fixtures::username(name)).await;
        assert_eq!(by_name.unwrap(), Some(account.clone()));
        let invite = account.invite().expect("the used invitation");
        assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &invite.hash).await.unwrap(), Some(account));

        let signed_in = session(&host, &format!("session-{raw}"), at(2));
        let audit = event(world.practice.id, Some(&host.id), AuditAction::SignInSucceeded, at(2));
        db.store.create_session(&signed_in, &audit).await.unwrap();
        assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), Some(signed_in));

        let trail = db.store.trail(world.practice.id, &host.id).await.unwrap();
        assert_eq!(trail.iter().map(|e| e.action).collect::<Vec<_>>().last(), Some(&AuditAction::SignInSucceeded));
        assert!(trail.iter().all(|e| e.client_id.as_ref() == Some(&host.id)));
        // (Registering cancelled the invitation mail; a notice is queued instead.)
        queue(db, &host, vec![notice(&host, at(3))], at(3)).await;
    }
    let claimed = db.store.claim_due(at(10), SignedDuration::from_secs(60), 100).await.unwrap();
    let mut ids: Vec<&str> = claimed.iter().map(|c| c.mail.client_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, ["42", "MRN-0042"]);

    // The bundled list shows only the bundled clients.
    let listed = db.store.list_clients(world.practice.id, &ClientListQuery::default(), at(10)).await.unwrap();
    let ids: Vec<ClientId> = listed.items.iter().map(|(c, _)| c.id.clone()).collect();
    assert_eq!(ids, std::slice::from_ref(&world.client.id));
}

pub async fn the_same_host_id_in_two_practices_names_two_clients(db: &TestDb) {
    let (a, b) = (World::new(db).await, World::with_slug(db, "moonrise").await);
    let (in_a, in_b) = (host_client(&a, "42"), host_client(&b, "42"));
    let a_invite = a.invite(db, &in_a, "a-link", at(1)).await;
    b.invite(db, &in_b, "b-first", at(2)).await;
    for (world, client) in [(&a, &in_a), (&b, &in_b)] {
        let signed_in = session(client, &format!("session-{}", world.practice.slug.as_str()), at(3));
        db.store
            .create_session(&signed_in, &event(world.practice.id, None, AuditAction::SignInSucceeded, at(3)))
            .await
            .unwrap();
    }

    // A resend in B, revoking B's sessions: A's token, mail and session are untouched.
    let mut account = db.store.account(b.practice.id, &in_b.id).await.unwrap();
    account.issue_invite(token(TokenPurpose::Invite, "b-second", at(4))).unwrap();
    let mut commit = change(account, at(4));
    commit.revoke_sessions = true;
    commit.audit.push(event(b.practice.id, Some(&in_b.id), AuditAction::InviteSent, at(4)));
    db.store.commit(commit).await.unwrap();

    assert_eq!(db.store.account(a.practice.id, &in_a.id).await.unwrap().invite(), Some(&a_invite));
    assert_eq!(db.count("tokens", "voided_at IS NOT NULL").await, 1, "only B's first invitation");
    assert_eq!(db.count("mail_outbox", "status = 'failed'").await, 1, "only B's first invitation mail");
    assert_eq!(db.count("sessions", "").await, 1, "A's session remains");
    let a_trail = db.store.trail(a.practice.id, &in_a.id).await.unwrap();
    assert_eq!(a_trail.iter().map(|e| e.action).collect::<Vec<_>>(), [AuditAction::InviteSent]);
    let b_trail = db.store.trail(b.practice.id, &in_b.id).await.unwrap();
    assert_eq!(
        b_trail.iter().map(|e| e.action).collect::<Vec<_>>(),
        [AuditAction::InviteSent, AuditAction::InviteSent]
    );

    // B cannot take over A's token by its id.
    let mut account = db.store.account(b.practice.id, &in_b.id).await.unwrap();
    let mut copied = token(TokenPurpose::Invite, "b-third", at(5));
    copied.id = a_invite.id;
    account.issue_invite(copied).unwrap();
    let err = db.store.commit(change(account, at(5))).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("token")), "{err:?}");
}

pub async fn accounts_returns_only_the_stored_accounts_with_their_current_tokens(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    let host = host_client(&world, "42");
    world.register(db, &host, "host-a", at(1)).await;
    world.invite(db, &world.client, "ada-link", at(2)).await;
    let reset = token(TokenPurpose::Reset, "host-reset", at(3));
    let mut account = db.store.account(world.practice.id, &host.id).await.unwrap();
    account.issue_reset(reset.clone()).unwrap();
    db.store.commit(change(account, at(3))).await.unwrap();
    other.invite(db, &other.client, "other-link", at(4)).await;

    let ids = [host.id.clone(), world.client.id.clone(), host_id("never-stored"), other.client.id.clone()];
    let got = by_client(db.store.accounts(world.practice.id, &ids).await.unwrap());
    let expected = by_client(vec![
        db.store.account(world.practice.id, &host.id).await.unwrap(),
        db.store.account(world.practice.id, &world.client.id).await.unwrap(),
    ]);
    assert_eq!(got, expected);
    let host_account = got.iter().find(|a| a.client_id() == &host.id).unwrap();
    assert!(host_account.invite().is_some(), "the used invitation");
    assert_eq!(host_account.reset(), Some(&reset));
    assert!(db.store.accounts(world.practice.id, &[]).await.unwrap().is_empty());
    assert!(db.store.accounts(world.practice.id, &[host_id("never-stored")]).await.unwrap().is_empty());
}

pub async fn clients_are_read_one_or_many_within_their_practice(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    let bob = world.add_client(db, "Bob").await;
    // Bundled clients may carry host-style ids too, unique within their practice only.
    let mrn = client_with_id(&world.practice, host_id("MRN-7"), "Mia");
    let mrn_elsewhere = client_with_id(&other.practice, host_id("MRN-7"), "Mo");
    for client in [&mrn, &mrn_elsewhere] {
        let created = event(client.practice_id, Some(&client.id), AuditAction::ClientCreated, at(1));
        db.store.create_client(client, &created).await.unwrap();
    }
    assert_eq!(db.store.client(world.practice.id, &mrn.id).await.unwrap(), Some(mrn.clone()));
    assert_eq!(db.store.client(other.practice.id, &mrn.id).await.unwrap(), Some(mrn_elsewhere));
    assert_eq!(db.store.client(world.practice.id, &host_id("unknown")).await.unwrap(), None);

    let ids = [world.client.id.clone(), bob.id.clone(), host_id("unknown"), other.client.id.clone(), mrn.id.clone()];
    let mut got = db.store.clients(world.practice.id, &ids).await.unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    let mut expected = vec![world.client.clone(), bob, mrn];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(got, expected);
    assert!(db.store.clients(world.practice.id, &[]).await.unwrap().is_empty());
}

pub async fn once_delivered_or_given_up_no_outbox_row_holds_the_recipient(db: &TestDb) {
    let world = World::new(db).await;
    let host = host_client(&world, "MRN-0042");
    let address = host.email.clone().unwrap();
    world.invite(db, &host, "host-link", at(0)).await;
    queue(db, &host, vec![notice(&host, at(1)), notice(&host, at(2))], at(2)).await;

    let claimed = db.store.claim_due(at(10), SignedDuration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|c| c.mail.to == address), "pending mail keeps its address");
    db.store.mark_sent(claimed[0].mail.id, at(11)).await.unwrap();
    db.store.mark_failed(claimed[1].mail.id, at(11), &DeliveryProblem::link_superseded(), None).await.unwrap();
    db.store.retry_later(claimed[2].mail.id, at(20), &DeliveryProblem::link_superseded()).await.unwrap();
    assert_eq!(db.count("mail_outbox", "recipient IS NOT NULL").await, 1, "the retried mail still needs it");
    let retried = db.store.claim_due(at(200), SignedDuration::from_secs(60), 10).await.unwrap();
    db.store.mark_sent(retried[0].mail.id, at(201)).await.unwrap();

    assert_eq!(db.count("mail_outbox", "recipient IS NOT NULL").await, 0);
    let dump = crate::safety::dump(db).await;
    assert!(!dump.contains(address.as_str()), "the address is gone from every table");
    assert!(!dump.contains("Host Patient"), "the outbox never held the name");
    let sql = match db.backend() {
        DbBackend::Postgres => {
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'mail_outbox'"
        }
        _ => "SELECT name FROM pragma_table_info('mail_outbox')",
    };
    let columns: Vec<String> = db.query(sql).await.iter().map(|r| r.try_get::<String>("", "name").unwrap()).collect();
    assert!(columns.iter().any(|c| c == "recipient"));
    assert!(!columns.iter().any(|c| c == "recipient_name" || c == "language"), "{columns:?}");
}
