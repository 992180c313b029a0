//! The client pages in English.

use portal_core::InvalidInput;
use portal_core::password_policy::PasswordProblem;

use super::{Said, Texts};

pub(super) const TEXTS: Texts = Texts {
    client_portal: "Client portal",
    skip_to_content: "Skip to content",
    language_links: "Language",

    fix_the_following: "Please fix the following",
    username: "Username",
    password: "Password",
    new_password: "New password",
    date_of_birth: "Date of birth",
    date_of_birth_hint: "Your provider asks for it before this link opens. Where the field takes text, write it year-month-day, for example 1990-07-14.",
    date_of_birth_mismatch: |&tries_left| {
        let tries = if tries_left == 1 { "1 more try".to_owned() } else { format!("{tries_left} more tries") };
        format!("Date of birth: this does not match our records. {tries} before this link closes.")
    },
    username_hint: "3 to 64 characters: letters, digits and . _ - @, starting with a letter or digit. You cannot change it later.",
    password_length_hint: |&min| format!("At least {min} characters. A few unrelated words make a good one."),
    password_rule_hints: [
        "No rules about digits, symbols or capitals.",
        "Not a common password.",
        "Not containing your username or the practice's name.",
    ],
    invalid_username,
    username_taken: "Username: this username is taken; choose another.",
    password_problem: |problem: &PasswordProblem| format!("Password: {problem}."),
    back_to_sign_in: "Back to sign-in",

    sign_in: "Sign in",
    sign_in_to: |practice| format!("To your {practice} client portal."),
    wrong_credentials: "The username or password is not right.",
    forgot_password: "Forgot your password?",
    forgot_password_ask_provider: "Forgot your password? Ask your provider to send you a reset link.",
    your_portal: "Your portal",
    welcome: |client| format!("Welcome, {client}"),
    name: "Name",
    practice: "Practice",
    sign_out: "Sign out",

    create_account_title: "Create your portal account",
    invited: |practice, expires| {
        format!("{practice} invited you to its client portal. This invitation works until {expires}.")
    },
    create_account: "Create account",
    account_created_title: "Account created — sign in",
    account_ready_before: "Your account",
    account_ready_after: |practice| format!(" at {practice} is ready."),

    choose_new_password_title: "Choose a new password",
    reset_for: |practice, expires| format!("For your {practice} portal account. This link works until {expires}."),
    change_password: "Change password",
    password_changed_title: "Password changed — sign in",
    password_changed: "Your password was changed and every session was signed out.",
    sign_in_with_new_password: "Sign in with your new password",

    forgot_password_intro: |practice| {
        format!(
            "Enter your username and the email address {practice} has on file for you. We will email you a link to choose a new password."
        )
    },
    forgot_password_incomplete: "Enter your username and a complete email address.",
    email_on_file: "Email address on file",
    email_me_a_link: "Email me a reset link",
    check_your_email_title: "Check your email",
    check_your_email: |lifetime| {
        format!(
            "If the username and email address match an active account, we have sent a link to choose a new password. The link is valid for {lifetime}. If no email arrives within a few minutes, check your spam folder."
        )
    },

    open_invitation_link: Said {
        title: "Open the link from your email",
        text: "This page needs the invitation link from your email. Open that link again; if it no longer works, ask your provider to send a new one.",
    },
    open_reset_link: Said {
        title: "Open the link from your email",
        text: "This page needs the password-reset link from your email. Open that link again; if it no longer works, ask your provider to send a new one.",
    },
    link_closed: Said {
        title: "This link was closed",
        text: "This link was closed after too many wrong answers; ask your provider to send a new one.",
    },
    invitation_expired: Said {
        title: "This invitation has expired",
        text: "This invitation has expired — ask your provider to resend it.",
    },
    invitation_gone: Said {
        title: "This invitation link no longer works",
        text: "The link was already used, replaced by a newer invitation, or is incomplete. If you already created your account, sign in with the link your provider gave you; otherwise ask your provider to resend the invitation.",
    },
    reset_expired: Said {
        title: "This reset link has expired",
        text: "This password-reset link has expired — ask your provider to send a new one.",
    },
    reset_gone: Said {
        title: "This reset link no longer works",
        text: "The link was already used, replaced by a newer one, or is incomplete — ask your provider to send a new one.",
    },
    account_disabled: Said {
        title: "Your account is disabled",
        text: "Your portal account is disabled — contact your provider.",
    },
    no_practice: Said { title: "No practice at this address", text: "Check the sign-in link your provider gave you." },
    resets_not_available: Said {
        title: "Password resets are not available here",
        text: "Ask your provider to send you a password-reset link.",
    },
    signed_out: Said {
        title: "You are signed out",
        text: "Your session has ended. Sign in again with the sign-in link your provider gave you.",
    },
    busy: Said {
        title: "Busy right now",
        text: "Many people are signing in at the moment. Please try again in a few seconds.",
    },
    busy_requests: Said {
        title: "Busy right now",
        text: "Many requests are being handled. Please try again in a few seconds.",
    },
    form_expired: Said {
        title: "This form has expired",
        text: "For your security the form could not be accepted. Go back, reload the page and try again.",
    },
    trouble_title: "Something went wrong",
    trouble: |reference| {
        format!("Please try again in a moment. If it keeps happening, tell your provider this reference: {reference}")
    },
    too_many_attempts: "Too many attempts",
    too_many_requests: |seconds| format!("Too many requests from your network. Try again in {seconds} seconds."),
    too_many_sign_ins: |seconds| format!("Too many sign-in attempts — try again in {seconds} seconds."),
    second_step_title: "Second sign-in step",
    app_code: "Code from your authenticator app",
    app_code_hint: "The 6 digits the app shows now.",
    use_recovery_code: "Cannot use your passkey or app? Use a recovery code",
    recovery_code: "Recovery code",
    recovery_code_hint: "One of the codes you saved when you set up your second step. Each works once.",
    continue_: "Continue",
    code_not_right: "The code is not right. Check that the time on your phone is right and try again.",
    step_expired: Said {
        title: "Sign in again",
        text: "This sign-in step has expired or was already used. Sign in again with your username and password.",
    },
    enrolment_lapsed: Said {
        title: "Start again",
        text: "Setting up the app took too long. Start again to get a new code.",
    },
    set_up_app_title: "Set up an authenticator app",
    required_by_practice: |practice| {
        format!("{practice} asks for a second step when you sign in. Set it up now to reach your portal.")
    },
    scan_qr: "Scan this code with an authenticator app, for example on your phone.",
    qr_label: "QR code for your authenticator app",
    enter_key: "Or type this key into the app:",
    then_code: "Then enter the 6-digit code the app shows.",
    factor_name: "Name (optional)",
    factor_name_hint: "To tell your apps apart, for example Phone.",
    recovery_codes_title: "Your recovery codes",
    recovery_codes_intro: "Keep these codes somewhere safe. If you cannot use your passkey or authenticator app, each code lets you sign in once. They are shown only now.",
    go_to_portal: "Go to your portal",
    sign_in_security: "Sign-in security",
    password_only: "Only your password protects your account. Add a passkey or an authenticator app for a second step when you sign in.",
    factors_off: "Your provider does not offer a second sign-in step.",
    added_on: |date| format!("Added {date}"),
    remove: "Remove",
    add_app: "Add an authenticator app",
    codes_left: |&left| {
        if left == 1 { "1 recovery code left.".to_owned() } else { format!("{left} recovery codes left.") }
    },
    new_codes: "Make new recovery codes",
    new_codes_hint: "The old ones stop working.",
    factor_required: "Your provider requires a second step: add another passkey or app before removing this one.",
    add_passkey: "Add a passkey",
    passkey_create_intro: "A passkey lets you confirm it is you with your fingerprint, your face, your screen lock or a security key. It stays on your device: your provider never sees it.",
    passkey_name_hint: "To tell your passkeys apart, for example Laptop.",
    create_passkey: "Create the passkey",
    use_passkey_intro: "Confirm with your fingerprint, your face, your screen lock or your security key.",
    use_passkey: "Use a passkey",
    sign_in_with_passkey: "Sign in with a passkey",
    passkey_sign_in_intro: "No username or password needed: choose your passkey for this portal and confirm it is you.",
    passkey_unsupported: "This browser cannot use passkeys. Use another way to sign in, or another browser.",
    passkey_failed: "The passkey was not used. Please try again.",
    passkey_exists: "This device already holds a passkey for your account.",
    passkey_rejected: "The passkey was not accepted. Try again, or use another way.",
    passkey_in_use: "This passkey is already registered.",
    passkey_needs_script: "Passkeys need JavaScript, which is turned off in this browser.",
    passkey_instead: "Use a passkey instead",
    or_a_code: "Or enter a code",
    kind_passkey: "Passkey",
    kind_app: "Authenticator app",
};

fn invalid_username(invalid: &InvalidInput) -> String {
    format!("Username: {invalid}.")
}
