//! Invitation reminders: the due query (`AccountStore::due_invitation_reminders`), the reminder
//! stored with its token, the reminder kind of mail in the outbox, and the migration that
//! brought them.

use jiff::{SignedDuration, Timestamp};
use portal_core::{
    AccountStore, Directory, DueReminder, InviteReminder, MailKind, MailOutbox, Policy, PortalAccount, Practice,
    PracticeSettings, PracticeSettingsInput, TokenId,
};
use sea_orm::ConnectionTrait;

use crate::fixtures::{World, at, change, event, mail, queue};
use crate::harness::TestDb;

const LEAD: SignedDuration = SignedDuration::from_hours(24);

/// Turns `hours`-hour reminders on for the world's practice.
async fn remind(db: &TestDb, practice: &Practice, hours: i64) {
    let input = PracticeSettingsInput { invitation_reminder_hours: Some(hours), ..PracticeSettingsInput::default() };
    let settings = PracticeSettings::new(input, &Policy::default()).unwrap();
    let changed = Practice { settings, ..practice.clone() };
    let audit = event(practice.id, None, portal_core::AuditAction::PracticeUpdated, at(0));
    db.store.update_practice(&changed, &audit).await.unwrap();
}

async fn due(db: &TestDb, now: Timestamp) -> Vec<TokenId> {
    db.store.due_invitation_reminders(now, 100).await.unwrap().into_iter().map(|item| item.token_id).collect()
}

/// Records a reminder on the account's invitation and commits it.
async fn record(db: &TestDb, account: PortalAccount, outcome: InviteReminder) {
    let mut account = account;
    let token = account.invite().unwrap().id;
    account.record_reminder(token, LEAD, outcome).unwrap();
    db.store.commit(change(account, outcome.at())).await.unwrap();
}

pub async fn invitations_are_due_their_reminder_from_expiry_minus_the_lead_until_expiry(db: &TestDb) {
    let world = World::new(db).await;
    remind(db, &world.practice, 24).await;
    let invite = world.invite(db, &world.client, "ada-link", at(0)).await;
    let due_at = invite.expires_at - LEAD;

    assert!(due(db, due_at - SignedDuration::from_secs(1)).await.is_empty());
    let found = db.store.due_invitation_reminders(due_at, 100).await.unwrap();
    assert_eq!(
        found,
        [DueReminder { practice_id: world.practice.id, client_id: world.client.id.clone(), token_id: invite.id }]
    );
    assert_eq!(due(db, invite.expires_at - SignedDuration::from_secs(1)).await, [invite.id]);
    assert!(due(db, invite.expires_at).await.is_empty(), "an expired link gets no reminder");

    // A resend: only the new invitation is a candidate (the old one is voided).
    let resent = world.invite(db, &world.client, "ada-link-2", at(3600)).await;
    assert_eq!(due(db, resent.expires_at - LEAD).await, [resent.id]);

    // Soonest expiry first, and the limit holds.
    let grace = world.add_client(db, "Grace Hopper").await;
    let earlier = world.invite(db, &grace, "grace-link", at(60)).await;
    let now = resent.expires_at - LEAD;
    assert_eq!(due(db, now).await, [earlier.id, resent.id]);
    let one = db.store.due_invitation_reminders(now, 1).await.unwrap();
    assert_eq!(one.iter().map(|item| item.token_id).collect::<Vec<_>>(), [earlier.id]);

    // A registered client is not a candidate.
    world.register(db, &grace, "grace", at(120)).await;
    assert_eq!(due(db, now).await, [resent.id]);
}

pub async fn practices_without_reminders_and_reminded_invitations_are_not_due(db: &TestDb) {
    let world = World::new(db).await;
    let quiet = World::with_slug(db, "moonrise").await;
    remind(db, &world.practice, 24).await;
    let invite = world.invite(db, &world.client, "ada-link", at(0)).await;
    let other = quiet.invite(db, &quiet.client, "other-link", at(0)).await;
    let now = invite.expires_at - SignedDuration::from_hours(1);
    assert_eq!(due(db, now).await, [invite.id], "the practice with reminders off has none: {other:?}");

    // Marked as reminded: read back with the token, never due again.
    let account = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    record(db, account, InviteReminder::Queued { at: invite.expires_at - LEAD }).await;
    let account = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(account.invite().unwrap().reminder, Some(InviteReminder::Queued { at: invite.expires_at - LEAD }));
    assert!(due(db, now).await.is_empty());
    // A later commit of the account (a registration, say) keeps it.
    db.store.commit(change(account, now)).await.unwrap();
    let account = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(account.invite().unwrap().reminder, Some(InviteReminder::Queued { at: invite.expires_at - LEAD }));

    // A reminder passed over reads back as such, and is not due either.
    remind(db, &quiet.practice, 12).await;
    assert_eq!(due(db, now).await, [other.id]);
    let account = db.store.account(quiet.practice.id, &quiet.client.id).await.unwrap();
    record(db, account, InviteReminder::Skipped { at: now }).await;
    let account = db.store.account(quiet.practice.id, &quiet.client.id).await.unwrap();
    assert_eq!(account.invite().unwrap().reminder, Some(InviteReminder::Skipped { at: now }));
    assert!(due(db, now).await.is_empty());
}

pub async fn reminder_mail_is_stored_claimed_and_cancelled_like_the_invitation(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "ada-link", at(0)).await;
    let kind = MailKind::InvitationReminder { token_id: invite.id, expires_at: invite.expires_at };
    let reminder = mail(&world.client, kind.clone(), at(10));
    queue(db, &world.client, vec![reminder.clone()], at(10)).await;
    let claimed = db.store.claim_due(at(20), SignedDuration::from_mins(5), 10).await.unwrap();
    let claimed: Vec<_> = claimed.into_iter().filter(|c| c.mail.id == reminder.id).collect();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].mail.kind, kind);
    db.store
        .retry_later(
            reminder.id,
            at(30),
            &portal_core::DeliveryProblem::new(portal_core::DeliveryCause::Other, "try again"),
        )
        .await
        .unwrap();

    // A resend cancels the pending reminder, which carried the replaced link.
    world.invite(db, &world.client, "ada-link-2", at(40)).await;
    let failed = db
        .query("SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'invitation_reminder' AND status = 'failed'")
        .await;
    assert_eq!(failed[0].try_get::<i64>("", "n").unwrap(), 1);
}

pub async fn the_panel_shows_the_invitations_own_delivery_after_a_reminder(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "ada-link", at(0)).await;
    let claimed = db.store.claim_due(at(5), SignedDuration::from_mins(5), 10).await.unwrap();
    let invitation = claimed.iter().find(|c| c.mail.kind.token_id() == Some(invite.id)).unwrap().mail.id;
    db.store.mark_sent(invitation, at(6)).await.unwrap();
    let kind = MailKind::InvitationReminder { token_id: invite.id, expires_at: invite.expires_at };
    queue(db, &world.client, vec![mail(&world.client, kind, at(10))], at(10)).await;

    let panel = db.store.account_panel(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(
        panel.invite_delivery,
        Some(portal_core::DeliveryState::Sent { at: at(6) }),
        "not the pending reminder's"
    );
}

pub async fn the_reminder_migration_rolls_back_only_without_reminder_mail(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "ada-link", at(0)).await;
    let kind = MailKind::InvitationReminder { token_id: invite.id, expires_at: invite.expires_at };
    queue(db, &world.client, vec![mail(&world.client, kind, at(10))], at(10)).await;
    let steps = crate::host_migration::steps_back_to_before("m20261201_000009_invitation_reminders");

    let refused = portal_store::rollback(&db.url, Some(steps)).await;
    assert!(refused.is_err(), "an older version could not read the reminder");
    assert_eq!(db.count("mail_outbox", "kind = 'invitation_reminder'").await, 1, "nothing changed");

    db.store
        .connection()
        .execute_unprepared("DELETE FROM mail_outbox WHERE kind = 'invitation_reminder'")
        .await
        .unwrap();
    portal_store::rollback(&db.url, Some(steps)).await.unwrap();
    // The old schema: no reminder columns, and the outbox refuses the kind again.
    assert!(db.store.connection().execute_unprepared("SELECT reminded_at FROM tokens").await.is_err());
    let sneak = "UPDATE mail_outbox SET kind = 'invitation_reminder'";
    assert!(db.store.connection().execute_unprepared(sneak).await.is_err());
    assert_eq!(db.count("mail_outbox", "kind = 'invitation'").await, 1, "the invitation survived the rebuild");

    portal_store::migrate(&db.url).await.unwrap();
    assert_eq!(db.count("mail_outbox", "kind = 'invitation'").await, 1, "and the rebuild back");
    let kind = MailKind::InvitationReminder { token_id: invite.id, expires_at: invite.expires_at };
    queue(db, &world.client, vec![mail(&world.client, kind, at(20))], at(20)).await;
    assert!(db.store.delivery_for_token(invite.id).await.unwrap().is_some());
    assert_eq!(db.count("mail_outbox", "kind = 'invitation_reminder'").await, 1);
}
