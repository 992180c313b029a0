//! Table-driven tests: every row and rule of the lifecycle table (design §2), plus property
//! tests over random command sequences and clock moves.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::token::{InviteReminder, IssuedToken, TokenHash, TokenPurpose, TokenState};
use crate::types::{ClientId, DisableReason, PracticeId, TokenId, Username};

const TTL: SignedDuration = SignedDuration::from_hours(48);

fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

fn token(purpose: TokenPurpose, n: u128, issued_at: Timestamp) -> IssuedToken {
    IssuedToken {
        id: TokenId::from_uuid(uuid::Uuid::from_u128(n)),
        purpose,
        hash: TokenHash::of(&n.to_le_bytes()),
        issued_at,
        expires_at: issued_at + TTL,
        state: TokenState::Live,
        date_of_birth_failures: 0,
        reminder: None,
    }
}

fn hash_of(n: u128) -> TokenHash {
    TokenHash::of(&n.to_le_bytes())
}

fn pw(n: u8) -> PasswordHash {
    PasswordHash::from_phc(format!("$scrypt$ln=4,r=8,p=1$salt{n}$hash{n}"))
}

fn name() -> Username {
    Username::parse("ada").unwrap()
}

/// The five rows of the lifecycle table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    NotInvited,
    InvitePending,
    InviteExpired,
    Active,
    Disabled,
}

const ROWS: [Row; 5] = [Row::NotInvited, Row::InvitePending, Row::InviteExpired, Row::Active, Row::Disabled];

/// An account in a given row at `t0() + 1h` (so "expired" means issued more than 48 h earlier).
fn account_in(row: Row) -> PortalAccount {
    let mut account = PortalAccount::new(
        PracticeId::from_uuid(uuid::Uuid::from_u128(1)),
        ClientId::parse("MRN-0002").expect("a valid host id"),
    );
    let now = t0();
    match row {
        Row::NotInvited => {}
        Row::InvitePending => account.issue_invite(token(TokenPurpose::Invite, 10, now)).unwrap(),
        Row::InviteExpired => account.issue_invite(token(TokenPurpose::Invite, 10, now - TTL - secs(1))).unwrap(),
        Row::Active | Row::Disabled => {
            account.issue_invite(token(TokenPurpose::Invite, 10, now - secs(60))).unwrap();
            account.register(&hash_of(10), name(), pw(1), now - secs(30)).unwrap();
            if row == Row::Disabled {
                account.disable(None, now - secs(10)).unwrap();
            }
        }
    }
    account
}

#[test]
fn each_row_shows_staff_what_the_table_says() {
    let now = t0();
    for row in ROWS {
        let status = account_in(row).status(now);
        let expected = match row {
            Row::NotInvited => "no_account",
            Row::InvitePending => "invited",
            Row::InviteExpired => "invite_expired",
            Row::Active => "active",
            Row::Disabled => "disabled",
        };
        assert_eq!(status.kind().name(), expected, "{row:?}");
        match (row, status) {
            (Row::Active, PortalStatus::Active { username })
            | (Row::Disabled, PortalStatus::Disabled { username, .. }) => {
                assert_eq!(username, name());
            }
            (Row::InvitePending, PortalStatus::Invited { sent_at, expires_at }) => {
                assert_eq!((sent_at, expires_at), (now, now + TTL));
            }
            _ => {}
        }
    }
}

#[test]
fn send_invite_is_allowed_only_without_an_account() {
    for row in ROWS {
        let mut account = account_in(row);
        let result = account.issue_invite(token(TokenPurpose::Invite, 20, t0()));
        match row {
            Row::NotInvited | Row::InvitePending | Row::InviteExpired => {
                assert_eq!(result, Ok(()), "{row:?}");
                assert!(matches!(account.status(t0()), PortalStatus::Invited { .. }));
            }
            Row::Active | Row::Disabled => {
                assert_eq!(result, Err(InviteRefused::AccountExists), "{row:?}");
                assert_eq!(account, account_in(row), "a refused invite changes nothing");
            }
        }
    }
}

#[test]
fn a_resend_voids_the_previous_link() {
    for row in [Row::InvitePending, Row::InviteExpired] {
        let mut account = account_in(row);
        account.issue_invite(token(TokenPurpose::Invite, 20, t0())).unwrap();
        assert_eq!(account.check_invite(&hash_of(10), t0()), Err(InviteRedeemRefused::InviteNotFound));
        assert!(account.check_invite(&hash_of(20), t0()).is_ok());
    }
}

#[test]
fn registration_is_possible_only_with_the_live_invite() {
    let now = t0();
    for row in ROWS {
        let mut account = account_in(row);
        let result = account.register(&hash_of(10), name(), pw(2), now);
        let expected = match row {
            Row::InvitePending => Ok(()),
            Row::InviteExpired => Err(InviteRedeemRefused::InviteExpired),
            Row::NotInvited | Row::Active | Row::Disabled => Err(InviteRedeemRefused::InviteNotFound),
        };
        assert_eq!(result, expected, "{row:?}");
        if expected.is_err() {
            assert_eq!(account, account_in(row), "a refused registration changes nothing");
        }
    }
}

#[test]
fn an_invite_works_until_one_second_before_expiry_and_not_at_expiry() {
    let account = account_in(Row::InvitePending);
    let issued = t0();
    assert!(account.check_invite(&hash_of(10), issued + TTL - secs(1)).is_ok());
    assert_eq!(account.check_invite(&hash_of(10), issued + TTL), Err(InviteRedeemRefused::InviteExpired));
    let mut registering = account.clone();
    assert!(registering.register(&hash_of(10), name(), pw(2), issued + TTL - secs(1)).is_ok());
    let mut late = account;
    assert_eq!(late.register(&hash_of(10), name(), pw(2), issued + TTL), Err(InviteRedeemRefused::InviteExpired));
}

#[test]
fn an_invite_is_single_use() {
    let mut account = account_in(Row::InvitePending);
    account.register(&hash_of(10), name(), pw(2), t0()).unwrap();
    assert_eq!(account.invite().map(|t| t.state), Some(TokenState::Used { at: t0() }));
    let mut again = account.clone();
    assert_eq!(
        again.register(&hash_of(10), Username::parse("eve").unwrap(), pw(3), t0()),
        Err(InviteRedeemRefused::InviteNotFound)
    );
    assert_eq!(again.username(), Some(&name()), "the username never changes after registration");
}

#[test]
fn a_wrong_or_reset_token_never_registers() {
    let account = account_in(Row::InvitePending);
    assert_eq!(account.check_invite(&hash_of(99), t0()), Err(InviteRedeemRefused::InviteNotFound));
}

#[test]
fn toggling_needs_an_account() {
    for row in ROWS {
        let mut off = account_in(row);
        let mut on = account_in(row);
        let (disabled, enabled) = (off.disable(None, t0()), on.enable());
        match row {
            Row::NotInvited | Row::InvitePending | Row::InviteExpired => {
                assert_eq!(disabled, Err(ToggleRefused::NoAccount), "{row:?}");
                assert_eq!(enabled, Err(ToggleRefused::NoAccount), "{row:?}");
            }
            Row::Active => {
                assert_eq!(disabled, Ok(Toggled::Changed));
                assert_eq!(enabled, Ok(Toggled::Unchanged));
                assert_eq!(off.status(t0()).kind(), PortalStatusKind::Disabled);
            }
            Row::Disabled => {
                assert_eq!(disabled, Ok(Toggled::Unchanged));
                assert_eq!(enabled, Ok(Toggled::Changed));
                assert_eq!(on.status(t0()).kind(), PortalStatusKind::Active);
            }
        }
    }
}

#[test]
fn disabling_records_the_reason_and_voids_a_pending_reset_which_enable_does_not_bring_back() {
    let mut account = account_in(Row::Active);
    account.issue_reset(token(TokenPurpose::Reset, 30, t0())).unwrap();
    let reason = DisableReason::parse("client asked to pause").unwrap();
    account.disable(Some(reason.clone()), t0()).unwrap();
    assert_eq!(account.status(t0()), PortalStatus::Disabled { username: name(), reason: Some(reason) });
    assert!(account.reset().is_none(), "the pending reset is voided");
    account.enable().unwrap();
    assert_eq!(account.check_reset(&hash_of(30), t0()), Err(ResetRedeemRefused::ResetNotFound));
}

#[test]
fn send_reset_needs_an_active_account() {
    for row in ROWS {
        let mut account = account_in(row);
        let result = account.issue_reset(token(TokenPurpose::Reset, 30, t0()));
        let expected = match row {
            Row::NotInvited | Row::InvitePending | Row::InviteExpired => Err(ResetRefused::NoAccount),
            Row::Disabled => Err(ResetRefused::AccountDisabled),
            Row::Active => Ok(()),
        };
        assert_eq!(result, expected, "{row:?}");
    }
}

#[test]
fn a_new_reset_voids_the_previous_one() {
    let mut account = account_in(Row::Active);
    account.issue_reset(token(TokenPurpose::Reset, 30, t0())).unwrap();
    account.issue_reset(token(TokenPurpose::Reset, 31, t0())).unwrap();
    assert_eq!(account.check_reset(&hash_of(30), t0()), Err(ResetRedeemRefused::ResetNotFound));
    assert!(account.check_reset(&hash_of(31), t0()).is_ok());
}

#[test]
fn a_reset_works_until_one_second_before_expiry_and_then_is_single_use() {
    let mut account = account_in(Row::Active);
    account.issue_reset(token(TokenPurpose::Reset, 30, t0())).unwrap();
    assert_eq!(account.clone().complete_reset(&hash_of(30), pw(9), t0() + TTL), Err(ResetRedeemRefused::ResetExpired));
    account.complete_reset(&hash_of(30), pw(9), t0() + TTL - secs(1)).unwrap();
    assert_eq!(account.credentials().map(|c| c.password_hash.clone()), Some(pw(9)));
    assert_eq!(account.username(), Some(&name()), "a reset never changes the username");
    assert_eq!(account.complete_reset(&hash_of(30), pw(8), t0()), Err(ResetRedeemRefused::ResetNotFound));
}

#[test]
fn a_disabled_account_cannot_complete_a_reset_even_with_a_live_token() {
    // Restored directly: a disabled account holding a live reset must still be refused.
    let active = account_in(Row::Active);
    let credentials = active.credentials().cloned().unwrap();
    let account = PortalAccount::restore(
        active.practice_id(),
        active.client_id().clone(),
        3,
        AccountState::Disabled { credentials, reason: None, since: t0() },
        active.invite().cloned(),
        Some(token(TokenPurpose::Reset, 30, t0())),
    );
    assert_eq!(account.check_reset(&hash_of(30), t0()), Err(ResetRedeemRefused::AccountDisabled));
    assert_eq!(account.clone().complete_reset(&hash_of(30), pw(9), t0()), Err(ResetRedeemRefused::AccountDisabled));
}

#[test]
fn sign_in_decisions_follow_the_table() {
    for row in ROWS {
        let account = account_in(row);
        assert_eq!(account.sign_in(false).err(), Some(SignInRefused::InvalidCredentials), "{row:?} wrong password");
        let right = account.sign_in(true).map(|c| c.username.clone());
        let expected = match row {
            Row::Active => Ok(name()),
            Row::Disabled => Err(SignInRefused::AccountDisabled),
            _ => Err(SignInRefused::InvalidCredentials),
        };
        assert_eq!(right, expected, "{row:?} right password");
    }
}

#[test]
fn a_hash_upgrade_only_touches_active_accounts() {
    let mut disabled = account_in(Row::Disabled);
    disabled.upgrade_hash(pw(7));
    assert_eq!(disabled.credentials().map(|c| c.password_hash.clone()), Some(pw(1)));
    let mut active = account_in(Row::Active);
    active.upgrade_hash(pw(7));
    assert_eq!(active.credentials().map(|c| c.password_hash.clone()), Some(pw(7)));
}

// ------------------------------------------------------------------------------------------
// Property tests: random command sequences and clock moves.

#[derive(Debug, Clone)]
enum Command {
    Advance(i64),
    SendInvite,
    Register { token: usize, username: u8 },
    Disable,
    Enable,
    SendReset,
    CompleteReset { token: usize },
    SignIn,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        // Clock moves from one second to four days, so expiry is crossed often.
        (1i64..=4 * 24 * 3600).prop_map(Command::Advance),
        Just(Command::SendInvite),
        (0usize..8, 0u8..3).prop_map(|(token, username)| Command::Register { token, username }),
        Just(Command::Disable),
        Just(Command::Enable),
        Just(Command::SendReset),
        (0usize..8).prop_map(|token| Command::CompleteReset { token }),
        Just(Command::SignIn),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lifecycle_invariants_hold_for_any_sequence(commands in prop::collection::vec(command(), 1..60)) {
        let mut account = PortalAccount::new(PracticeId::from_uuid(uuid::Uuid::from_u128(1)), ClientId::parse("MRN-0002").expect("a valid host id"));
        let mut now = t0();
        let mut next_token = 100u128;
        // Every token ever issued, by purpose: (number, issued_at).
        let mut invites: Vec<(u128, Timestamp)> = Vec::new();
        let mut resets: Vec<(u128, Timestamp)> = Vec::new();
        let mut used: Vec<u128> = Vec::new();
        let mut registered_as: Option<Username> = None;

        for command in commands {
            let before = account.clone();
            match command {
                Command::Advance(s) => now += secs(s),
                Command::SendInvite => {
                    next_token += 1;
                    if account.issue_invite(token(TokenPurpose::Invite, next_token, now)).is_ok() {
                        invites.push((next_token, now));
                    } else {
                        prop_assert!(before.credentials().is_some());
                        prop_assert_eq!(&account, &before);
                    }
                }
                Command::Register { token: pick, username } => {
                    let Some(&(n, issued)) = invites.get(pick % invites.len().max(1)) else { continue };
                    let wanted = Username::parse(&format!("user{username}")).unwrap();
                    if account.register(&hash_of(n), wanted.clone(), pw(username), now).is_ok() {
                        // Accepted: it must be the latest invite, unused and unexpired.
                        prop_assert_eq!(Some(n), invites.last().map(|i| i.0));
                        prop_assert!(now < issued + TTL);
                        prop_assert!(!used.contains(&n));
                        prop_assert!(registered_as.is_none());
                        used.push(n);
                        registered_as = Some(wanted);
                    } else {
                        prop_assert_eq!(&account, &before);
                    }
                }
                Command::Disable => { let _ = account.disable(None, now); }
                Command::Enable => { let _ = account.enable(); }
                Command::SendReset => {
                    next_token += 1;
                    if account.issue_reset(token(TokenPurpose::Reset, next_token, now)).is_ok() {
                        resets.push((next_token, now));
                    } else {
                        prop_assert!(!before.is_active());
                    }
                }
                Command::CompleteReset { token: pick } => {
                    let Some(&(n, issued)) = resets.get(pick % resets.len().max(1)) else { continue };
                    let disabled = matches!(account.state(), AccountState::Disabled { .. });
                    if account.complete_reset(&hash_of(n), pw(42), now).is_ok() {
                        prop_assert!(!disabled, "a disabled account never completes a reset");
                        prop_assert_eq!(Some(n), resets.last().map(|r| r.0));
                        prop_assert!(now < issued + TTL);
                        prop_assert!(!used.contains(&n));
                        used.push(n);
                    } else {
                        prop_assert_eq!(&account, &before);
                    }
                }
                Command::SignIn => {
                    if account.sign_in(true).is_ok() {
                        prop_assert!(account.is_active(), "only an active account signs in");
                    }
                }
            }
            // At most one live token per purpose, and it is the latest issued.
            for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
                if let Some(current) = account.token(purpose) {
                    let issued = if purpose == TokenPurpose::Invite { &invites } else { &resets };
                    prop_assert_eq!(Some(current.hash), issued.last().map(|i| hash_of(i.0)));
                }
            }
            // No live reset on an account that is not active.
            if !account.is_active() {
                prop_assert!(account.reset().is_none_or(|t| t.state != TokenState::Live));
            }
            // The username never changes after registration.
            prop_assert_eq!(account.username(), registered_as.as_ref());
        }
    }
}

#[test]
fn every_portal_status_kind_is_found_by_its_name_and_nothing_else_is() {
    for kind in PortalStatusKind::ALL {
        assert_eq!(PortalStatusKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(PortalStatusKind::from_name("bogus"), None);
    assert_eq!(PortalStatusKind::from_name("Active"), None, "names are exact");
}

#[test]
fn an_invitation_is_due_its_reminder_from_expiry_minus_the_lead_until_expiry_and_only_once() {
    let lead = SignedDuration::from_hours(24);
    let mut account =
        PortalAccount::new(PracticeId::from_uuid(uuid::Uuid::from_u128(1)), ClientId::parse("7").unwrap());
    let invite = token(TokenPurpose::Invite, 3, t0());
    let (id, expires) = (invite.id, invite.expires_at);
    account.issue_invite(invite).unwrap();
    assert_eq!(account.reminder_due(id, lead, expires - lead - secs(1)).err(), Some(ReminderNotDue::NotYet));
    assert!(account.reminder_due(id, lead, expires - lead).is_ok());
    assert!(account.reminder_due(id, lead, expires - secs(1)).is_ok());
    assert_eq!(account.reminder_due(id, lead, expires).err(), Some(ReminderNotDue::LinkNotLive));
    let other = TokenId::from_uuid(uuid::Uuid::from_u128(4));
    assert_eq!(account.reminder_due(other, lead, expires - lead).err(), Some(ReminderNotDue::NotCurrent));
    // A lead longer than the link's life (kept across a shorter server lifetime): due at once.
    assert!(account.reminder_due(id, SignedDuration::from_hours(72), t0()).is_ok());

    account.record_reminder(id, lead, InviteReminder::Queued { at: expires - lead }).unwrap();
    assert_eq!(account.reminder_due(id, lead, expires - secs(1)).err(), Some(ReminderNotDue::AlreadyReminded));
    assert_eq!(
        account.record_reminder(id, lead, InviteReminder::Skipped { at: expires - secs(1) }),
        Err(ReminderNotDue::AlreadyReminded)
    );

    account.register(&hash_of(3), name(), pw(1), t0() + secs(1)).unwrap();
    assert_eq!(account.reminder_due(id, lead, expires - secs(1)).err(), Some(ReminderNotDue::AccountExists));
}
