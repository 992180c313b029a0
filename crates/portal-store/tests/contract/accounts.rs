//! `AccountStore`: loading accounts, and the one-transaction commit.

use portal_core::account::InviteRedeemRefused;
use portal_core::{
    AccountDecision, AccountState, AccountStore, AuditAction, AuditLog, ClientId, DeliveryState, DisableReason,
    MailKind, MailOutbox, PortalAccount, PortalStatus, ResetRequestHistory, SessionStore, StoreError, ThrottleStore,
    TokenHash, TokenPurpose, TokenState,
};

use crate::fixtures::{
    World, at, change, event, host_id, id, invitation, mail, notice, password_hash, session, token, username,
};
use crate::harness::TestDb;

async fn actions(db: &TestDb, world: &World, client: &ClientId) -> Vec<AuditAction> {
    db.store.trail(world.practice.id, client).await.unwrap().into_iter().map(|e| e.action).collect()
}

pub async fn a_client_without_a_stored_account_starts_at_version_zero_whoever_owns_it(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    // The store does not know the host's clients: any id reads as a fresh account.
    let host_only = host_id("MRN-0042");
    assert_eq!(
        db.store.account(world.practice.id, &host_only).await.unwrap(),
        PortalAccount::new(world.practice.id, host_only)
    );
    let account = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(account, PortalAccount::new(world.practice.id, world.client.id.clone()));
    assert_eq!(account.version(), 0);

    // An account belongs to (practice, client id): the same id in another practice is another client.
    world.invite(db, &world.client, "invite-secret", at(1)).await;
    assert_eq!(db.store.account(world.practice.id, &world.client.id).await.unwrap().version(), 1);
    let elsewhere = db.store.account(other.practice.id, &world.client.id).await.unwrap();
    assert_eq!(elsewhere, PortalAccount::new(other.practice.id, world.client.id.clone()));
}

pub async fn an_invitation_commits_the_account_token_mail_and_audit_together(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-secret", at(10)).await;

    let account = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(account.version(), 1);
    assert_eq!(account.invite(), Some(&invite));
    assert_eq!(account.status(at(11)), PortalStatus::Invited { sent_at: at(10), expires_at: invite.expires_at });
    assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &invite.hash).await.unwrap(), Some(account));
    assert_eq!(db.store.account_by_token(TokenPurpose::Reset, &invite.hash).await.unwrap(), None);
    assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &TokenHash::of(b"unknown")).await.unwrap(), None);
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
    assert_eq!(
        db.store.delivery_for_token(invite.id).await.unwrap(),
        Some(DeliveryState::Pending { attempts: 0, next_attempt_at: at(10), last_problem: None })
    );
    assert_eq!(actions(db, &world, &world.client.id).await, [AuditAction::ClientCreated, AuditAction::InviteSent]);
}

pub async fn a_commit_from_a_stale_version_is_a_conflict_and_writes_nothing(db: &TestDb) {
    let world = World::new(db).await;
    let fresh = db.store.account(world.practice.id, &world.client.id).await.unwrap();

    let mut first = fresh.clone();
    let a = token(TokenPurpose::Invite, "first", at(1));
    first.issue_invite(a.clone()).unwrap();
    db.store.commit(change(first, at(1))).await.unwrap();

    // A second writer that loaded version 0 too: an account row now exists.
    let mut late = fresh;
    let b = token(TokenPurpose::Invite, "second", at(2));
    late.issue_invite(b.clone()).unwrap();
    let mut commit = change(late, at(2));
    commit.mail.push(invitation(&world.client, &b));
    commit.audit.push(event(world.practice.id, Some(&world.client.id), AuditAction::InviteSent, at(2)));
    let err = db.store.commit(commit).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");

    // Two writers that loaded version 1.
    let loaded = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    let mut winner = loaded.clone();
    let c = token(TokenPurpose::Invite, "third", at(3));
    winner.issue_invite(c.clone()).unwrap();
    db.store.commit(change(winner, at(3))).await.unwrap();
    let mut loser = loaded;
    let d = token(TokenPurpose::Invite, "fourth", at(4));
    loser.issue_invite(d.clone()).unwrap();
    let mut commit = change(loser, at(4));
    commit.mail.push(invitation(&world.client, &d));
    commit.revoke_sessions = true;
    let err = db.store.commit(commit).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");

    let stored = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(stored.version(), 2);
    assert_eq!(stored.invite(), Some(&c));
    for lost in [&b, &d] {
        assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &lost.hash).await.unwrap(), None);
        assert_eq!(db.store.delivery_for_token(lost.id).await.unwrap(), None);
    }
    assert_eq!(db.count("tokens", "").await, 2);
    assert_eq!(db.count("mail_outbox", "").await, 0);
    assert_eq!(actions(db, &world, &world.client.id).await, [AuditAction::ClientCreated]);
}

pub async fn a_resend_voids_the_previous_invitation(db: &TestDb) {
    let world = World::new(db).await;
    let first = world.invite(db, &world.client, "first-link", at(0)).await;
    let second = world.invite(db, &world.client, "second-link", at(60)).await;

    let by_old = db.store.account_by_token(TokenPurpose::Invite, &first.hash).await.unwrap().unwrap();
    assert_eq!(by_old.invite(), Some(&second), "the account's current invite is the new one");
    assert_eq!(by_old.check_invite(&first.hash, at(61)), Err(InviteRedeemRefused::InviteNotFound));
    assert!(by_old.check_invite(&second.hash, at(61)).is_ok());
    assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &second.hash).await.unwrap(), Some(by_old));

    let voided_at = at(60).as_microsecond();
    assert_eq!(db.count("tokens", &format!("voided_at = {voided_at} AND used_at IS NULL")).await, 1);
    assert_eq!(db.count("tokens", "voided_at IS NULL AND used_at IS NULL").await, 1);
}

pub async fn registering_uses_the_invitation_and_the_username_is_found_case_insensitively(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    let account = world.register(db, &world.client, "Ada.L", at(5)).await;

    assert_eq!(account.version(), 2);
    assert!(account.is_active());
    assert_eq!(account.username().map(|u| u.as_str()), Some("ada.l"));
    assert_eq!(account.invite().map(|t| t.state), Some(TokenState::Used { at: at(5) }));
    let found = db.store.account_by_username(world.practice.id, &username("ADA.L")).await.unwrap();
    assert_eq!(found, Some(account.clone()));
    assert_eq!(db.store.account_by_username(other.practice.id, &username("ada.l")).await.unwrap(), None);
    assert_eq!(db.store.account_by_username(world.practice.id, &username("nobody")).await.unwrap(), None);
    let invite = account.invite().unwrap();
    assert_eq!(db.store.account_by_token(TokenPurpose::Invite, &invite.hash).await.unwrap(), Some(account.clone()));
    assert_eq!(db.count("tokens", "used_at IS NOT NULL AND voided_at IS NULL").await, 1);
}

pub async fn a_username_taken_in_the_practice_is_refused_whatever_the_case(db: &TestDb) {
    let world = World::new(db).await;
    world.register(db, &world.client, "ada", at(1)).await;
    let bob = world.add_client(db, "Bob").await;
    let invite = world.invite(db, &bob, "bob-link", at(2)).await;

    let mut account = db.store.account(world.practice.id, &bob.id).await.unwrap();
    account.register(&invite.hash, username("ADA"), password_hash("Ym9i"), at(3)).unwrap();
    let mut commit = change(account, at(3));
    commit.audit.push(event(world.practice.id, Some(&bob.id), AuditAction::Registered, at(3)));
    commit.mail.push(notice(&bob, at(3)));
    let err = db.store.commit(commit).await.unwrap_err();
    assert!(matches!(err, StoreError::UsernameTaken), "{err:?}");

    let unchanged = db.store.account(world.practice.id, &bob.id).await.unwrap();
    assert_eq!(unchanged.version(), 1);
    assert_eq!(unchanged.state(), &AccountState::NoAccount);
    assert_eq!(unchanged.invite(), Some(&invite));
    assert_eq!(actions(db, &world, &bob.id).await, [AuditAction::ClientCreated, AuditAction::InviteSent]);
    assert_eq!(db.store.pending_count().await.unwrap(), 1, "only Bob's invitation (Ada's registration cancelled hers)");

    // Another practice may use the same name.
    let other = World::with_slug(db, "moonrise").await;
    let elsewhere = other.register(db, &other.client, "ada", at(4)).await;
    assert!(elsewhere.is_active());
}

pub async fn disabling_voids_a_pending_reset_and_revokes_sessions_and_enabling_restores_neither(db: &TestDb) {
    let world = World::new(db).await;
    let mut account = world.register(db, &world.client, "ada", at(1)).await;
    let signed_in = session(&world.client, "session-secret", at(2));
    db.store
        .create_session(
            &signed_in,
            &event(world.practice.id, Some(&world.client.id), AuditAction::SignInSucceeded, at(2)),
        )
        .await
        .unwrap();

    let reset = token(TokenPurpose::Reset, "reset-link", at(20));
    account.issue_reset(reset.clone()).unwrap();
    let mut commit = change(account, at(20));
    commit.mail.push(mail(
        &world.client,
        MailKind::PasswordReset { token_id: reset.id, expires_at: reset.expires_at },
        at(20),
    ));
    db.store.commit(commit).await.unwrap();

    let mut account = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(account.reset(), Some(&reset));
    account.disable(Some(DisableReason::parse("moved away").unwrap()), at(30)).unwrap();
    let mut commit = change(account, at(30));
    commit.revoke_sessions = true;
    commit.audit.push(event(world.practice.id, Some(&world.client.id), AuditAction::AccountDisabled, at(30)));
    db.store.commit(commit).await.unwrap();

    assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), None);
    let disabled = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    match disabled.state() {
        AccountState::Disabled { reason, since, .. } => {
            assert_eq!(reason.as_ref().map(|r| r.as_str()), Some("moved away"));
            assert_eq!(*since, at(30));
        }
        other => panic!("expected a disabled account, got {other:?}"),
    }
    assert_eq!(disabled.reset(), None);
    assert_eq!(db.store.account_by_token(TokenPurpose::Reset, &reset.hash).await.unwrap(), Some(disabled.clone()));
    let voided_at = at(30).as_microsecond();
    assert_eq!(db.count("tokens", &format!("purpose = 'reset' AND voided_at = {voided_at}")).await, 1);

    let mut account = disabled;
    account.enable().unwrap();
    db.store.commit(change(account, at(40))).await.unwrap();
    let enabled = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert!(enabled.is_active());
    assert_eq!(enabled.reset(), None);
    assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), None);
}

pub async fn completing_a_reset_replaces_the_password_and_clears_the_throttle(db: &TestDb) {
    let world = World::new(db).await;
    let mut account = world.register(db, &world.client, "ada", at(1)).await;
    for second in 2..5 {
        db.store.record_failure(world.practice.id, "ada", at(second)).await.unwrap();
    }
    db.store.record_failure(world.practice.id, "someone-else", at(5)).await.unwrap();
    let signed_in = session(&world.client, "session-secret", at(6));
    db.store
        .create_session(
            &signed_in,
            &event(world.practice.id, Some(&world.client.id), AuditAction::SignInSucceeded, at(6)),
        )
        .await
        .unwrap();

    let reset = token(TokenPurpose::Reset, "reset-link", at(10));
    account.issue_reset(reset.clone()).unwrap();
    db.store.commit(change(account, at(10))).await.unwrap();

    let mut account = db.store.account_by_token(TokenPurpose::Reset, &reset.hash).await.unwrap().unwrap();
    account.complete_reset(&reset.hash, password_hash("bmV3"), at(40)).unwrap();
    let mut commit = change(account, at(40));
    commit.clear_throttle = true;
    commit.revoke_sessions = true;
    commit.mail.push(notice(&world.client, at(40)));
    commit.audit.push(event(world.practice.id, Some(&world.client.id), AuditAction::ResetCompleted, at(40)));
    db.store.commit(commit).await.unwrap();

    let stored = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    let credentials = stored.credentials().unwrap();
    assert_eq!(credentials.password_hash, password_hash("bmV3"));
    assert_eq!(credentials.password_changed_at, at(40));
    assert_eq!(credentials.registered_at, at(1));
    assert_eq!(stored.reset().map(|t| t.state), Some(TokenState::Used { at: at(40) }));
    assert_eq!(db.store.throttle(world.practice.id, "ada").await.unwrap(), Default::default());
    assert_eq!(db.store.throttle(world.practice.id, "someone-else").await.unwrap().failures, 1);
    assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), None);
}

pub async fn a_token_id_of_another_client_is_refused(db: &TestDb) {
    let world = World::new(db).await;
    let ada_invite = world.invite(db, &world.client, "ada-link", at(1)).await;
    let bob = world.add_client(db, "Bob").await;
    let mut account = db.store.account(world.practice.id, &bob.id).await.unwrap();
    let mut copied = token(TokenPurpose::Invite, "bob-link", at(2));
    copied.id = ada_invite.id;
    account.issue_invite(copied).unwrap();
    let err = db.store.commit(change(account, at(2))).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("token")), "{err:?}");
    assert_eq!(db.store.account(world.practice.id, &bob.id).await.unwrap().version(), 0);
}

pub async fn a_commit_for_an_unknown_practice_is_not_found_and_writes_nothing(db: &TestDb) {
    let world = World::new(db).await;
    let nowhere = portal_core::PracticeId::from_uuid(id());
    let mut account = PortalAccount::new(nowhere, world.client.id.clone());
    account.issue_invite(token(TokenPurpose::Invite, "link", at(1))).unwrap();
    let err = db.store.commit(change(account, at(1))).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("practice")), "{err:?}");
    assert_eq!(db.count("portal_accounts", "").await, 0);
    assert_eq!(db.count("tokens", "").await, 0);
}

pub async fn the_client_started_reset_limit_is_kept_with_the_account_and_read_by_every_lookup(db: &TestDb) {
    let world = World::new(db).await;
    world.register(db, &world.client, "ada", at(1)).await;

    // Two requested resets, each decided under the client's lock, as the service does.
    for (second, secret) in [(10, "first-request"), (1_000, "second-request")] {
        db.store
            .update_account(world.practice.id, &world.client.id, &mut |mut account| {
                account.request_reset(token(TokenPurpose::Reset, secret, at(second)), at(second)).unwrap();
                AccountDecision::Commit(Box::new(change(account, at(second))))
            })
            .await
            .unwrap();
    }
    let stored = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    let history = *stored.reset_requests();
    assert_eq!(history.day_started_at(), Some(at(10)));
    assert_eq!(history.sent_in_day(), 2);
    assert_eq!(history.last_sent_at(), Some(at(1_000)));
    // Every way of loading the account reads it, and a change that is not a request keeps it.
    let by_name = db.store.account_by_username(world.practice.id, &username("ada")).await.unwrap().unwrap();
    assert_eq!(*by_name.reset_requests(), history);
    let mut account = db.store.account_by_token(TokenPurpose::Reset, &TokenHash::of(b"second-request")).await.unwrap();
    assert_eq!(account.as_ref().map(|a| *a.reset_requests()), Some(history));
    let mut account = account.take().unwrap();
    account.disable(None, at(2_000)).unwrap();
    db.store.commit(change(account, at(2_000))).await.unwrap();
    let stored = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(*stored.reset_requests(), history);
    assert_eq!(db.store.accounts(world.practice.id, std::slice::from_ref(&world.client.id)).await.unwrap()[0], stored);
    // A fresh account has none.
    let other = world.add_client(db, "Grace Hopper").await;
    world.register(db, &other, "grace", at(3)).await;
    let grace = db.store.account(world.practice.id, &other.id).await.unwrap();
    assert_eq!(*grace.reset_requests(), ResetRequestHistory::default());
}
