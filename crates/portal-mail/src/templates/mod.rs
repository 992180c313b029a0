//! The compiled-in templates (see `README.md` beside this file) and the small `{{placeholder}}`
//! engine that fills them.

use portal_core::Language;

use crate::render::RenderError;

/// Which message a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Invitation,
    PasswordReset,
    PasswordChanged,
}

impl Kind {
    #[cfg(test)]
    pub(crate) const ALL: [Self; 3] = [Self::Invitation, Self::PasswordReset, Self::PasswordChanged];

    const fn key(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
        }
    }
}

/// The files of one language.
struct Files {
    strings: &'static str,
    invitation: (&'static str, &'static str),
    password_reset: (&'static str, &'static str),
    password_changed: (&'static str, &'static str),
}

const EN: Files = Files {
    strings: include_str!("en/strings.txt"),
    invitation: (include_str!("en/invitation.txt"), include_str!("en/invitation.html")),
    password_reset: (include_str!("en/password_reset.txt"), include_str!("en/password_reset.html")),
    password_changed: (include_str!("en/password_changed.txt"), include_str!("en/password_changed.html")),
};

const ES: Files = Files {
    strings: include_str!("es/strings.txt"),
    invitation: (include_str!("es/invitation.txt"), include_str!("es/invitation.html")),
    password_reset: (include_str!("es/password_reset.txt"), include_str!("es/password_reset.html")),
    password_changed: (include_str!("es/password_changed.txt"), include_str!("es/password_changed.html")),
};

const fn files(language: Language) -> &'static Files {
    match language {
        Language::En => &EN,
        Language::Es => &ES,
    }
}

/// The plain-text and HTML body templates of a message.
pub(crate) const fn bodies(language: Language, kind: Kind) -> (&'static str, &'static str) {
    let files = files(language);
    match kind {
        Kind::Invitation => files.invitation,
        Kind::PasswordReset => files.password_reset,
        Kind::PasswordChanged => files.password_changed,
    }
}

/// The subject template of a message.
pub(crate) fn subject(language: Language, kind: Kind, discreet: bool) -> Result<&'static str, RenderError> {
    let key = format!("{}.subject{}", kind.key(), if discreet { ".discreet" } else { "" });
    string(language, &key)
}

/// The sender-name template.
pub(crate) fn sender(language: Language, discreet: bool) -> Result<&'static str, RenderError> {
    string(language, if discreet { "sender.discreet" } else { "sender" })
}

fn string(language: Language, key: &str) -> Result<&'static str, RenderError> {
    files(language)
        .strings
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .find(|(name, _)| name.trim() == key)
        .map(|(_, value)| value.trim())
        .ok_or_else(|| RenderError::Template(format!("{}/strings.txt has no `{key}`", language.code())))
}

/// How substituted values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As they are (plain text, header values: the MIME writer encodes headers).
    None,
    /// HTML-escaped.
    Html,
}

/// Replaces every `{{name}}` in `template` with its value from `values`.
///
/// # Errors
/// [`RenderError::Template`] for an unknown name or an unclosed `{{`.
pub(crate) fn fill(template: &str, values: &[(&str, &str)], escape: Escape) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| RenderError::Template("a `{{` is never closed".into()))?;
        let name = after[..end].trim();
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| RenderError::Template(format!("unknown placeholder `{{{{{name}}}}}`")))?;
        match escape {
            Escape::None => out.push_str(value),
            Escape::Html => push_html_escaped(&mut out, value),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn push_html_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_escaped_only_in_html() {
        let values = [("name", "<b>Ada & \"Bob\"</b>")];
        assert_eq!(fill("Hi {{name}}!", &values, Escape::None).unwrap(), "Hi <b>Ada & \"Bob\"</b>!");
        assert_eq!(
            fill("<p>Hi {{ name }}!</p>", &values, Escape::Html).unwrap(),
            "<p>Hi &lt;b&gt;Ada &amp; &quot;Bob&quot;&lt;/b&gt;!</p>"
        );
    }

    #[test]
    fn an_unknown_or_unclosed_placeholder_is_an_error() {
        assert!(matches!(fill("{{nope}}", &[], Escape::None), Err(RenderError::Template(m)) if m.contains("nope")));
        assert!(matches!(fill("{{open", &[], Escape::None), Err(RenderError::Template(_))));
    }

    #[test]
    fn a_value_that_looks_like_a_placeholder_is_not_expanded_again() {
        let values = [("a", "{{b}}"), ("b", "secret")];
        assert_eq!(fill("{{a}}", &values, Escape::None).unwrap(), "{{b}}");
    }

    #[test]
    fn every_language_has_every_string() {
        for language in [Language::En, Language::Es] {
            for discreet in [true, false] {
                assert!(sender(language, discreet).is_ok());
                for kind in Kind::ALL {
                    assert!(subject(language, kind, discreet).is_ok(), "{language:?} {kind:?} {discreet}");
                }
            }
        }
    }

    #[test]
    fn discreet_strings_carry_no_practice_name_or_clinical_words() {
        let clinical = ["therap", "clinic", "health", "counsel", "psych", "terap", "clínic", "salud", "portal"];
        for language in [Language::En, Language::Es] {
            let mut strings = vec![sender(language, true).unwrap()];
            strings.extend(Kind::ALL.map(|kind| subject(language, kind, true).unwrap()));
            for text in strings {
                assert!(!text.contains("{{"), "{text}");
                let lower = text.to_lowercase();
                assert!(clinical.iter().all(|word| !lower.contains(word)), "{text}");
            }
        }
    }
}
