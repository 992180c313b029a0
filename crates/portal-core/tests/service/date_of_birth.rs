//! The date-of-birth check on emailed links: asked when the practice has it on and the record
//! holds a date, checked before any hashing, counted per link, and closing the link at five
//! wrong answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use portal_core::account::{InviteRedeemRefused, ResetRedeemRefused};
use portal_core::ports::MockPasswordHasher;
use portal_core::service::{
    ClientPatch, DateOfBirthMismatch, PracticeChange, RegisterError, ResetError, VerifyInviteError,
};
use portal_core::{AccountState, AccountStore, Actor, AuditAction, DATE_OF_BIRTH_TRIES, PasswordHasher, TokenPurpose};

use crate::helpers::*;

const BORN: &str = "1990-07-14";

/// Turns the practice's check on (or leaves it off) and puts `born` on the client's record.
async fn with_check<H: PasswordHasher>(w: &World<H>, check: bool, born: Option<&str>) {
    if check {
        let change = PracticeChange { date_of_birth_check: Some(true), ..PracticeChange::default() };
        w.service.update_practice(&w.staff, change).await.unwrap();
    }
    if let Some(born) = born {
        let patch = ClientPatch { date_of_birth: Some(Some(born.into())), ..Default::default() };
        w.service.update_client(&w.staff, &w.client, patch).await.unwrap();
    }
}

async fn invite_link<H: PasswordHasher>(w: &World<H>) -> String {
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.latest_link(TokenPurpose::Invite)
}

async fn register<H: PasswordHasher>(w: &World<H>, link: &str, born: Option<&str>) -> Result<(), RegisterError> {
    w.service.register_with_date_of_birth(link, born, "ada", &password(GOOD_PASSWORD), &ctx()).await.map(|_| ())
}

fn audited<H: PasswordHasher>(w: &World<H>, action: AuditAction) -> usize {
    w.store.audit_events().iter().filter(|event| event.action == action).count()
}

#[tokio::test]
async fn with_the_check_on_and_a_date_on_file_an_invitation_needs_the_date_of_birth() {
    let w = world().await;
    with_check(&w, true, Some(BORN)).await;
    let link = invite_link(&w).await;
    assert!(w.service.verify_invite(&link).await.unwrap().date_of_birth_required);

    assert!(matches!(
        register(&w, &link, None).await,
        Err(RegisterError::DateOfBirthMismatch(DateOfBirthMismatch { tries_left: 5 }))
    ));
    assert_eq!(audited(&w, AuditAction::DateOfBirthRefused), 0, "a missing answer is not counted");
    assert!(matches!(
        register(&w, &link, Some("1990-07-15")).await,
        Err(RegisterError::DateOfBirthMismatch(DateOfBirthMismatch { tries_left: 4 }))
    ));
    register(&w, &link, Some(BORN)).await.unwrap();
    let account = w.store.account(w.staff.staff.practice_id, &w.client).await.unwrap();
    assert!(matches!(account.state(), AccountState::Active(_)));
}

#[tokio::test]
async fn without_a_date_on_file_the_check_is_skipped_and_the_panel_knows_none_is_on_file() {
    let w = world().await;
    with_check(&w, true, None).await;
    let link = invite_link(&w).await;
    assert!(!w.service.verify_invite(&link).await.unwrap().date_of_birth_required);
    assert!(!w.service.portal(&w.staff, &w.client).await.unwrap().date_of_birth_on_file);
    register(&w, &link, None).await.unwrap();
}

#[tokio::test]
async fn with_the_check_off_a_date_on_file_is_not_asked_for() {
    let w = world().await;
    with_check(&w, false, Some(BORN)).await;
    let link = invite_link(&w).await;
    assert!(!w.service.verify_invite(&link).await.unwrap().date_of_birth_required);
    assert!(w.service.portal(&w.staff, &w.client).await.unwrap().date_of_birth_on_file);
    // Any answer is ignored: nothing is asked.
    register(&w, &link, Some("2000-01-01")).await.unwrap();
}

#[tokio::test]
async fn five_wrong_answers_close_the_link_and_it_then_reads_as_voided() {
    let w = world().await;
    with_check(&w, true, Some(BORN)).await;
    let link = invite_link(&w).await;
    // A malformed answer counts like any wrong one.
    let answers = ["1990-07-15", "14/07/1990", "1991-07-14", "1990-08-14", "2000-01-01"];
    for (answer, left) in answers.into_iter().zip((0..DATE_OF_BIRTH_TRIES).rev()) {
        match register(&w, &link, Some(answer)).await {
            Err(RegisterError::DateOfBirthMismatch(refused)) => assert_eq!(refused.tries_left, left),
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }
    assert!(matches!(
        register(&w, &link, Some(BORN)).await,
        Err(RegisterError::Refused(InviteRedeemRefused::InviteClosed))
    ));
    assert!(matches!(
        w.service.verify_invite(&link).await,
        Err(VerifyInviteError::Refused(InviteRedeemRefused::InviteClosed))
    ));

    let trail = w.service.audit_trail(&w.staff, &w.client).await.unwrap();
    let refused: Vec<_> = trail.iter().filter(|e| e.action == AuditAction::DateOfBirthRefused).collect();
    assert_eq!(refused.len(), 5);
    assert!(refused.iter().all(|e| e.actor == Actor::Anonymous && e.context == ctx()));
    assert_eq!(audited(&w, AuditAction::LinkVoided), 1);
    for event in &trail {
        let written = format!("{event:?}");
        assert!(!written.contains("1990") && !written.contains("07-14"), "no date in the audit: {written}");
    }

    let panel = w.service.portal(&w.staff, &w.client).await.unwrap();
    assert!(panel.invite.unwrap().closed_after_date_of_birth_failures);
    // A resend gives a fresh link with all its tries.
    let fresh = invite_link(&w).await;
    assert!(w.service.verify_invite(&fresh).await.unwrap().date_of_birth_required);
    let panel = w.service.portal(&w.staff, &w.client).await.unwrap();
    assert!(!panel.invite.unwrap().closed_after_date_of_birth_failures);
    register(&w, &fresh, Some(BORN)).await.unwrap();
}

#[tokio::test]
async fn a_right_answer_after_four_wrong_ones_opens_the_link() {
    let w = world().await;
    with_check(&w, true, Some(BORN)).await;
    let link = invite_link(&w).await;
    for _ in 0..4 {
        assert!(matches!(register(&w, &link, Some("1990-07-15")).await, Err(RegisterError::DateOfBirthMismatch(_))));
    }
    register(&w, &link, Some(BORN)).await.unwrap();
    assert_eq!(audited(&w, AuditAction::LinkVoided), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_answers_are_each_counted() {
    let w = Arc::new(world().await);
    with_check(&w, true, Some(BORN)).await;
    let link = Arc::new(invite_link(&w).await);
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (w, link) = (w.clone(), link.clone());
            tokio::spawn(async move { register(&w, &link, Some("1990-07-15")).await })
        })
        .collect();
    let mut tries_left = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Err(RegisterError::DateOfBirthMismatch(refused)) => tries_left.push(refused.tries_left),
            Err(RegisterError::Refused(InviteRedeemRefused::InviteClosed)) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    tries_left.sort_unstable();
    assert_eq!(tries_left, vec![0, 1, 2, 3, 4], "five counted one by one; the rest met a closed link");
    assert_eq!(audited(&w, AuditAction::DateOfBirthRefused), 5);
    assert_eq!(audited(&w, AuditAction::LinkVoided), 1);
}

#[tokio::test]
async fn a_wrong_date_is_refused_before_any_hashing_or_username_check() {
    let mut hasher = MockPasswordHasher::new();
    let hashes = numbered_hashes(&mut hasher);
    let w = world_with(hasher).await;
    with_check(&w, true, Some(BORN)).await;
    let link = invite_link(&w).await;
    // A username that is not even valid: the date is looked at first.
    let refused =
        w.service.register_with_date_of_birth(&link, Some("1990-07-15"), "x", &password("short"), &ctx()).await;
    assert!(matches!(refused, Err(RegisterError::DateOfBirthMismatch(_))));
    assert_eq!(hashes.load(Ordering::SeqCst), 0, "no hashing for a wrong date");
    register(&w, &link, Some(BORN)).await.unwrap();
    assert_eq!(hashes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_reset_link_needs_the_date_of_birth_and_closes_after_five_wrong_answers() {
    let w = world().await;
    w.registered().await;
    with_check(&w, true, Some(BORN)).await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Reset);
    assert!(w.service.verify_reset(&link).await.unwrap().date_of_birth_required);
    let complete = |born: Option<&'static str>| {
        let (w, link) = (&w, link.clone());
        async move { w.service.complete_reset_with_date_of_birth(&link, born, &password(OTHER_PASSWORD), &ctx()).await }
    };
    assert!(matches!(
        complete(None).await,
        Err(ResetError::DateOfBirthMismatch(DateOfBirthMismatch { tries_left: 5 }))
    ));
    for left in (0..DATE_OF_BIRTH_TRIES).rev() {
        match complete(Some("1990-07-15")).await {
            Err(ResetError::DateOfBirthMismatch(refused)) => assert_eq!(refused.tries_left, left),
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }
    assert!(matches!(complete(Some(BORN)).await, Err(ResetError::Refused(ResetRedeemRefused::ResetClosed))));
    let panel = w.service.portal(&w.staff, &w.client).await.unwrap();
    assert!(panel.reset.unwrap().closed_after_date_of_birth_failures);
    assert_eq!(audited(&w, AuditAction::LinkVoided), 1);

    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let fresh = w.latest_link(TokenPurpose::Reset);
    w.service.complete_reset_with_date_of_birth(&fresh, Some(BORN), &password(OTHER_PASSWORD), &ctx()).await.unwrap();
}
