//! What the rendered mail says: languages, discretion, escaping, links, expiry wording.

use jiff::{SignedDuration, Timestamp};
use portal_core::{
    Client, ClientId, DisplayName, EmailAddress, Language, LinkKey, MailId, MailKind, OutgoingMail, Practice,
    PracticeId, PracticeSlug, RenderedEmail, TimeZoneName, TokenId, TokenPurpose,
};
use portal_mail::{MailFrom, RenderError, Renderer};

use crate::helpers::{KEY, PUBLIC_URL, T0, TestResult, renderer, token_in};

fn practice(discreet_mail: bool, time_zone: &str) -> TestResult<Practice> {
    Ok(Practice {
        id: PracticeId::from_uuid(uuid::Uuid::from_u128(1)),
        slug: PracticeSlug::parse("sunrise")?,
        name: DisplayName::parse("name", "Sunrise Therapy")?,
        time_zone: TimeZoneName::parse(time_zone)?,
        discreet_mail,
        settings: portal_core::PracticeSettings::default(),
        created_at: T0,
    })
}

/// The mail as queued: the language and the greeting are not in it, but in the client record.
fn mail(kind: MailKind) -> TestResult<OutgoingMail> {
    Ok(OutgoingMail {
        id: MailId::from_uuid(uuid::Uuid::from_u128(0xabc)),
        practice_id: PracticeId::from_uuid(uuid::Uuid::from_u128(1)),
        client_id: ClientId::parse("1001")?,
        to: EmailAddress::parse("ada@example.org")?,
        kind,
        created_at: T0,
    })
}

/// The client as the host's directory has it when the mail is rendered.
fn client(language: Language, name: &str) -> TestResult<Client> {
    Ok(Client {
        id: ClientId::parse("1001")?,
        practice_id: PracticeId::from_uuid(uuid::Uuid::from_u128(1)),
        name: DisplayName::parse("name", name)?,
        email: Some(EmailAddress::parse("ada@example.org")?),
        language,
        email_consent: true,
        date_of_birth: None,
        created_at: T0,
    })
}

const TOKEN: TokenId = TokenId::from_uuid(uuid::Uuid::from_u128(7));

fn invitation() -> MailKind {
    MailKind::Invitation { token_id: TOKEN, expires_at: T0 + SignedDuration::from_hours(48) }
}

fn reset() -> MailKind {
    MailKind::PasswordReset { token_id: TOKEN, expires_at: T0 + SignedDuration::from_hours(48) }
}

fn reminder() -> MailKind {
    MailKind::InvitationReminder { token_id: TOKEN, expires_at: T0 + SignedDuration::from_hours(24) }
}

fn render(language: Language, kind: MailKind, discreet: bool) -> TestResult<RenderedEmail> {
    let practice = practice(discreet, "America/Chicago")?;
    Ok(renderer().render(&mail(kind)?, &practice, &client(language, "Ada Lovelace")?, &LinkKey::from_bytes(KEY))?)
}

#[test]
fn discreet_mail_has_neutral_subjects_and_sender_in_both_languages() -> TestResult {
    let expected = [
        (Language::En, invitation(), "Your account invitation"),
        (Language::En, reminder(), "Reminder: your account invitation"),
        (Language::En, reset(), "Account password reset"),
        (Language::En, MailKind::PasswordChanged, "Your account password was changed"),
        (Language::Es, invitation(), "Invitación a su cuenta"),
        (Language::Es, reminder(), "Recordatorio: invitación a su cuenta"),
        (Language::Es, reset(), "Restablecer la contraseña de su cuenta"),
        (Language::Es, MailKind::PasswordChanged, "Se cambió la contraseña de su cuenta"),
        (Language::En, MailKind::SecondFactorAdded, "A sign-in step was added to your account"),
        (Language::En, MailKind::SecondFactorRemoved, "A sign-in step was removed from your account"),
        (Language::En, MailKind::RecoveryCodeUsed, "A recovery code was used for your account"),
        (Language::Es, MailKind::SecondFactorAdded, "Se agregó un paso de inicio de sesión a su cuenta"),
        (Language::Es, MailKind::SecondFactorRemoved, "Se quitó un paso de inicio de sesión de su cuenta"),
        (Language::Es, MailKind::RecoveryCodeUsed, "Se usó un código de recuperación en su cuenta"),
    ];
    for (language, kind, subject) in expected {
        let email = render(language, kind, true)?;
        assert_eq!(email.subject, subject);
        let sender = if language == Language::En { "Account notifications" } else { "Notificaciones de la cuenta" };
        assert_eq!(email.from_name, sender);
        assert_eq!(email.from_address, "no-reply@example.org");
        // The body still says who is writing.
        assert!(email.text.contains("Sunrise Therapy") && email.html.contains("Sunrise Therapy"));
    }
    Ok(())
}

#[test]
fn non_discreet_mail_names_the_practice_in_subject_and_sender() -> TestResult {
    let en = render(Language::En, invitation(), false)?;
    assert_eq!(en.subject, "Your Sunrise Therapy client portal invitation");
    assert_eq!(en.from_name, "Sunrise Therapy");
    let es = render(Language::Es, reset(), false)?;
    assert_eq!(es.subject, "Restablezca su contraseña del portal de clientes de Sunrise Therapy");
    assert_eq!(es.from_name, "Sunrise Therapy");
    Ok(())
}

#[test]
fn a_configured_neutral_sender_name_is_used_for_discreet_mail_only() -> TestResult {
    let renderer = Renderer::new(PUBLIC_URL, MailFrom::parse("Client portal <no-reply@example.org>")?)?;
    let key = LinkKey::from_bytes(KEY);
    let discreet =
        renderer.render(&mail(invitation())?, &practice(true, "UTC")?, &client(Language::En, "Ada")?, &key)?;
    assert_eq!(discreet.from_name, "Client portal");
    let named = renderer.render(&mail(invitation())?, &practice(false, "UTC")?, &client(Language::En, "Ada")?, &key)?;
    assert_eq!(named.from_name, "Sunrise Therapy");
    Ok(())
}

#[test]
fn the_expiry_is_stated_in_the_practice_zone_and_in_plain_words() -> TestResult {
    let en = render(Language::En, invitation(), true)?;
    let sentence = "valid for 48 hours, until Sunday 17 January 2027, 02:00 (America/Chicago)";
    assert!(en.text.contains(sentence), "{}", en.text);
    assert!(
        en.html.contains("valid for 48 hours, until <strong>Sunday 17 January 2027, 02:00 (America/Chicago)</strong>")
    );
    let es = render(Language::Es, reset(), true)?;
    let frase = "válido durante 48 horas, hasta el domingo 17 de enero de 2027, 02:00 (America/Chicago)";
    assert!(es.text.contains(frase), "{}", es.text);

    // Summer time is the zone's business, not the template's.
    let july = Timestamp::from_second(1_815_000_000)?; // 2027-07-07 22:40 UTC (CDT, UTC-5)
    let summer = OutgoingMail {
        created_at: july,
        kind: MailKind::Invitation { token_id: TOKEN, expires_at: july + SignedDuration::from_mins(90) },
        ..mail(invitation())?
    };
    let email = renderer().render(
        &summer,
        &practice(true, "America/Chicago")?,
        &client(Language::En, "Ada")?,
        &LinkKey::from_bytes(KEY),
    )?;
    assert!(
        email.text.contains("valid for 1 hour and 30 minutes, until Wednesday 7 July 2027, 19:10 (America/Chicago)"),
        "{}",
        email.text
    );

    // An unknown zone: UTC, and the mail says so.
    let utc = renderer().render(
        &mail(invitation())?,
        &practice(true, "Nowhere/Atlantis")?,
        &client(Language::En, "Ada")?,
        &LinkKey::from_bytes(KEY),
    )?;
    assert!(utc.text.contains("until Sunday 17 January 2027, 08:00 (UTC)"), "{}", utc.text);
    Ok(())
}

#[test]
fn every_mail_tells_the_client_what_to_do_when_it_was_unexpected() -> TestResult {
    let notices = [MailKind::SecondFactorAdded, MailKind::SecondFactorRemoved, MailKind::RecoveryCodeUsed];
    for kind in [invitation(), reminder(), reset(), MailKind::PasswordChanged].into_iter().chain(notices) {
        let en = render(Language::En, kind.clone(), true)?;
        let es = render(Language::Es, kind, true)?;
        for text in [&en.text, &en.html] {
            assert!(text.contains("you can ignore"), "{text}");
        }
        for text in [&es.text, &es.html] {
            assert!(text.contains("puede ignorar"), "{text}");
        }
    }
    let changed = render(Language::En, MailKind::PasswordChanged, true)?;
    assert!(changed.text.contains("If you did not, contact Sunrise Therapy right away"));
    let used = render(Language::Es, MailKind::RecoveryCodeUsed, false)?;
    assert_eq!(
        used.subject,
        "Se usó un código de recuperación para entrar en su portal de clientes de Sunrise Therapy"
    );
    assert!(used.text.contains("Si no fue usted, comuníquese de inmediato con Sunrise Therapy"), "{}", used.text);
    let added = render(Language::En, MailKind::SecondFactorAdded, false)?;
    assert_eq!(added.subject, "A second sign-in step was added to your Sunrise Therapy client portal account");
    assert!(!added.text.contains("otpauth") && !added.html.contains("otpauth"), "no secret in a notice");
    Ok(())
}

/// A reset mail goes out when staff send one and when the client asks from the sign-in page: its
/// words fit both, never saying who started it.
#[test]
fn the_reset_mail_reads_right_whoever_asked_for_it() -> TestResult {
    let en = render(Language::En, reset(), false)?;
    assert!(
        en.text.contains("Here is a link to choose a new password for your Sunrise Therapy client portal account:")
    );
    assert!(en.text.contains("If you did not ask for a new password, you can ignore this message"), "{}", en.text);
    let es = render(Language::Es, reset(), false)?;
    let ask = "Aquí tiene un enlace para elegir una nueva contraseña para su cuenta del portal de clientes de Sunrise Therapy:";
    assert!(es.text.contains(ask), "{}", es.text);
    for text in [&en.text, &en.html, &es.text, &es.html] {
        assert!(!text.contains("sent you") && !text.contains("le envió"), "{text}");
    }
    Ok(())
}

#[test]
fn links_come_from_the_public_url_with_the_right_path_and_purpose() -> TestResult {
    let key = LinkKey::from_bytes(KEY);
    let invite = render(Language::En, invitation(), true)?;
    let token = token_in(&invite.text, "invitation").ok_or("no invitation link")?;
    assert_eq!(key.verify(TokenPurpose::Invite, &token)?.id(), TOKEN);
    assert!(invite.html.contains(&format!("<a href=\"{PUBLIC_URL}/portal/invitation?token={token}\"")));

    let reset = render(Language::Es, reset(), true)?;
    let token = token_in(&reset.text, "password-reset").ok_or("no reset link")?;
    assert_eq!(key.verify(TokenPurpose::Reset, &token)?.id(), TOKEN);
    assert!(key.verify(TokenPurpose::Invite, &token).is_err());

    let prefixed = Renderer::new("https://example.org/clinic/", MailFrom::parse("no-reply@example.org")?)?;
    let email = prefixed.render(&mail(invitation())?, &practice(true, "UTC")?, &client(Language::En, "Ada")?, &key)?;
    assert!(email.text.contains("https://example.org/clinic/portal/invitation?token="));
    Ok(())
}

#[test]
fn an_invitation_reminder_repeats_the_invitations_link_and_says_when_it_expires_in_both_languages() -> TestResult {
    let key = LinkKey::from_bytes(KEY);
    let invite = render(Language::En, invitation(), true)?;
    let link = token_in(&invite.text, "invitation").ok_or("no invitation link")?;

    let en = render(Language::En, reminder(), true)?;
    assert_eq!(token_in(&en.text, "invitation").as_deref(), Some(link.as_str()), "the invitation's own link");
    assert!(en.html.contains(&format!("<a href=\"{PUBLIC_URL}/portal/invitation?token={link}\"")));
    assert_eq!(key.verify(TokenPurpose::Invite, &link)?.id(), TOKEN);
    let sentence = "expires on Saturday 16 January 2027, 02:00 (America/Chicago) (in 24 hours)";
    assert!(en.text.contains(sentence), "{}", en.text);
    assert!(
        en.html.contains("expires on <strong>Saturday 16 January 2027, 02:00 (America/Chicago)</strong> (in 24 hours)")
    );
    assert!(en.text.starts_with("Hello Ada Lovelace,") && en.text.contains("A reminder"));

    let es = render(Language::Es, reminder(), true)?;
    assert_eq!(token_in(&es.text, "invitation").as_deref(), Some(link.as_str()));
    let frase = "caduca el sábado 16 de enero de 2027, 02:00 (America/Chicago) (dentro de 24 horas)";
    assert!(es.text.contains(frase), "{}", es.text);
    assert!(es.html.contains("Recordatorio") && es.text.contains("Le recordamos"));

    // Not discreet: the practice is named; in neither case is a username (there is none yet).
    let named = render(Language::En, reminder(), false)?;
    assert_eq!(named.subject, "Reminder: your Sunrise Therapy client portal invitation expires soon");
    assert_eq!(named.from_name, "Sunrise Therapy");
    let nombrado = render(Language::Es, reminder(), false)?;
    assert_eq!(nombrado.subject, "Recordatorio: su invitación al portal de clientes de Sunrise Therapy caduca pronto");
    for email in [&en, &es, &named, &nombrado] {
        assert!(!email.text.to_lowercase().contains("username:") && !email.text.contains("usuario:"));
    }
    Ok(())
}

#[test]
fn a_client_named_like_markup_stays_text_in_the_html_part() -> TestResult {
    let practice = practice(false, "UTC")?;
    let nasty = "<script>alert('x')</script> & \"Bob\"";
    let email =
        renderer().render(&mail(invitation())?, &practice, &client(Language::En, nasty)?, &LinkKey::from_bytes(KEY))?;
    assert!(!email.html.contains("<script>"), "{}", email.html);
    // askama's escaper writes numeric character references.
    assert!(email.html.contains("Hello &#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; &#34;Bob&#34;,"));
    // The plain-text part is plain text: the name as written.
    assert!(email.text.contains(&format!("Hello {nasty},")));
    Ok(())
}

#[test]
fn the_message_id_is_stable_per_outbox_row() -> TestResult {
    let first = render(Language::En, invitation(), true)?;
    let again = render(Language::En, invitation(), true)?;
    assert_eq!(first.message_id, "00000000-0000-0000-0000-000000000abc@example.org");
    assert_eq!(first, again);
    Ok(())
}

#[test]
fn a_mail_is_never_rendered_for_another_practice() -> TestResult {
    let other = Practice { id: PracticeId::from_uuid(uuid::Uuid::from_u128(99)), ..practice(true, "UTC")? };
    let result =
        renderer().render(&mail(invitation())?, &other, &client(Language::En, "Ada")?, &LinkKey::from_bytes(KEY));
    assert_eq!(result, Err(RenderError::PracticeMismatch));
    Ok(())
}

#[test]
fn a_mail_is_never_rendered_with_another_clients_record() -> TestResult {
    let someone_else = Client { id: ClientId::parse("1002")?, ..client(Language::En, "Grace")? };
    let result =
        renderer().render(&mail(invitation())?, &practice(true, "UTC")?, &someone_else, &LinkKey::from_bytes(KEY));
    assert_eq!(result, Err(RenderError::ClientMismatch));
    Ok(())
}

#[test]
fn the_debug_form_of_a_rendered_mail_hides_the_link() -> TestResult {
    let email = render(Language::En, invitation(), true)?;
    let token = token_in(&email.text, "invitation").ok_or("no link")?;
    assert!(!format!("{email:?}").contains(&token));
    Ok(())
}
