//! The language of the page being answered, English or Spanish.
//!
//! In order of precedence:
//! 1. a choice made on this browser: the language links at the foot of every page (`?lang=es`)
//!    set the `__Host-portal_lang` cookie, which later requests carry;
//! 2. on the pages of an emailed link and the signed-in pages, the language of the client's
//!    record (the mail was written in it) — see [`prefer_record_language`]. A browser that was
//!    shown its record's language keeps it in a second cookie, `__Host-portal_client_lang`, so
//!    the client pages that follow (the sign-in page after a registration) speak it too; the
//!    staff pages never read that one, so staff who open a client's link in their own browser
//!    keep their own language;
//! 3. the browser's `Accept-Language`;
//! 4. English.
//!
//! The edge middleware decides (1) and (3) for every request and keeps the answer beside the
//! [`Mount`](super::Mount), so templates and the refusal pages read it without every handler
//! passing it along; a handler that learns the record's language applies (2).

use std::cell::Cell;

use poem::Request;
use portal_core::Language;

use super::{read_cookie, set_cookie};

/// The cookie that keeps the language chosen on this browser.
pub(crate) const LANGUAGE_COOKIE: &str = "__Host-portal_lang";
/// The cookie that keeps, for the client pages only, the language of the record a browser was
/// last shown.
pub(crate) const CLIENT_LANGUAGE_COOKIE: &str = "__Host-portal_client_lang";
/// How long the choice is kept (a year, as sites usually keep such a preference).
const LANGUAGE_COOKIE_MAX_AGE: u32 = 365 * 24 * 60 * 60;

/// The page language of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageLanguage {
    language: Language,
    /// True when the person chose it on this browser: a record's language does not override it.
    chosen: bool,
    /// The cookie the answer should keep `language` in, if any.
    keep: Option<&'static str>,
}

tokio::task_local! {
    static PAGE_LANGUAGE: Cell<PageLanguage>;
}

impl PageLanguage {
    /// The language a request asks for (its path relative to the portal's mount point tells a
    /// client page, `/portal/…`, from the others).
    pub(crate) fn of(req: &Request) -> Self {
        let cookie = |name| read_cookie(req, name).and_then(|code| Language::parse(&code).ok());
        if let Some(language) = query_choice(req.uri().query().unwrap_or_default()) {
            return Self { language, chosen: true, keep: Some(LANGUAGE_COOKIE) };
        }
        if let Some(language) = cookie(LANGUAGE_COOKIE) {
            return Self { language, chosen: true, keep: None };
        }
        if req.uri().path().starts_with("/portal/")
            && let Some(language) = cookie(CLIENT_LANGUAGE_COOKIE)
        {
            return Self { language, chosen: false, keep: None };
        }
        let accepted = req.headers().get("accept-language").and_then(|value| value.to_str().ok());
        Self { language: accepted.and_then(negotiate).unwrap_or_default(), chosen: false, keep: None }
    }
}

/// Answers `future` with `language` as its pages' language; also returns the `Set-Cookie` value
/// that keeps the language on this browser, when the request chose one or was shown its record's.
pub(crate) async fn with_language<F: std::future::Future>(
    language: PageLanguage,
    future: F,
) -> (F::Output, Option<String>) {
    PAGE_LANGUAGE
        .scope(Cell::new(language), async {
            let output = future.await;
            let last = PAGE_LANGUAGE.try_with(Cell::get).unwrap_or(language);
            let cookie =
                last.keep.map(|name| set_cookie(name, last.language.code(), "Lax", Some(LANGUAGE_COOKIE_MAX_AGE)));
            (output, cookie)
        })
        .await
}

/// The language of the page being answered (English outside a request).
pub(crate) fn language() -> Language {
    PAGE_LANGUAGE.try_with(|cell| cell.get().language).unwrap_or_default()
}

/// Answers the rest of this request in the language of the client's record, unless the person
/// chose one on this browser.
pub(crate) fn prefer_record_language(record: Language) {
    // Outside a request (unit tests of a handler's parts) there is nothing to change.
    let _ = PAGE_LANGUAGE.try_with(|cell| {
        let current = cell.get();
        if !current.chosen && current.language != record {
            cell.set(PageLanguage { language: record, chosen: false, keep: Some(CLIENT_LANGUAGE_COOKIE) });
        }
    });
}

/// `lang=en|es` in a query string.
fn query_choice(query: &str) -> Option<Language> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "lang")
        .and_then(|(_, value)| (value.len() <= 8).then(|| Language::parse(value).ok()).flatten())
}

/// The best supported language of an `Accept-Language` header (RFC 9110 §12.5.4): the highest
/// weight wins, the earlier one on a tie; `q=0` means "not this one".
fn negotiate(header: &str) -> Option<Language> {
    let mut best: Option<(Language, u16)> = None;
    for range in header.split(',').take(32) {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let weight =
            parts.filter_map(|parameter| parameter.trim().strip_prefix("q=")).map(quality).next().unwrap_or(Some(1000));
        let (Ok(language), Some(weight)) = (Language::parse(tag), weight) else {
            continue;
        };
        if weight > 0 && best.is_none_or(|(_, so_far)| weight > so_far) {
            best = Some((language, weight));
        }
    }
    best.map(|(language, _)| language)
}

/// A `q` value in thousandths (`0.8` → 800); `None` when malformed.
fn quality(raw: &str) -> Option<u16> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(negotiate("es-MX,es;q=0.9,en;q=0.8"), Some(Language::Es));
        assert_eq!(negotiate("fr-CA, fr;q=0.9, es;q=0.5, en;q=0.7"), Some(Language::En));
        assert_eq!(negotiate("de, es;q=0.2"), Some(Language::Es));
        assert_eq!(negotiate("es;q=0, en;q=0.1"), Some(Language::En));
        assert_eq!(negotiate("en;q=0.5, es;q=0.5"), Some(Language::En), "a tie goes to the first");
        assert_eq!(negotiate("fr, de"), None);
        assert_eq!(negotiate("*"), None);
        assert_eq!(negotiate("es;q=2, en;q=abc"), None, "malformed weights are skipped");
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn quality_values_follow_the_grammar() {
        assert_eq!(quality("1"), Some(1000));
        assert_eq!(quality("1.000"), Some(1000));
        assert_eq!(quality("0.25"), Some(250));
        assert_eq!(quality("0"), Some(0));
        assert_eq!(quality("1.5"), None);
        assert_eq!(quality("0.1234"), None);
        assert_eq!(quality("-1"), None);
    }

    #[test]
    fn a_query_choice_needs_a_supported_code() {
        assert_eq!(query_choice("lang=es"), Some(Language::Es));
        assert_eq!(query_choice("token=abc&lang=en"), Some(Language::En));
        assert_eq!(query_choice("lang=fr"), None);
        assert_eq!(query_choice("language=es"), None);
        assert_eq!(query_choice(""), None);
    }

    #[tokio::test]
    async fn a_record_language_gives_way_to_a_choice_made_on_the_browser() {
        let guessed = PageLanguage { language: Language::En, chosen: false, keep: None };
        let (spanish, kept) = with_language(guessed, async {
            prefer_record_language(Language::Es);
            language()
        })
        .await;
        assert_eq!(spanish, Language::Es);
        let kept = kept.unwrap_or_default();
        assert!(kept.starts_with("__Host-portal_client_lang=es;"), "the browser keeps it for client pages: {kept}");
        let chosen = PageLanguage { language: Language::En, chosen: true, keep: None };
        let (english, kept) = with_language(chosen, async {
            prefer_record_language(Language::Es);
            language()
        })
        .await;
        assert_eq!(english, Language::En);
        assert_eq!(kept, None);
        let already = PageLanguage { language: Language::Es, chosen: false, keep: None };
        let (_, kept) = with_language(already, async { prefer_record_language(Language::Es) }).await;
        assert_eq!(kept, None, "nothing to keep when the browser already asks for it");
        assert_eq!(language(), Language::En, "outside a request");
    }
}
