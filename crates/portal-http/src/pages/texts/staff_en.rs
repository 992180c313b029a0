//! The staff pages in English.

use portal_core::service::{SendInviteError, SendResetError, SkipReason, ToggleError};
use portal_core::{
    Actor, AuditAction, AuditFailure, DeliveryCause, InvalidInput, Language, PortalStatusKind, SecondFactorKind,
};

use super::Said;
use super::staff::StaffTexts;

pub(super) const STAFF_TEXTS: StaffTexts = StaffTexts {
    staff_nav: "Staff",
    practice_settings: "Practice settings",
    sign_out: "Sign out",
    all_clients: "← All clients",
    back_to_clients: "Back to clients",
    times_in_utc: |zone| format!("Times are in UTC: the practice's time zone “{zone}” is not known to this server."),

    staff_sign_in: "Staff sign-in",
    invalid_key: "This staff key is not valid.",
    staff_key: "Staff key",
    key_hint: [
        "The",
        "key from",
        ". Signing in starts a session in this browser (the key itself is not kept); it ends when you sign out, when it is left unused for a while, or when the key is revoked or expires.",
    ],
    sign_in: "Sign in",
    host_sign_in: Said { title: "Please sign in", text: "Sign in to your practice software to use these pages." },
    trouble_title: "Something went wrong",
    trouble: |reference| format!("Please try again. Reference: {reference}"),
    no_such_client: Said { title: "No such client", text: "This client does not exist in your practice." },
    practice_gone: Said { title: "This practice no longer exists", text: "Sign in again with a key of your practice." },

    clients: "Clients",
    search_label: "Search by name or email",
    search: "Search",
    search_hint: "The start of a name or an email address; upper and lower case are the same.",
    clear_search: "Clear the search",
    search_too_long: "Not searched: a search is at most 100 characters.",
    search_characters: "Not searched: a search cannot hold line breaks or other control characters.",
    cursor_invalid: "That page link is not valid any more; here is the first page.",
    portal_status: "Portal status",
    all: "All",
    status_kind,
    invited_expires: |when| format!("Invited, expires {when}"),
    active_as: |username| format!("Active ({username})"),
    disabled_as: |username| format!("Disabled ({username})"),
    no_more_clients: "No more clients here.",
    back_to_first_page: "Back to the first page",
    no_match: |search, status| match status {
        Some(status) => format!("No clients match “{search}” with portal status “{status}”."),
        None => format!("No clients match “{search}”."),
    },
    none_with_status: |status| format!("No clients with portal status “{status}”."),
    no_clients_yet: "No clients yet.",
    select_legend: "Select clients to invite to the portal",
    select: "Select",
    name: "Name",
    portal: "Portal",
    select_client: |name| format!("Select {name}"),
    send_selected: "Send invitations to selected clients",
    pages: "Pages",
    previous_page: "Previous page",
    next_page: "Next page",
    invite_every: "Invite every client with no account (up to 500)",
    invite_every_hint: "Clients never invited, or whose invitation expired, who have an email address on file and have not asked not to be emailed.",

    email: "Email",
    none_on_file: "none on file",
    language: "Language",
    language_name: |language| match language {
        Language::En => "English",
        Language::Es => "Spanish",
    },
    audit_trail: "Audit trail",
    nothing_yet: "Nothing yet.",
    audit_columns: ["When", "What", "Who", "Outcome"],
    action,

    second_steps_title: "Second sign-in steps",
    no_second_steps: "None: the client signs in with the password alone.",
    factor_kind: |kind| match kind {
        SecondFactorKind::Totp => "Authenticator app",
        SecondFactorKind::Passkey => "Passkey",
        SecondFactorKind::RecoveryCode => "Recovery code",
    },
    factor_added: ", added",
    factor_last_used: ", last used",
    codes_left: |&left| match left {
        1 => "1 recovery code left.".to_owned(),
        _ => format!("{left} recovery codes left."),
    },
    remove_factors_hint: "For a lost phone: the client then signs in with the password alone, or sets up a new app when the practice requires one. The client is told by email.",
    remove_factors: "Remove second sign-in steps",
    factors_removed_notice: "Second sign-in steps removed; the client was told by email.",
    second_factor_policy: "Second sign-in step (an authenticator app)",
    second_factor_policy_hint: "A client who already set one up is always asked for it. Staff can remove a client's second steps from the client's page.",
    second_factor_policies: [
        "Off: clients cannot set one up",
        "Optional: clients may set one up",
        "Required: clients set one up at their next sign-in",
    ],
    audit_detail: |_, detail| detail.to_owned(),
    actor: |actor| match actor {
        Actor::Staff { label, .. } => format!("Staff: {label}"),
        Actor::Client => "The client".to_owned(),
        Actor::Anonymous => "Someone not signed in".to_owned(),
        Actor::System => "The portal".to_owned(),
    },
    done: "Done",
    failure,

    username: "Username",
    reason: "Reason",
    invitation: "Invitation",
    password_reset: "Password reset",
    reset_password: "Reset password",
    send_invite: "Send portal invite",
    resend_invite: "Resend invite",
    reminder_sent: |when| format!("Reminder sent at {when}"),
    turn_off_reason: "Reason for turning off (optional)",
    access_on: "Portal access on",
    access_off: "Portal access off",
    sent: "Sent",
    expires: "Expires",
    link_closed: "This link was closed after too many wrong dates of birth; send a new one.",
    no_date_of_birth: "No date of birth on file: the link opens without it.",

    not_queued: "No email was queued",
    waiting: "Waiting to be sent",
    handed_over: |when| format!("Handed to the mail server {when}"),
    not_delivered_yet: "Not delivered yet",
    retrying: "retrying",
    next_try: |when, &attempts| {
        let attempts = if attempts == 1 { "1 attempt".to_owned() } else { format!("{attempts} attempts") };
        format!("next try {when}; {attempts} so far")
    },
    could_not_deliver: "Could not be delivered",
    after_attempts: |&attempts| format!(", after {attempts} attempts"),
    not_sent: "Not sent",
    access_turned_off: "portal access was turned off",
    link_replaced: "a newer link replaced it, or it was used",
    delivery_cause,
    technical_detail: "Technical detail",

    invite_queued: "Invitation queued.",
    reset_queued: "Password-reset email queued.",
    access_turned_on_notice: "Portal access turned on.",
    access_turned_off_notice: "Portal access turned off; the client was signed out.",
    not_done: |why| format!("Not done: {why}."),
    invalid_reason: InvalidInput::to_string,
    invite_refused: SendInviteError::to_string,
    reset_refused: SendResetError::to_string,
    toggle_refused: ToggleError::to_string,

    invitations: "Invitations",
    none_selected: "No invitations were sent: select at least one client in the list first.",
    too_many: |max| format!("No invitations were sent: at most {max} clients can be invited at once."),
    no_client_records: "No invitations were sent: this portal does not keep the client list, so select the clients in your practice software.",
    nobody_waiting: "Every client with an email address already has an account or an invitation that is still valid: no invitations were sent.",
    sent_summary: |sent, not_sent| format!("Invitations sent: {sent}. Not sent: {not_sent}."),
    client: "Client",
    unknown_client: |id| format!("Unknown client ({id})"),
    line_sent: "Sent",
    line_resent: "Sent again; the earlier link no longer works",
    skipped: |reason| {
        let why = match reason {
            SkipReason::AccountExists => "already has a portal account (send a password reset instead)",
            SkipReason::NoEmailOnFile => "no email address on file",
            SkipReason::EmailNotPermitted => "has asked not to be emailed",
            SkipReason::ClientNotFound => "not a client of your practice",
        };
        format!("Skipped: {why}")
    },
    line_failed: |reference| format!("Not sent: something went wrong (reference {reference}); try again"),
    not_attempted: "Not sent: the service became unavailable before this client; try again",
    more_waiting: |&remaining| match remaining {
        1 => "1 more client with no account is waiting.".to_owned(),
        _ => format!("{remaining} more clients with no account are waiting."),
    },
    invite_next: |max| format!("Invite the next {max}"),

    settings_saved: "Settings saved. Links already sent keep their lifetime.",
    not_saved: "Not saved",
    bad_name: |why| format!("The practice name: {why}."),
    bad_time_zone: |why| format!("The time zone: {why}."),
    whole_hours: "Enter a whole number of hours, or leave the field empty.",
    link_lifetime_range: |min, max| format!("A link lifetime is between {min} and {max} hours."),
    reminder_range: |max| {
        format!(
            "The reminder comes between 1 and {max} hours before the invitation expires (at least an hour before it ends)."
        )
    },
    practice: "Practice",
    name_label: "Name shown in mail and pages",
    sign_in_address: ["Clients sign in at", "; that address does not change."],
    time_zone: "Time zone",
    time_zone_hint: "An IANA name such as America/Chicago: mail and these pages state times in it.",
    discreet_mail: "Discreet mail: neutral subjects and sender name, without the practice's name",
    client_portal: "Client portal",
    date_of_birth_check: "Ask for the client's date of birth before an emailed link can be used",
    date_of_birth_check_hint: "Only for clients whose record has a date of birth; five wrong answers close the link.",
    client_started_resets: "Let clients ask for a password reset from the sign-in page",
    reminder_hours: "Invitation reminder, hours before the link expires",
    reminder_hint: "Empty: no reminder. A client who has not registered gets one reminder with the same link.",
    invite_link_hours: "Invitation links work for (hours)",
    reset_link_hours: "Password-reset links work for (hours)",
    server_lifetime: |lifetime| format!("1 to 168. Empty: this server's setting ({lifetime})."),
    save_settings: "Save settings",
};

const fn status_kind(kind: PortalStatusKind) -> &'static str {
    match kind {
        PortalStatusKind::NoAccount => "No account",
        PortalStatusKind::Invited => "Invited",
        PortalStatusKind::InviteExpired => "Invite expired",
        PortalStatusKind::Active => "Active",
        PortalStatusKind::Disabled => "Disabled",
    }
}

const fn action(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ClientCreated => "Client record created",
        AuditAction::ClientUpdated => "Client record changed",
        AuditAction::InviteSent => "Invitation sent",
        AuditAction::InviteResent => "Invitation resent",
        AuditAction::Registered => "Portal account created",
        AuditAction::AccountDisabled => "Portal access turned off",
        AuditAction::AccountEnabled => "Portal access turned on",
        AuditAction::ResetSent => "Password reset sent",
        AuditAction::ResetCompleted => "Password changed with a reset link",
        AuditAction::SignInSucceeded => "Signed in",
        AuditAction::SignInFailed => "Sign-in failed",
        AuditAction::SignInLocked => "Sign-in locked after repeated failures",
        AuditAction::SignedOut => "Signed out",
        AuditAction::SessionsRevoked => "Sessions revoked",
        AuditAction::PasswordHashUpgraded => "Stored password upgraded to stronger hashing",
        AuditAction::StaffKeyCreated => "Staff key created",
        AuditAction::StaffKeyRevoked => "Staff key revoked",
        AuditAction::StaffSignedIn => "Staff signed in to the staff pages",
        AuditAction::StaffSignInFailed => "Staff sign-in failed",
        AuditAction::StaffSignedOut => "Staff signed out of the staff pages",
        AuditAction::PracticeUpdated => "Practice settings changed",
        AuditAction::DateOfBirthRefused => "Wrong date of birth given on an emailed link",
        AuditAction::LinkVoided => "Emailed link voided after too many wrong dates of birth",
        AuditAction::ResetRequested => "Password reset asked for from the sign-in page",
        AuditAction::InviteReminderQueued => "Invitation reminder",
        AuditAction::SecondFactorEnrolled => "Second sign-in step added",
        AuditAction::SecondFactorRemoved => "Second sign-in step removed",
        AuditAction::SecondFactorUsed => "Second sign-in step used",
        AuditAction::SecondFactorRefused => "Second sign-in step refused",
        AuditAction::RecoveryCodesRegenerated => "New recovery codes made (the old ones stopped working)",
    }
}

fn failure(failure: &AuditFailure) -> String {
    let why = match failure {
        AuditFailure::InvalidCredentials => "wrong username or password",
        AuditFailure::AccountDisabled => "portal access is off",
        AuditFailure::Throttled => "too many attempts in a short time",
        AuditFailure::Locked => "locked after too many failed attempts",
        AuditFailure::KeyRevoked => "the staff key was revoked",
        AuditFailure::KeyExpired => "the staff key has expired",
        AuditFailure::NoMatch => "no active account has that username and email; nothing was sent",
        AuditFailure::EmailNotPermitted => "the client asked not to be emailed; nothing was sent",
        AuditFailure::NoEmailOnFile => "the client has no email address on file; nothing was sent",
        AuditFailure::InvalidCode => "the code was not right",
        AuditFailure::ReplayedCode => "the code had already been used",
        AuditFailure::InvalidPasskey => "the passkey was not accepted",
        AuditFailure::Unrecognised(code) => return format!("Refused ({})", code.as_str()),
    };
    format!("Refused: {why}")
}

const fn delivery_cause(cause: &DeliveryCause) -> &'static str {
    match cause {
        DeliveryCause::Unreachable => "the mail server could not be reached",
        DeliveryCause::NoSecureConnection => "no secure connection to the mail server could be made",
        DeliveryCause::TurnedAway => "the mail server turned the connection away",
        DeliveryCause::SignInRefused => "the mail server refused the portal's sign-in",
        DeliveryCause::Deferred => "the mail server asked to try again later",
        DeliveryCause::AddressRefused => "the address was refused",
        DeliveryCause::SenderRefused => "the mail server refused the sender address",
        DeliveryCause::MessageRefused => "the mail server refused the message",
        DeliveryCause::TimedOut => "the mail server did not answer in time",
        DeliveryCause::LinkExpired => "the link expired before the email could be sent",
        DeliveryCause::NotWritten => "the email could not be saved to the mail folder",
        DeliveryCause::NotBuilt => "the email could not be put together",
        DeliveryCause::ClientGone => "the client was no longer in the practice's records when it was to be sent",
        // A gone practice has no staff to read this; cancellations have their own words.
        DeliveryCause::Other
        | DeliveryCause::PracticeGone
        | DeliveryCause::CancelledAccountDisabled
        | DeliveryCause::CancelledLinkSuperseded => "the mail system reported a problem",
    }
}
