//! Account commits: versions, usernames, tokens and what a commit writes.

use super::*;

#[tokio::test]
async fn a_never_stored_account_is_new_at_version_zero() -> TestResult {
    let world = World::new().await?;
    let account = world.store.account(world.practice.id, &world.client.id).await?;
    assert_eq!(account, PortalAccount::new(world.practice.id, world.client.id.clone()));
    // The store does not know the host's clients: any id has an account, new until stored.
    let unknown = ClientId::parse("not-in-any-directory")?;
    assert_eq!(world.store.account(world.practice.id, &unknown).await?.version(), 0);
    Ok(())
}

#[tokio::test]
async fn a_stale_version_conflicts_and_changes_nothing() -> TestResult {
    let world = World::new().await?;
    let client = &world.client;
    world.invite(client, at(0)).await?;
    let mut first = world.store.account(world.practice.id, &client.id).await?;
    let mut second = first.clone();
    assert_eq!(first.version(), 1);

    let winner = world.token(TokenPurpose::Invite, at(10))?;
    first.issue_invite(winner.clone())?;
    world.store.commit(change(first, at(10))).await?;

    let loser = world.token(TokenPurpose::Invite, at(11))?;
    second.issue_invite(loser.clone())?;
    let (outbox, audit) = (world.store.outbox(), world.store.audit_events());
    let stale = AccountCommit {
        mail: vec![world.mail(client, &loser, at(11))?],
        audit: vec![world.event(client, AuditAction::InviteResent, at(11))?],
        revoke_sessions: true,
        ..change(second, at(11))
    };
    let result = world.store.commit(stale).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

    let stored = world.store.account(world.practice.id, &client.id).await?;
    assert_eq!(stored.version(), 2);
    assert_eq!(stored.invite(), Some(&winner));
    assert_eq!(world.store.outbox(), outbox);
    assert_eq!(world.store.audit_events(), audit);
    assert_eq!(world.store.live_tokens(&client.id), vec![winner]);
    assert!(world.store.token_history(&client.id).iter().all(|t| t.token.id != loser.id));
    assert_eq!(world.store.account_by_token(TokenPurpose::Invite, &loser.hash).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_first_commit_conflicts_once_an_account_exists() -> TestResult {
    let world = World::new().await?;
    world.invite(&world.client, at(0)).await?;
    let mut fresh = PortalAccount::new(world.practice.id, world.client.id.clone());
    fresh.issue_invite(world.token(TokenPurpose::Invite, at(5))?)?;
    let result = world.store.commit(change(fresh, at(5))).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert_eq!(world.store.account(world.practice.id, &world.client.id).await?.version(), 1);
    Ok(())
}

#[tokio::test]
async fn accounts_are_keyed_by_practice_and_the_hosts_own_client_id() -> TestResult {
    // The host owns clients (design §7): an id the bundled client table has never seen is a
    // client like any other, and the same host id in two practices names two clients.
    let world = World::new().await?;
    let other = world.other_practice("elsewhere").await?;
    let host_id = ClientId::parse("12345")?;
    for practice in [world.practice.id, other.id] {
        let mut account = PortalAccount::new(practice, host_id.clone());
        account.issue_invite(world.token(TokenPurpose::Invite, at(0))?)?;
        world.store.commit(change(account, at(0))).await?;
    }
    let here = world.store.account(world.practice.id, &host_id).await?;
    let there = world.store.account(other.id, &host_id).await?;
    assert_eq!((here.version(), there.version()), (1, 1));
    assert_ne!(here.invite().map(|t| t.id), there.invite().map(|t| t.id));
    assert_eq!(world.store.account(world.practice.id, &ClientId::parse("12346")?).await?.version(), 0);
    Ok(())
}

#[tokio::test]
async fn the_batch_read_returns_only_stored_accounts_of_the_practice_with_their_tokens() -> TestResult {
    let world = World::new().await?;
    let other = world.other_practice("elsewhere").await?;
    world.invite(&world.client, at(0)).await?;
    let stranger = ClientId::parse("MRN-0042")?;
    let mut foreign = PortalAccount::new(other.id, stranger.clone());
    foreign.issue_invite(world.token(TokenPurpose::Invite, at(0))?)?;
    world.store.commit(change(foreign, at(0))).await?;

    let asked = [world.client.id.clone(), stranger, ClientId::parse("never-seen")?];
    let found = world.store.accounts(world.practice.id, &asked).await?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].client_id(), &world.client.id);
    assert!(found[0].invite().is_some(), "the current invite comes with the account");
    assert!(world.store.accounts(world.practice.id, &[]).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_taken_username_is_refused_and_writes_no_mail_or_audit() -> TestResult {
    let world = World::new().await?;
    world.register(&world.client, "ada").await?;
    let grace = world.add_client(world.practice.id, "Grace Hopper").await?;
    let invite = world.invite(&grace, at(0)).await?;
    let before = world.store.account(world.practice.id, &grace.id).await?;
    let (outbox, audit) = (world.store.outbox(), world.store.audit_events());

    let mut commit = world.registration(&grace, &invite, "ADA", at(60)).await?;
    commit.mail.push(world.mail(&grace, &invite, at(60))?);
    commit.clear_throttle = true;
    let result = world.store.commit(commit).await;
    assert!(matches!(result, Err(StoreError::UsernameTaken)), "{result:?}");
    assert_eq!(world.store.account(world.practice.id, &grace.id).await?, before);
    assert_eq!(world.store.outbox(), outbox);
    assert_eq!(world.store.audit_events(), audit);
    assert_eq!(world.store.live_tokens(&grace.id), vec![invite.clone()]);

    // The same name in another practice is someone else's.
    let other = world.other_practice("elsewhere").await?;
    let stranger = world.add_client(other.id, "Ada Byron").await?;
    world.register(&stranger, "ada").await?;
    let found = world.store.account_by_username(world.practice.id, &Username::parse("Ada")?).await?;
    assert_eq!(found.map(|a| a.client_id().clone()), Some(world.client.id.clone()));
    let found = world.store.account_by_username(other.id, &Username::parse("ada")?).await?;
    assert_eq!(found.map(|a| a.client_id().clone()), Some(stranger.id));
    assert_eq!(world.store.account_by_username(world.practice.id, &Username::parse("grace")?).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_resend_voids_the_previous_invite() -> TestResult {
    let world = World::new().await?;
    let client = &world.client;
    let old = world.invite(client, at(0)).await?;
    let new = world.invite(client, at(60)).await?;

    let history = world.store.token_history(&client.id);
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].token.id, history[0].voided_at), (old.id, Some(at(60))));
    assert_eq!((history[1].token.id, history[1].voided_at), (new.id, None));
    assert_eq!(world.store.live_tokens(&client.id), vec![new.clone()]);

    // The old link still finds the account, whose current invite is the new one.
    let account = world.store.account_by_token(TokenPurpose::Invite, &old.hash).await?;
    let account = account.ok_or("the voided token's account")?;
    assert_eq!(account.invite(), Some(&new));
    assert_eq!(account.check_invite(&old.hash, at(61)).err(), Some(InviteRedeemRefused::InviteNotFound));
    assert!(account.check_invite(&new.hash, at(61)).is_ok());
    assert_eq!(world.store.account_by_token(TokenPurpose::Reset, &new.hash).await?, None);
    assert_eq!(world.store.account_by_token(TokenPurpose::Invite, &TokenHash::of(b"never")).await?, None);
    Ok(())
}

#[tokio::test]
async fn registration_uses_the_invite_and_disable_voids_the_pending_reset() -> TestResult {
    let world = World::new().await?;
    let client = &world.client;
    world.register(client, "ada").await?;
    let history = world.store.token_history(&client.id);
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].token.state, history[0].voided_at), (TokenState::Used { at: at(60) }, None));
    assert!(world.store.live_tokens(&client.id).is_empty());

    let reset = world.reset(client, at(120)).await?;
    assert_eq!(world.store.live_tokens(&client.id), vec![reset.clone()]);
    let mut account = world.store.account(world.practice.id, &client.id).await?;
    account.disable(None, at(180))?;
    world.store.commit(change(account, at(180))).await?;

    let stored = world.store.account(world.practice.id, &client.id).await?;
    assert!(matches!(stored.state(), AccountState::Disabled { .. }));
    assert_eq!(stored.reset(), None);
    assert!(world.store.live_tokens(&client.id).is_empty());
    let voided = world.store.token_history(&client.id).into_iter().find(|t| t.token.id == reset.id);
    assert_eq!(voided.and_then(|t| t.voided_at), Some(at(180)));
    let by_token = world.store.account_by_token(TokenPurpose::Reset, &reset.hash).await?;
    assert_eq!(by_token, Some(stored));
    Ok(())
}

#[tokio::test]
async fn a_commit_queues_mail_and_audit_and_revokes_sessions_and_clears_the_throttle() -> TestResult {
    let world = World::new().await?;
    let (client, practice) = (&world.client, world.practice.id);
    world.register(client, "ada").await?;
    let grace = world.add_client(practice, "Grace Hopper").await?;
    let event = |who: &Client| world.event(who, AuditAction::SignInSucceeded, at(100));
    world.store.create_session(&world.session(client, b"s1", at(100))?, &event(client)?).await?;
    world.store.create_session(&world.session(client, b"s2", at(100))?, &event(client)?).await?;
    let kept = world.session(&grace, b"s3", at(100))?;
    world.store.create_session(&kept, &event(&grace)?).await?;
    world.store.record_failure(practice, "ada", at(110)).await?;
    world.store.record_failure(practice, "grace", at(110)).await?;

    let mut account = world.store.account(practice, &client.id).await?;
    account.disable(None, at(200))?;
    let disabled = world.event(client, AuditAction::AccountDisabled, at(200))?;
    let commit = AccountCommit {
        audit: vec![disabled.clone()],
        revoke_sessions: true,
        clear_throttle: true,
        ..change(account, at(200))
    };
    world.store.commit(commit).await?;

    assert_eq!(world.store.sessions(), vec![kept]);
    assert_eq!(world.store.session_by_token(&TokenHash::of(b"s1")).await?, None);
    assert_eq!(world.store.throttle(practice, "ada").await?, ThrottleState::default());
    assert_eq!(world.store.throttle(practice, "grace").await?.failures, 1);
    assert_eq!(world.store.audit_events().last(), Some(&disabled));

    // The invitation's mail was still queued when registration used its link, so that
    // commit cancelled it: a dead link is never mailed.
    let outbox = world.store.outbox();
    assert_eq!(outbox.len(), 1);
    let (mail, delivery) = &outbox[0];
    assert_eq!(mail.client_id, client.id);
    assert!(
        matches!(delivery, DeliveryState::Failed { problem, .. } if *problem == DeliveryProblem::link_superseded()),
        "{delivery:?}"
    );
    assert_eq!(world.store.pending_count().await?, 0);
    Ok(())
}

#[tokio::test]
async fn reused_ids_are_duplicates_and_write_nothing() -> TestResult {
    let world = World::new().await?;
    let client = &world.client;
    let invite = world.invite(client, at(0)).await?;
    let queued = world.store.outbox()[0].0.clone();
    let mut account = world.store.account(world.practice.id, &client.id).await?;
    let resend = world.token(TokenPurpose::Invite, at(5))?;
    account.issue_invite(resend.clone())?;
    let commit = AccountCommit { mail: vec![queued], ..change(account, at(5)) };
    let result = world.store.commit(commit).await;
    assert!(matches!(result, Err(StoreError::Duplicate("mail"))), "{result:?}");
    assert_eq!(world.store.live_tokens(&client.id), vec![invite]);

    let event = world.event(client, AuditAction::SignInFailed, at(6))?;
    let result = world.store.append(&[event.clone(), event.clone()]).await;
    assert!(matches!(result, Err(StoreError::Duplicate("audit event"))), "{result:?}");
    assert!(!world.store.audit_events().contains(&event));
    world.store.append(std::slice::from_ref(&event)).await?;
    let result = world.store.append(&[event]).await;
    assert!(matches!(result, Err(StoreError::Duplicate("audit event"))), "{result:?}");
    Ok(())
}
