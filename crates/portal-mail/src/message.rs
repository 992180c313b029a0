//! The RFC 5322 form of a [`RenderedEmail`], shared by both transports.

use mail_send::mail_builder::MessageBuilder;
use mail_send::mail_builder::headers::date::Date;
use mail_send::mail_builder::headers::text::Text;
use mail_send::mail_builder::mime::MimePart;
use portal_core::{DeliveryCause, DeliveryProblem, RenderedEmail, TransportError};

/// Checks the header fields of a rendered email. The renderer builds them from validated domain
/// types, but [`RenderedEmail`] has public fields and mail-builder writes Message-IDs verbatim,
/// so a transport refuses anything that could break out of a header line.
///
/// # Errors
/// [`TransportError::Permanent`] ([`DeliveryCause::NotBuilt`]) naming the bad field (never its
/// value).
pub(crate) fn check(email: &RenderedEmail) -> Result<(), TransportError> {
    let bad = |field: &str| Err(not_built(format!("invalid message: bad {field}")));
    let plain = |text: &str| !text.is_empty() && !text.chars().any(char::is_control);
    let address = |text: &str| {
        plain(text)
            && text.len() <= 254
            && !text.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"' | '(' | ')'))
            && text.rsplit_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
    };
    if !address(&email.from_address) {
        return bad("sender address");
    }
    if !address(&email.to) {
        return bad("recipient address");
    }
    if !plain(&email.from_name) {
        return bad("sender name");
    }
    if !plain(&email.subject) {
        return bad("subject");
    }
    let id_ok = email.message_id.len() <= 200
        && email.message_id.split_once('@').is_some_and(|(left, right)| {
            let atom =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            atom(left) && atom(right)
        });
    if !id_ok {
        return bad("message id");
    }
    Ok(())
}

/// Serialises a checked email: `multipart/alternative` with the text and HTML parts, `From` with
/// the display name, `To`, `Subject` (RFC 2047-encoded when not ASCII), the stable
/// `Message-ID`, `Date` = `date_unix_seconds`, and `Auto-Submitted: auto-generated` (RFC 3834,
/// so out-of-office robots do not answer).
///
/// # Errors
/// [`TransportError::Permanent`] when the email fails [`check`].
pub(crate) fn to_rfc5322(email: &RenderedEmail, date_unix_seconds: i64) -> Result<Vec<u8>, TransportError> {
    check(email)?;
    MessageBuilder::new()
        .from((email.from_name.as_str(), email.from_address.as_str()))
        .to(email.to.as_str())
        .subject(email.subject.as_str())
        .message_id(email.message_id.as_str())
        .date(Date::new(date_unix_seconds))
        .header("Auto-Submitted", Text::new("auto-generated"))
        .body(MimePart::new(
            "multipart/alternative",
            vec![text_part(&email.text), MimePart::new("text/html", email.html.as_str())],
        ))
        .write_to_vec()
        .map_err(|_| not_built("the message could not be serialised".into()))
}

/// A message that cannot be built never will be: retrying cannot help.
fn not_built(detail: String) -> TransportError {
    TransportError::Permanent(DeliveryProblem::new(DeliveryCause::NotBuilt, detail))
}

/// The plain-text part. ASCII text with short lines goes out as `7bit`, so the link in a raw
/// `.eml` file (or a mail server's spool) reads and copies as it is; anything else is left to
/// the builder, which picks quoted-printable or base64.
fn text_part(text: &str) -> MimePart<'static> {
    const MAX_LINE: usize = 998; // RFC 5322 §2.1.1
    if text.is_ascii() && text.lines().all(|line| line.len() <= MAX_LINE) {
        let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        MimePart::new("text/plain", crlf).transfer_encoding("7bit")
    } else {
        MimePart::new("text/plain", text.to_owned())
    }
}

/// Now, for the `Date` header. Transports are adapters: reading the wall clock is theirs to do.
pub(crate) fn now_unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> RenderedEmail {
        RenderedEmail {
            message_id: "0190-abc@example.org".into(),
            from_name: "Account notifications".into(),
            from_address: "no-reply@example.org".into(),
            to: "ada@example.org".into(),
            subject: "Invitación a su cuenta".into(),
            text: "Hello\r\n.\r\nstill the body".into(),
            html: "<p>Hello</p>".into(),
        }
    }

    #[test]
    fn header_injection_is_refused_without_echoing_the_value() {
        for email in [
            RenderedEmail { subject: "Hi\r\nBcc: evil@example.org".into(), ..sample() },
            RenderedEmail { from_name: "A\nB".into(), ..sample() },
            RenderedEmail { to: "a@b.c>\r\nBcc: <x@y.z".into(), ..sample() },
            RenderedEmail { message_id: "x@y>\r\nBcc: x@y.z".into(), ..sample() },
        ] {
            match to_rfc5322(&email, 0) {
                Err(TransportError::Permanent(DeliveryProblem { cause: DeliveryCause::NotBuilt, detail: why })) => {
                    assert!(!why.contains("evil") && !why.contains("Bcc"), "{why}");
                }
                other => panic!("expected a permanent failure, got {other:?}"),
            }
        }
    }

    #[test]
    fn quotes_and_accents_in_the_sender_name_and_subject_survive_a_round_trip() {
        let email = RenderedEmail {
            from_name: "Clínica \"Sol\" <Norte>, S.A.".into(),
            subject: "Restablezca su contraseña: \"Sol\" <Norte>".into(),
            ..sample()
        };
        let bytes = to_rfc5322(&email, 0).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let from = parsed.from().and_then(|a| a.first()).unwrap();
        assert_eq!(from.name(), Some(email.from_name.as_str()));
        assert_eq!(from.address(), Some("no-reply@example.org"));
        assert_eq!(parsed.subject(), Some(email.subject.as_str()));
        assert_eq!(parsed.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("ada@example.org"));
    }

    #[test]
    fn an_ascii_text_part_keeps_its_link_readable_in_the_raw_message() {
        let link = "https://portal.example.org/portal/invitation?token=Vb_to0t_R-OQluRAh1tQGjdtlfZxWYj273I1qcLQPAGAKyp8t1IxXJM4BrX8O2mX";
        let email = RenderedEmail { text: format!("Hello,\n\nopen this link:\n\n{link}\n"), ..sample() };
        let raw = String::from_utf8(to_rfc5322(&email, 0).unwrap()).unwrap();
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
        assert!(raw.contains(&format!("\r\n{link}\r\n")), "the link is one unbroken line: {raw}");
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert!(parsed.body_text(0).unwrap().contains(link));

        let accented = RenderedEmail { text: format!("Hola, contraseña: {link}"), ..sample() };
        let raw = String::from_utf8(to_rfc5322(&accented, 0).unwrap()).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert!(parsed.body_text(0).unwrap().contains("contraseña"));
    }

    #[test]
    fn a_message_has_both_parts_and_the_stable_id() {
        let bytes = to_rfc5322(&sample(), 1_800_000_000).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Message-ID: <0190-abc@example.org>"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("Subject: =?utf-8?"), "{text}");
    }
}
