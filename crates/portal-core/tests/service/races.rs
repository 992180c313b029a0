use std::sync::Arc;

use portal_core::account::InviteRedeemRefused;
use portal_core::service::RegisterError;
use portal_core::{AccountState, AccountStore, TokenPurpose};

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
