//! `MailOutbox`: claims with a lease, delivery reports, the purge.

use std::collections::HashSet;

use jiff::SignedDuration;
use portal_core::{DeliveryCause, DeliveryProblem, DeliveryState, MailOutbox};

use crate::fixtures::{World, at, invitation, notice, queue};
use crate::harness::TestDb;

const LEASE: SignedDuration = SignedDuration::from_secs(60);

pub async fn claimed_mail_is_leased_and_claimable_again_only_after_the_lease_lapses(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-link", at(10)).await;

    let claimed = db.store.claim_due(at(10), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let expected = invitation(&world.client, &invite);
    assert_eq!(claimed[0].mail, portal_core::OutgoingMail { id: claimed[0].mail.id, ..expected });
    assert_eq!(claimed[0].attempts, 0);
    assert_eq!(claimed[0].lease_until, at(70));

    assert!(db.store.claim_due(at(10), LEASE, 10).await.unwrap().is_empty(), "a second claimer gets nothing");
    assert!(db.store.claim_due(at(69), LEASE, 10).await.unwrap().is_empty(), "the lease holds until it ends");
    let reclaimed = db.store.claim_due(at(70), LEASE, 10).await.unwrap();
    assert_eq!(reclaimed.len(), 1, "a lapsed lease is claimable again");
    assert_eq!(reclaimed[0].mail, claimed[0].mail);
    assert_eq!(reclaimed[0].lease_until, at(130));
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
}

pub async fn only_due_rows_are_claimed_oldest_first_up_to_the_limit(db: &TestDb) {
    let world = World::new(db).await;
    let (late, early, middle) =
        (notice(&world.client, at(30)), notice(&world.client, at(10)), notice(&world.client, at(20)));
    queue(db, &world.client, vec![late.clone(), early.clone(), middle.clone()], at(30)).await;

    assert!(db.store.claim_due(at(5), LEASE, 10).await.unwrap().is_empty(), "nothing is due yet");
    let ids = |claims: Vec<portal_core::ClaimedMail>| claims.into_iter().map(|c| c.mail.id).collect::<Vec<_>>();
    assert_eq!(ids(db.store.claim_due(at(25), LEASE, 10).await.unwrap()), [early.id, middle.id]);
    assert!(db.store.claim_due(at(100), LEASE, 0).await.unwrap().is_empty());
    // At 100 the first two leases (until 85) have lapsed: the oldest comes first.
    assert_eq!(ids(db.store.claim_due(at(100), LEASE, 1).await.unwrap()), [early.id]);
    assert_eq!(ids(db.store.claim_due(at(100), LEASE, 5).await.unwrap()), [middle.id, late.id]);
}

pub async fn a_sent_mail_is_purged_of_its_recipient_and_keeps_its_delivery_state(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-link", at(10)).await;
    let claimed = db.store.claim_due(at(10), LEASE, 10).await.unwrap();
    let id = claimed[0].mail.id;

    db.store.mark_sent(id, at(15)).await.unwrap();
    assert_eq!(db.store.delivery_for_token(invite.id).await.unwrap(), Some(DeliveryState::Sent { at: at(15) }));
    assert_eq!(db.store.pending_count().await.unwrap(), 0);
    assert!(db.store.claim_due(at(1_000), LEASE, 10).await.unwrap().is_empty());
    assert_eq!(
        db.count("mail_outbox", "recipient IS NULL AND token_id IS NOT NULL AND lease_until IS NULL").await,
        1,
        "the personal data is purged; the token id stays for the staff view"
    );

    // Late reports from a dispatcher whose lease lapsed change nothing.
    let late = DeliveryProblem::new(DeliveryCause::TimedOut, "late");
    db.store.retry_later(id, at(20), &late).await.unwrap();
    db.store.mark_failed(id, at(21), &late, Some(2)).await.unwrap();
    assert_eq!(db.store.delivery_for_token(invite.id).await.unwrap(), Some(DeliveryState::Sent { at: at(15) }));
}

pub async fn a_retried_mail_counts_the_attempt_and_waits_for_its_next_attempt(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-link", at(10)).await;
    let id = db.store.claim_due(at(10), LEASE, 10).await.unwrap()[0].mail.id;

    let refused = DeliveryProblem::new(DeliveryCause::Unreachable, "SMTP connect: connection refused");
    db.store.retry_later(id, at(100), &refused).await.unwrap();
    assert_eq!(
        db.store.delivery_for_token(invite.id).await.unwrap(),
        Some(DeliveryState::Pending { attempts: 1, next_attempt_at: at(100), last_problem: Some(refused) })
    );
    assert_eq!(db.count("mail_outbox", "last_error_cause = 'unreachable'").await, 1, "the cause has its own column");
    assert!(db.store.claim_due(at(99), LEASE, 10).await.unwrap().is_empty(), "not due before its next attempt");
    let again = db.store.claim_due(at(100), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
}

pub async fn a_failed_mail_is_never_tried_again(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-link", at(10)).await;
    let id = db.store.claim_due(at(10), LEASE, 10).await.unwrap()[0].mail.id;

    let refused = DeliveryProblem::new(DeliveryCause::AddressRefused, "SMTP RCPT TO: 550 no such user");
    db.store.mark_failed(id, at(12), &refused, None).await.unwrap();
    assert_eq!(
        db.store.delivery_for_token(invite.id).await.unwrap(),
        Some(DeliveryState::Failed { at: at(12), problem: refused, gave_up_after: None })
    );
    assert_eq!(db.store.pending_count().await.unwrap(), 0);
    assert!(db.store.claim_due(at(10_000), LEASE, 10).await.unwrap().is_empty());
    assert_eq!(db.count("mail_outbox", "recipient IS NULL AND status = 'failed'").await, 1);
}

pub async fn every_cause_and_a_give_up_count_read_back_as_written(db: &TestDb) {
    let world = World::new(db).await;
    for (n, cause) in (0..).zip(DeliveryCause::ALL) {
        let invite = world.invite(db, &world.client, &format!("link-{n}"), at(n)).await;
        let id = db.store.claim_due(at(n), LEASE, 1).await.unwrap()[0].mail.id;
        let problem = DeliveryProblem::new(cause, format!("detail of {cause}"));
        db.store.retry_later(id, at(n), &problem).await.unwrap();
        let Some(DeliveryState::Pending { last_problem: Some(pending), .. }) =
            db.store.delivery_for_token(invite.id).await.unwrap()
        else {
            panic!("{cause}: still pending");
        };
        assert_eq!(pending, problem);
        let gave_up_after = (n % 2 == 0).then_some(8);
        db.store.claim_due(at(n), LEASE, 1).await.unwrap();
        db.store.mark_failed(id, at(n), &problem, gave_up_after).await.unwrap();
        assert_eq!(
            db.store.delivery_for_token(invite.id).await.unwrap(),
            Some(DeliveryState::Failed { at: at(n), problem, gave_up_after })
        );
    }
}

pub async fn a_stored_cause_code_that_is_unknown_or_missing_reads_as_other_with_its_text(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-link", at(10)).await;
    let id = db.store.claim_due(at(10), LEASE, 10).await.unwrap()[0].mail.id;
    db.store
        .mark_failed(id, at(12), &DeliveryProblem::new(DeliveryCause::NotBuilt, "bad subject"), None)
        .await
        .unwrap();

    let other = Some(DeliveryState::Failed {
        at: at(12),
        problem: DeliveryProblem::new(DeliveryCause::Other, "bad subject"),
        gave_up_after: None,
    });
    // A code written by a newer version.
    db.query("UPDATE mail_outbox SET last_error_cause = 'a_cause_from_the_future'").await;
    assert_eq!(db.store.delivery_for_token(invite.id).await.unwrap(), other);
    // A row written before the cause was stored.
    db.query("UPDATE mail_outbox SET last_error_cause = NULL").await;
    assert_eq!(db.store.delivery_for_token(invite.id).await.unwrap(), other);
}

pub async fn concurrent_claimers_never_receive_the_same_row(db: &TestDb) {
    let world = World::new(db).await;
    let mail: Vec<_> = (0..30).map(|i| notice(&world.client, at(i))).collect();
    queue(db, &world.client, mail, at(30)).await;

    let claimers: Vec<_> = (0..10)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move { store.claim_due(at(100), LEASE, 5).await })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for claimer in claimers {
        for claim in claimer.await.unwrap().unwrap() {
            total += 1;
            assert!(seen.insert(claim.mail.id), "row {:?} was handed to two claimers", claim.mail.id);
        }
    }
    assert!(total > 0 && total <= 30, "{total} rows claimed");
    // Whatever was not claimed is still claimable, and nothing is claimed twice.
    let rest = db.store.claim_due(at(100), LEASE, 100).await.unwrap();
    for claim in &rest {
        assert!(seen.insert(claim.mail.id), "row {:?} was claimed while leased", claim.mail.id);
    }
    assert_eq!(seen.len(), 30);
}
