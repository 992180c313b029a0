//! The mail outbox: leases, retries, the purge of sent mail, final failures.

use crate::testing::store::PURGED_ADDRESS;

use super::*;

/// Three clients, each invited (so each with one queued mail) at 0 s, 10 s and 20 s.
async fn three_invitations(world: &World) -> TestResult<Vec<IssuedToken>> {
    let mut tokens = vec![world.invite(&world.client, at(0)).await?];
    for (name, secs) in [("Grace Hopper", 10), ("Alan Turing", 20)] {
        let client = world.add_client(world.practice.id, name).await?;
        tokens.push(world.invite(&client, at(secs)).await?);
    }
    Ok(tokens)
}

fn mail_ids(claimed: &[ClaimedMail]) -> Vec<TokenId> {
    claimed.iter().filter_map(|c| c.mail.kind.token_id()).collect()
}

#[tokio::test]
async fn a_claim_leases_due_rows_until_the_lease_lapses() -> TestResult {
    let world = World::new().await?;
    let tokens = three_invitations(&world).await?;
    let ids: Vec<TokenId> = tokens.iter().map(|t| t.id).collect();
    let lease = SignedDuration::from_secs(60);

    let claimed = world.store.claim_due(at(5), lease, 10).await?;
    assert_eq!(mail_ids(&claimed), ids[..1]);
    assert_eq!((claimed[0].attempts, claimed[0].lease_until), (0, at(65)));
    // Leased rows are skipped; the limit is kept; the earliest due goes first.
    assert_eq!(mail_ids(&world.store.claim_due(at(30), lease, 1).await?), ids[1..2]);
    assert_eq!(mail_ids(&world.store.claim_due(at(30), lease, 10).await?), ids[2..]);
    assert!(world.store.claim_due(at(64), lease, 10).await?.is_empty());
    // A lapsed lease (lease_until <= now) frees the row for another dispatcher.
    let reclaimed = world.store.claim_due(at(65), lease, 10).await?;
    assert_eq!(mail_ids(&reclaimed), ids[..1]);
    assert_eq!(reclaimed[0].lease_until, at(125));
    assert_eq!(world.store.pending_count().await?, 3);
    Ok(())
}

#[tokio::test]
async fn retry_later_counts_the_attempt_and_releases_the_lease() -> TestResult {
    let world = World::new().await?;
    let token = world.invite(&world.client, at(0)).await?;
    let lease = SignedDuration::from_secs(60);
    let claimed = world.store.claim_due(at(1), lease, 10).await?;
    let id = claimed[0].mail.id;
    let refused = DeliveryProblem::new(DeliveryCause::Unreachable, "connection refused");
    world.store.retry_later(id, at(300), &refused).await?;

    let expected = DeliveryState::Pending { attempts: 1, next_attempt_at: at(300), last_problem: Some(refused) };
    assert_eq!(world.store.delivery_for_token(token.id).await?, Some(expected));
    assert!(world.store.claim_due(at(299), lease, 10).await?.is_empty());
    let again = world.store.claim_due(at(300), lease, 10).await?;
    assert_eq!((again[0].mail.id, again[0].attempts), (id, 1));
    Ok(())
}

#[tokio::test]
async fn a_sent_mail_is_purged_and_never_claimed_again() -> TestResult {
    let world = World::new().await?;
    let token = world.invite(&world.client, at(0)).await?;
    let claimed = world.store.claim_due(at(1), SignedDuration::from_secs(60), 10).await?;
    let original = claimed[0].mail.clone();
    world.store.mark_sent(original.id, at(2)).await?;

    assert_eq!(world.store.delivery_for_token(token.id).await?, Some(DeliveryState::Sent { at: at(2) }));
    assert_eq!(world.store.pending_count().await?, 0);
    assert!(world.store.claim_due(at(10_000), SignedDuration::from_secs(60), 10).await?.is_empty());
    let (purged, _) = world.store.outbox().remove(0);
    assert_eq!(purged.to.as_str(), PURGED_ADDRESS);
    let nil = TokenId::from_uuid(uuid::Uuid::nil());
    assert_eq!(purged.kind, MailKind::Invitation { token_id: nil, expires_at: token.expires_at });
    assert_eq!(
        (purged.id, purged.practice_id, &purged.client_id, purged.created_at),
        (original.id, original.practice_id, &original.client_id, original.created_at)
    );

    // Late reports about a finished row change nothing.
    let late = DeliveryProblem::new(DeliveryCause::Other, "late");
    world.store.retry_later(original.id, at(20), &late).await?;
    world.store.mark_failed(original.id, at(20), &late, Some(3)).await?;
    assert_eq!(world.store.delivery_for_token(token.id).await?, Some(DeliveryState::Sent { at: at(2) }));
    Ok(())
}

#[tokio::test]
async fn a_failed_mail_is_final() -> TestResult {
    let world = World::new().await?;
    let token = world.invite(&world.client, at(0)).await?;
    let claimed = world.store.claim_due(at(1), SignedDuration::from_secs(60), 10).await?;
    let problem = DeliveryProblem::new(DeliveryCause::AddressRefused, "550 mailbox unavailable");
    world.store.mark_failed(claimed[0].mail.id, at(2), &problem, None).await?;

    let failed = DeliveryState::Failed { at: at(2), problem, gave_up_after: None };
    assert_eq!(world.store.delivery_for_token(token.id).await?, Some(failed));
    assert_eq!(world.store.pending_count().await?, 0);
    assert!(world.store.claim_due(at(10_000), SignedDuration::from_secs(60), 10).await?.is_empty());
    assert_eq!(world.store.delivery_for_token(TokenId::generate(&world.random)?).await?, None);
    Ok(())
}
