//! Bulk inserts (`SeaOrmStore::insert_clients`, `insert_accounts`): many rows in multi-row
//! INSERTs, batch by batch, read back exactly like rows written one at a time.

use portal_core::{
    AccountState, AccountStore, ClientDirectory, ClientId, Credentials, DisableReason, EmailAddress, Language,
    PortalAccount, Practice, StoreError, TokenPurpose, TokenState,
};

use crate::fixtures::{World, at, client_with_id, host_id, password_hash, practice, staff, token, username};
use crate::harness::TestDb;

/// More than one transaction's worth (10,000) and many statements' worth.
const MANY: usize = 12_345;

fn numbered_client(practice: &Practice, number: usize) -> portal_core::Client {
    let mut client = client_with_id(practice, host_id(&format!("bulk-{number}")), &format!("Client {number}"));
    client.email =
        (!number.is_multiple_of(10)).then(|| EmailAddress::parse(&format!("client-{number}@example.org")).unwrap());
    client.language = if number.is_multiple_of(3) { Language::Es } else { Language::En };
    client.email_consent = !number.is_multiple_of(7);
    client.created_at = at(i64::try_from(number).unwrap());
    client
}

async fn second_practice(db: &TestDb) -> Practice {
    let other = practice("other");
    let key = portal_core::TokenHash::of(b"pst_other");
    portal_core::Directory::create_practice(&db.store, &other, &staff(&other, "Desk"), &key).await.unwrap();
    other
}

pub async fn bulk_inserted_clients_read_back_like_created_ones(db: &TestDb) {
    let world = World::new(db).await;
    let other = second_practice(db).await;
    let clients: Vec<_> = (0..MANY)
        .map(|number| numbered_client(if number % 2 == 0 { &world.practice } else { &other }, number))
        .collect();

    assert_eq!(db.store.insert_clients(&clients).await.unwrap(), MANY as u64);

    // One client the usual way (the world's) plus every bulk one.
    assert_eq!(db.count("clients", "").await, i64::try_from(MANY).unwrap() + 1);
    for number in [0, 1, 9_999, 10_000, MANY - 1] {
        let expected = &clients[number];
        assert_eq!(db.store.client(expected.practice_id, &expected.id).await.unwrap().as_ref(), Some(expected));
    }
    // Only in its own practice.
    let odd = &clients[1];
    assert_eq!(db.store.client(world.practice.id, &odd.id).await.unwrap(), None);
    let ids: Vec<ClientId> = (0..MANY).step_by(2).take(500).map(|number| clients[number].id.clone()).collect();
    let mut read = db.store.clients(world.practice.id, &ids).await.unwrap();
    read.sort_by_key(|client| client.created_at);
    assert_eq!(read, (0..MANY).step_by(2).take(500).map(|number| clients[number].clone()).collect::<Vec<_>>());
    // No audit event: a bulk insert leaves the record keeping to its caller.
    assert_eq!(db.count("audit_events", "").await, 1, "only the world's own client was audited");
}

pub async fn a_bulk_batch_with_a_taken_id_or_an_unknown_practice_stores_nothing_of_it(db: &TestDb) {
    let world = World::new(db).await;
    let mut clients: Vec<_> = (0..100).map(|number| numbered_client(&world.practice, number)).collect();
    clients.push(numbered_client(&world.practice, 7));
    assert!(matches!(db.store.insert_clients(&clients).await, Err(StoreError::Duplicate("client"))));
    assert_eq!(db.count("clients", "").await, 1);

    let taken = client_with_id(&world.practice, world.client.id.clone(), "Someone Else");
    assert!(matches!(db.store.insert_clients(&[taken]).await, Err(StoreError::Duplicate("client"))));

    let nowhere = practice("nowhere");
    let orphan = numbered_client(&nowhere, 1);
    assert!(matches!(db.store.insert_clients(&[orphan]).await, Err(StoreError::NotFound("practice"))));
    assert_eq!(db.count("clients", "").await, 1);
}

/// Accounts in every stored shape: invited, registered (their invitation used), disabled with
/// a reason, active with a pending reset.
fn accounts_of(world: &World, count: usize) -> Vec<PortalAccount> {
    (0..count)
        .map(|number| {
            let client = host_id(&format!("bulk-{number}"));
            let credentials = || Credentials {
                username: username(&format!("user-{number}")),
                password_hash: password_hash("c2FsdA"),
                registered_at: at(10),
                password_changed_at: at(20),
            };
            let mut invite = token(TokenPurpose::Invite, &format!("invite-{number}"), at(0));
            match number % 4 {
                0 => PortalAccount::restore(world.practice.id, client, 1, AccountState::NoAccount, Some(invite), None),
                1 => {
                    invite.state = TokenState::Used { at: at(10) };
                    PortalAccount::restore(
                        world.practice.id,
                        client,
                        2,
                        AccountState::Active(credentials()),
                        Some(invite),
                        None,
                    )
                }
                2 => {
                    invite.state = TokenState::Used { at: at(10) };
                    let state = AccountState::Disabled {
                        credentials: credentials(),
                        reason: Some(DisableReason::parse("moved away").unwrap()),
                        since: at(30),
                    };
                    PortalAccount::restore(world.practice.id, client, 3, state, Some(invite), None)
                }
                _ => {
                    invite.state = TokenState::Used { at: at(10) };
                    let reset = token(TokenPurpose::Reset, &format!("reset-{number}"), at(40));
                    PortalAccount::restore(
                        world.practice.id,
                        client,
                        3,
                        AccountState::Active(credentials()),
                        Some(invite),
                        Some(reset),
                    )
                }
            }
        })
        .collect()
}

pub async fn bulk_inserted_accounts_read_back_with_their_tokens(db: &TestDb) {
    let world = World::new(db).await;
    let accounts = accounts_of(&world, MANY);

    assert_eq!(db.store.insert_accounts(&accounts).await.unwrap(), MANY as u64);

    assert_eq!(db.count("portal_accounts", "").await, i64::try_from(MANY).unwrap());
    let tokens = MANY + MANY / 4; // every account's invitation, and a reset for a quarter
    assert_eq!(db.count("tokens", "").await, i64::try_from(tokens).unwrap());
    for number in [0, 1, 2, 3, 9_999, 10_000, MANY - 1] {
        let expected = &accounts[number];
        let stored = db.store.account(world.practice.id, expected.client_id()).await.unwrap();
        assert_eq!(&stored, expected, "account {number}");
        let invite = expected.invite().unwrap();
        assert_eq!(
            db.store.account_by_token(TokenPurpose::Invite, &invite.hash).await.unwrap().as_ref(),
            Some(expected)
        );
        if let Some(name) = expected.username() {
            let found = db.store.account_by_username(world.practice.id, &username(&name.as_str().to_uppercase())).await;
            assert_eq!(found.unwrap().as_ref(), Some(expected));
        }
    }
    // A stored account can change the usual way from its stored version.
    let mut invited = db.store.account(world.practice.id, accounts[0].client_id()).await.unwrap();
    invited.issue_invite(token(TokenPurpose::Invite, "resent", at(50))).unwrap();
    db.store.commit(crate::fixtures::change(invited, at(50))).await.unwrap();
}

pub async fn a_bulk_account_batch_with_a_taken_username_stores_nothing_of_it(db: &TestDb) {
    let world = World::new(db).await;
    let first = accounts_of(&world, 8);
    db.store.insert_accounts(&first[..4]).await.unwrap();

    // `user-1` again, for another client, in a batch of otherwise new accounts.
    let mut again = first[4..].to_vec();
    let taken =
        PortalAccount::restore(world.practice.id, host_id("someone-else"), 1, first[1].state().clone(), None, None);
    again.push(taken);
    assert!(matches!(db.store.insert_accounts(&again).await, Err(StoreError::UsernameTaken)));
    assert_eq!(db.count("portal_accounts", "").await, 4);
    assert_eq!(db.count("tokens", "").await, 5);

    // A second account for a client, or a token id already stored, is a duplicate.
    let fresh_invite = token(TokenPurpose::Invite, "fresh", at(60));
    let second = PortalAccount::restore(
        world.practice.id,
        first[0].client_id().clone(),
        1,
        AccountState::NoAccount,
        Some(fresh_invite),
        None,
    );
    assert!(matches!(db.store.insert_accounts(&[second]).await, Err(StoreError::Duplicate("account"))));
    assert!(matches!(db.store.insert_accounts(&first[..1]).await, Err(StoreError::Duplicate("token"))));
    assert_eq!((db.count("portal_accounts", "").await, db.count("tokens", "").await), (4, 5));
}

/// `Directory::import_clients`: an import's batch, each client with its audit event, all or
/// nothing.
pub async fn imported_clients_are_stored_with_their_audit_events_all_or_nothing(db: &TestDb) {
    use portal_core::{AuditAction, AuditLog, Directory};
    let world = World::new(db).await;
    let clients: Vec<_> = (0..2_500).map(|number| numbered_client(&world.practice, number)).collect();
    let audit: Vec<_> = clients
        .iter()
        .map(|client| crate::fixtures::event(world.practice.id, Some(&client.id), AuditAction::ClientCreated, at(5)))
        .collect();
    db.store.import_clients(&clients, &audit).await.unwrap();
    assert_eq!(db.count("clients", "").await, 2_501);
    assert_eq!(db.count("audit_events", "").await, 2_501);
    let last = &clients[2_499];
    assert_eq!(db.store.client(world.practice.id, &last.id).await.unwrap().as_ref(), Some(last));
    let trail = db.store.trail(world.practice.id, &last.id).await.unwrap();
    assert_eq!(trail.iter().map(|event| event.action).collect::<Vec<_>>(), [AuditAction::ClientCreated]);

    // A taken id anywhere in the batch: nothing of the batch, audit events included.
    let mut again: Vec<_> = (5_000..5_010).map(|number| numbered_client(&world.practice, number)).collect();
    again.push(clients[3].clone());
    let audit: Vec<_> = again
        .iter()
        .map(|client| crate::fixtures::event(world.practice.id, Some(&client.id), AuditAction::ClientCreated, at(6)))
        .collect();
    assert!(matches!(db.store.import_clients(&again, &audit).await, Err(StoreError::Duplicate("client"))));
    let nowhere = practice("nowhere");
    let orphan = numbered_client(&nowhere, 1);
    let orphan_audit = crate::fixtures::event(world.practice.id, Some(&orphan.id), AuditAction::ClientCreated, at(7));
    assert!(matches!(db.store.import_clients(&[orphan], &[orphan_audit]).await, Err(StoreError::NotFound("practice"))));
    assert_eq!(db.count("clients", "").await, 2_501);
    assert_eq!(db.count("audit_events", "").await, 2_501);
}
