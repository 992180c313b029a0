//! The compiled-in mail templates (the crate's `templates/` folder; its `README.md` is written
//! for the practice) and the subjects and sender names.
//!
//! Each message has one askama template struct per language and part. askama checks every
//! `{{ name }}` against the struct at compile time and HTML-escapes values in the `.html`
//! templates; `.txt` templates insert values as they are (the plain-text part is not markup).

use std::ops::Deref;

use askama::Template;
use portal_core::Language;

use crate::render::RenderError;

/// What the invitation and the password-reset mails state.
pub(crate) struct LinkMail<'a> {
    /// The client's name.
    pub recipient: &'a str,
    /// The practice's name.
    pub practice: &'a str,
    /// The link, built from the configured public URL.
    pub link: &'a str,
    /// How long the link works, in words ("48 hours").
    pub valid_for: &'a str,
    /// When the link stops working, in the practice's time zone.
    pub expires: &'a str,
}

/// What the "your password was changed" mail states.
pub(crate) struct ChangeNotice<'a> {
    /// The client's name.
    pub recipient: &'a str,
    /// The practice's name.
    pub practice: &'a str,
    /// When the mail was queued, in the practice's time zone.
    pub when: &'a str,
}

/// A message with what it states.
pub(crate) enum Message<'a> {
    Invitation(LinkMail<'a>),
    InvitationReminder(LinkMail<'a>),
    PasswordReset(LinkMail<'a>),
    PasswordChanged(ChangeNotice<'a>),
    SecondFactorAdded(ChangeNotice<'a>),
    SecondFactorRemoved(ChangeNotice<'a>),
    RecoveryCodeUsed(ChangeNotice<'a>),
}

/// Declares a template struct over the facts of its message. The struct derefs to the facts, so
/// a template names them directly (`{{ recipient }}`, not `{{ self.0.recipient }}`).
macro_rules! mail_template {
    ($name:ident($facts:ident) = $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a>(&'a $facts<'a>);

        impl<'a> Deref for $name<'a> {
            type Target = $facts<'a>;

            fn deref(&self) -> &Self::Target {
                self.0
            }
        }
    };
}

mail_template!(EnInvitationText(LinkMail) = "en/invitation.txt");
mail_template!(EnInvitationHtml(LinkMail) = "en/invitation.html");
mail_template!(EnInvitationReminderText(LinkMail) = "en/invitation_reminder.txt");
mail_template!(EnInvitationReminderHtml(LinkMail) = "en/invitation_reminder.html");
mail_template!(EnPasswordResetText(LinkMail) = "en/password_reset.txt");
mail_template!(EnPasswordResetHtml(LinkMail) = "en/password_reset.html");
mail_template!(EnPasswordChangedText(ChangeNotice) = "en/password_changed.txt");
mail_template!(EnPasswordChangedHtml(ChangeNotice) = "en/password_changed.html");
mail_template!(EsInvitationText(LinkMail) = "es/invitation.txt");
mail_template!(EsInvitationHtml(LinkMail) = "es/invitation.html");
mail_template!(EsInvitationReminderText(LinkMail) = "es/invitation_reminder.txt");
mail_template!(EsInvitationReminderHtml(LinkMail) = "es/invitation_reminder.html");
mail_template!(EsPasswordResetText(LinkMail) = "es/password_reset.txt");
mail_template!(EsPasswordResetHtml(LinkMail) = "es/password_reset.html");
mail_template!(EsPasswordChangedText(ChangeNotice) = "es/password_changed.txt");
mail_template!(EsPasswordChangedHtml(ChangeNotice) = "es/password_changed.html");
mail_template!(EnSecondFactorAddedText(ChangeNotice) = "en/second_factor_added.txt");
mail_template!(EnSecondFactorAddedHtml(ChangeNotice) = "en/second_factor_added.html");
mail_template!(EnSecondFactorRemovedText(ChangeNotice) = "en/second_factor_removed.txt");
mail_template!(EnSecondFactorRemovedHtml(ChangeNotice) = "en/second_factor_removed.html");
mail_template!(EnRecoveryCodeUsedText(ChangeNotice) = "en/recovery_code_used.txt");
mail_template!(EnRecoveryCodeUsedHtml(ChangeNotice) = "en/recovery_code_used.html");
mail_template!(EsSecondFactorAddedText(ChangeNotice) = "es/second_factor_added.txt");
mail_template!(EsSecondFactorAddedHtml(ChangeNotice) = "es/second_factor_added.html");
mail_template!(EsSecondFactorRemovedText(ChangeNotice) = "es/second_factor_removed.txt");
mail_template!(EsSecondFactorRemovedHtml(ChangeNotice) = "es/second_factor_removed.html");
mail_template!(EsRecoveryCodeUsedText(ChangeNotice) = "es/recovery_code_used.txt");
mail_template!(EsRecoveryCodeUsedHtml(ChangeNotice) = "es/recovery_code_used.html");

/// The plain-text and HTML bodies of a message in the client's language.
///
/// # Errors
/// [`RenderError::Template`] when askama fails to write (it checks names at compile time, so
/// only a formatting failure is left).
pub(crate) fn bodies(language: Language, message: &Message<'_>) -> Result<(String, String), RenderError> {
    match (language, message) {
        (Language::En, Message::Invitation(m)) => parts(&EnInvitationText(m), &EnInvitationHtml(m)),
        (Language::En, Message::InvitationReminder(m)) => {
            parts(&EnInvitationReminderText(m), &EnInvitationReminderHtml(m))
        }
        (Language::En, Message::PasswordReset(m)) => parts(&EnPasswordResetText(m), &EnPasswordResetHtml(m)),
        (Language::En, Message::PasswordChanged(m)) => parts(&EnPasswordChangedText(m), &EnPasswordChangedHtml(m)),
        (Language::Es, Message::Invitation(m)) => parts(&EsInvitationText(m), &EsInvitationHtml(m)),
        (Language::Es, Message::InvitationReminder(m)) => {
            parts(&EsInvitationReminderText(m), &EsInvitationReminderHtml(m))
        }
        (Language::Es, Message::PasswordReset(m)) => parts(&EsPasswordResetText(m), &EsPasswordResetHtml(m)),
        (Language::Es, Message::PasswordChanged(m)) => parts(&EsPasswordChangedText(m), &EsPasswordChangedHtml(m)),
        (Language::En, Message::SecondFactorAdded(m)) => {
            parts(&EnSecondFactorAddedText(m), &EnSecondFactorAddedHtml(m))
        }
        (Language::En, Message::SecondFactorRemoved(m)) => {
            parts(&EnSecondFactorRemovedText(m), &EnSecondFactorRemovedHtml(m))
        }
        (Language::En, Message::RecoveryCodeUsed(m)) => parts(&EnRecoveryCodeUsedText(m), &EnRecoveryCodeUsedHtml(m)),
        (Language::Es, Message::SecondFactorAdded(m)) => {
            parts(&EsSecondFactorAddedText(m), &EsSecondFactorAddedHtml(m))
        }
        (Language::Es, Message::SecondFactorRemoved(m)) => {
            parts(&EsSecondFactorRemovedText(m), &EsSecondFactorRemovedHtml(m))
        }
        (Language::Es, Message::RecoveryCodeUsed(m)) => parts(&EsRecoveryCodeUsedText(m), &EsRecoveryCodeUsedHtml(m)),
    }
}

/// The test message of `portal-server mail check` (English: it goes to the operator).
#[derive(Template)]
#[template(path = "mail_check.txt")]
struct MailCheckText;

#[derive(Template)]
#[template(path = "mail_check.html")]
struct MailCheckHtml;

/// The plain-text and HTML bodies of the mail-check test message.
///
/// # Errors
/// [`RenderError::Template`] when askama fails to write.
pub(crate) fn mail_check_bodies() -> Result<(String, String), RenderError> {
    parts(&MailCheckText, &MailCheckHtml)
}

fn parts(text: &impl Template, html: &impl Template) -> Result<(String, String), RenderError> {
    Ok((part(text)?, part(html)?))
}

/// askama drops a template file's final newline; a mail part ends with one.
fn part(template: &impl Template) -> Result<String, RenderError> {
    let mut out = template.render().map_err(|e| RenderError::Template(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

/// The subject line. Discreet mail (the practice's default) names no practice and uses no
/// clinical word: the subject shows in an inbox list and on a lock screen.
pub(crate) fn subject(language: Language, message: &Message<'_>, practice: &str, discreet: bool) -> String {
    match (language, message, discreet) {
        (Language::En, Message::Invitation(_), true) => "Your account invitation".into(),
        (Language::En, Message::Invitation(_), false) => format!("Your {practice} client portal invitation"),
        (Language::En, Message::InvitationReminder(_), true) => "Reminder: your account invitation".into(),
        (Language::En, Message::InvitationReminder(_), false) => {
            format!("Reminder: your {practice} client portal invitation expires soon")
        }
        (Language::En, Message::PasswordReset(_), true) => "Account password reset".into(),
        (Language::En, Message::PasswordReset(_), false) => format!("Reset your {practice} client portal password"),
        (Language::En, Message::PasswordChanged(_), true) => "Your account password was changed".into(),
        (Language::En, Message::PasswordChanged(_), false) => {
            format!("Your {practice} client portal password was changed")
        }
        (Language::Es, Message::Invitation(_), true) => "Invitación a su cuenta".into(),
        (Language::Es, Message::Invitation(_), false) => format!("Invitación al portal de clientes de {practice}"),
        (Language::Es, Message::InvitationReminder(_), true) => "Recordatorio: invitación a su cuenta".into(),
        (Language::Es, Message::InvitationReminder(_), false) => {
            format!("Recordatorio: su invitación al portal de clientes de {practice} caduca pronto")
        }
        (Language::Es, Message::PasswordReset(_), true) => "Restablecer la contraseña de su cuenta".into(),
        (Language::Es, Message::PasswordReset(_), false) => {
            format!("Restablezca su contraseña del portal de clientes de {practice}")
        }
        (Language::Es, Message::PasswordChanged(_), true) => "Se cambió la contraseña de su cuenta".into(),
        (Language::Es, Message::PasswordChanged(_), false) => {
            format!("Se cambió su contraseña del portal de clientes de {practice}")
        }
        (Language::En, Message::SecondFactorAdded(_), true) => "A sign-in step was added to your account".into(),
        (Language::En, Message::SecondFactorAdded(_), false) => {
            format!("A second sign-in step was added to your {practice} client portal account")
        }
        (Language::En, Message::SecondFactorRemoved(_), true) => "A sign-in step was removed from your account".into(),
        (Language::En, Message::SecondFactorRemoved(_), false) => {
            format!("A second sign-in step was removed from your {practice} client portal account")
        }
        (Language::En, Message::RecoveryCodeUsed(_), true) => "A recovery code was used for your account".into(),
        (Language::En, Message::RecoveryCodeUsed(_), false) => {
            format!("A recovery code was used to sign in to your {practice} client portal")
        }
        (Language::Es, Message::SecondFactorAdded(_), true) => {
            "Se agregó un paso de inicio de sesión a su cuenta".into()
        }
        (Language::Es, Message::SecondFactorAdded(_), false) => {
            format!("Se agregó un segundo paso de inicio de sesión a su cuenta del portal de clientes de {practice}")
        }
        (Language::Es, Message::SecondFactorRemoved(_), true) => {
            "Se quitó un paso de inicio de sesión de su cuenta".into()
        }
        (Language::Es, Message::SecondFactorRemoved(_), false) => {
            format!("Se quitó un segundo paso de inicio de sesión de su cuenta del portal de clientes de {practice}")
        }
        (Language::Es, Message::RecoveryCodeUsed(_), true) => "Se usó un código de recuperación en su cuenta".into(),
        (Language::Es, Message::RecoveryCodeUsed(_), false) => {
            format!("Se usó un código de recuperación para entrar en su portal de clientes de {practice}")
        }
    }
}

/// The sender's display name: the practice's name, or a neutral one for discreet mail.
pub(crate) fn sender(language: Language, practice: &str, discreet: bool) -> String {
    match (language, discreet) {
        (Language::En, true) => "Account notifications".to_owned(),
        (Language::Es, true) => "Notificaciones de la cuenta".to_owned(),
        (_, false) => practice.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: LinkMail<'static> =
        LinkMail { recipient: "Ada", practice: "P", link: "https://x", valid_for: "1 hour", expires: "soon" };
    const NOTICE: ChangeNotice<'static> = ChangeNotice { recipient: "Ada", practice: "P", when: "now" };

    #[test]
    fn discreet_subjects_and_senders_carry_no_practice_name_or_clinical_words() {
        let clinical = ["therap", "clinic", "health", "counsel", "psych", "terap", "clínic", "salud", "portal"];
        let practice = "Sunrise Therapy";
        for language in [Language::En, Language::Es] {
            let messages = [
                Message::Invitation(LINK),
                Message::InvitationReminder(LINK),
                Message::PasswordReset(LINK),
                Message::PasswordChanged(NOTICE),
            ];
            let mut texts = vec![sender(language, practice, true)];
            texts.extend(messages.iter().map(|message| subject(language, message, practice, true)));
            for text in texts {
                let lower = text.to_lowercase();
                assert!(clinical.iter().all(|word| !lower.contains(word)), "{text}");
            }
        }
    }

    #[test]
    fn non_discreet_subjects_name_the_practice() {
        for language in [Language::En, Language::Es] {
            for message in [
                Message::Invitation(LINK),
                Message::InvitationReminder(LINK),
                Message::PasswordReset(LINK),
                Message::PasswordChanged(NOTICE),
            ] {
                assert!(subject(language, &message, "Sunrise", false).contains("Sunrise"));
            }
            assert_eq!(sender(language, "Sunrise", false), "Sunrise");
        }
    }

    #[test]
    fn every_part_ends_with_one_newline() {
        for language in [Language::En, Language::Es] {
            let (text, html) = bodies(language, &Message::PasswordChanged(NOTICE)).unwrap();
            assert!(text.ends_with(".\n") && html.ends_with("</html>\n"), "{text}{html}");
        }
    }
}
