use std::sync::Arc;

use portal_core::account::InviteRedeemRefused;
use portal_core::service::RegisterError;
use portal_core::{AccountState, AccountStore, AuditAction, DeliveryState, MailKind, TokenPurpose, TokenState};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_concurrent_registrations_with_one_link_exactly_one_wins_and_the_rest_see_it_used() {
    let w = Arc::new(world().await);
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let link = Arc::new(w.latest_link(TokenPurpose::Invite));
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let (w, link) = (w.clone(), link.clone());
            tokio::spawn(async move {
                w.service.register(&link, &format!("user{i}"), &password(GOOD_PASSWORD), &ctx()).await
            })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => wins += 1,
            Err(RegisterError::Refused(InviteRedeemRefused::InviteNotFound)) => {}
            Err(other) => panic!("a loser must see the link as used, got {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    let account = w.store.account(w.staff.staff.practice_id, &w.client).await.unwrap();
    assert!(matches!(account.state(), AccountState::Active(_)));
    assert_eq!(account.version(), 2, "one invite and one registration were committed, nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_resends_all_succeed_and_leave_one_live_link() {
    let w = Arc::new(world().await);
    let sends: Vec<_> = (0..32)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move { w.service.send_invite(&w.staff, &w.client).await })
        })
        .collect();
    let mut replaced = 0;
    for send in sends {
        replaced += usize::from(send.await.unwrap().expect("no resend fails").replaced_previous);
    }
    assert_eq!(replaced, 31, "each resend saw the one before it");

    let account = w.store.account(w.staff.staff.practice_id, &w.client).await.unwrap();
    assert_eq!(account.version(), 32);
    let live = account.invite().expect("an invitation");
    assert_eq!(live.state, TokenState::Live);
    let audited = w
        .store
        .audit_events()
        .into_iter()
        .filter(|e| matches!(e.action, AuditAction::InviteSent | AuditAction::InviteResent))
        .count();
    assert_eq!(audited, 32);
    let outbox = w.store.outbox();
    assert_eq!(outbox.len(), 32);
    let pending: Vec<_> =
        outbox.iter().filter(|(_, delivery)| matches!(delivery, DeliveryState::Pending { .. })).collect();
    assert_eq!(pending.len(), 1, "only the mail with the live link may still go out");
    assert!(matches!(pending[0].0.kind, MailKind::Invitation { token_id, .. } if token_id == live.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_staff_actions_on_one_client_never_conflict() {
    let w = Arc::new(world().await);
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.service.register(&w.latest_link(TokenPurpose::Invite), "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let actions: Vec<_> = (0..48)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => w.service.send_reset(&w.staff, &w.client).await.map(drop).map_err(|e| format!("{e:?}")),
                    1 => w
                        .service
                        .set_enabled(&w.staff, &w.client, false, None)
                        .await
                        .map(drop)
                        .map_err(|e| format!("{e:?}")),
                    _ => w
                        .service
                        .set_enabled(&w.staff, &w.client, true, None)
                        .await
                        .map(drop)
                        .map_err(|e| format!("{e:?}")),
                }
            })
        })
        .collect();
    for action in actions {
        match action.await.unwrap() {
            // A reset while the account is disabled is the rules' refusal, not a conflict.
            Ok(()) => {}
            Err(refusal) if refusal.contains("AccountDisabled") => {}
            Err(other) => panic!("ordinary concurrency must not fail: {other}"),
        }
    }
}
