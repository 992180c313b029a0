//! The staff's client list, a page at a time: what to list ([`ClientListQuery`]: a search, a
//! portal status, a page size and a position), where a page starts ([`ClientCursor`], a keyset
//! cursor with an opaque wire form) and what comes back ([`ClientPage`]).
//!
//! The list is ordered by [`ListPosition`]: the client's name folded for search
//! ([`search_key`]), then the client's id, both compared byte by byte. That order is total (ids
//! are unique within a practice) and stable whatever a database's collation, so a cursor names
//! one place between two clients, and a page never repeats or skips a client that did not
//! change. Searching matches a prefix of the folded name or of the folded email; every store
//! folds with [`search_key`], so all of them agree on what matches.
//!
//! Everything here is pure: stores fetch rows, this module decides what a page is.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization as _;

use crate::account::PortalStatusKind;
use crate::records::Client;
use crate::types::{ClientId, InvalidInput, rearranges_text};

/// The text a name or an email is compared by when staff search and when the list is ordered:
/// NFKC-normalised, then lower-cased (Unicode's default lower case, as [`str::to_lowercase`]).
/// So `Ada`, `ADA` and `ａｄａ` (full-width) all read `ada`, and a composed `é` matches a
/// decomposed one. Stores keep this key beside the name and the email and compare it byte by
/// byte.
///
/// ```
/// use portal_core::search_key;
/// assert_eq!(search_key("Ada Lovelace"), "ada lovelace");
/// assert_eq!(search_key("ＡＤＡ"), "ada");
/// assert_eq!(search_key("E\u{301}mile"), search_key("\u{c9}mile"));
/// ```
#[must_use]
pub fn search_key(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// The least string greater than every string that starts with `prefix`, in byte order: so
/// `key >= prefix AND key < end` is "starts with `prefix`", and an index on `key` serves it.
/// `None` when no such string exists (every character of `prefix` is `char::MAX`): then
/// `key >= prefix` alone says it.
///
/// UTF-8 keeps the order of code points, so the end is `prefix` with its last character
/// replaced by the next one (skipping the surrogates, which are not characters); a last
/// character that has no successor is dropped and the one before it is advanced instead.
///
/// ```
/// use portal_core::prefix_end;
/// assert_eq!(prefix_end("ada").as_deref(), Some("adb"));
/// assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
/// assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
/// assert_eq!(prefix_end("\u{10FFFF}"), None);
/// ```
#[must_use]
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            code => char::from_u32(code),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// How many clients a page holds: 1 to [`PageSize::MAX`], [`PageSize::DEFAULT`] when not
/// asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageSize(u16);

impl PageSize {
    /// The fewest clients a page may hold.
    pub const MIN: u16 = 1;
    /// The most clients a page may hold.
    pub const MAX: u16 = 200;
    /// The size of a page when none is asked for.
    pub const DEFAULT: Self = Self(50);

    /// A page size.
    ///
    /// # Errors
    /// [`InvalidInput::TooShort`] below [`PageSize::MIN`], [`InvalidInput::TooLong`] above
    /// [`PageSize::MAX`].
    pub fn new(size: u64) -> Result<Self, InvalidInput> {
        match u16::try_from(size) {
            Ok(size) if size < Self::MIN => Err(InvalidInput::TooShort { field: "limit", min: Self::MIN.into() }),
            Ok(size) if size <= Self::MAX => Ok(Self(size)),
            _ => Err(InvalidInput::TooLong { field: "limit", max: Self::MAX.into() }),
        }
    }

    /// The number of clients.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// How many rows a store fetches for one page: one more than the page holds, so it knows
    /// whether another page follows.
    #[must_use]
    pub const fn fetch(self) -> u64 {
        self.0 as u64 + 1
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What staff typed to find clients: 1–100 characters, matched as a case-insensitive prefix of
/// the name or of the email ([`ClientSearch::matches`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSearch {
    /// The text as typed, trimmed.
    text: String,
    /// [`search_key`] of `text`.
    key: String,
}

impl ClientSearch {
    /// The most characters a search may have.
    pub const MAX_LEN: usize = 100;

    /// Parses a search.
    ///
    /// # Errors
    /// [`InvalidInput`] when it is empty or only spaces, longer than
    /// [`ClientSearch::MAX_LEN`], or holds control characters or text-reordering characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(InvalidInput::TooShort { field: "q", min: 1 });
        }
        if text.chars().count() > Self::MAX_LEN {
            return Err(InvalidInput::TooLong { field: "q", max: Self::MAX_LEN });
        }
        if text.chars().any(|c| c.is_control() || rearranges_text(c)) {
            return Err(InvalidInput::BadCharacter { field: "q", allowed: "printable characters (no line breaks)" });
        }
        Ok(Self { key: search_key(text), text: text.to_owned() })
    }

    /// The search as typed (trimmed), to show back to staff.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The folded prefix that a client's name key or email key must start with.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The end of the key range: `prefix <= key < end` (see [`prefix_end`]).
    #[must_use]
    pub fn key_end(&self) -> Option<String> {
        prefix_end(&self.key)
    }

    /// Whether `client` matches: the search key is a prefix of its name key or its email key.
    #[must_use]
    pub fn matches(&self, client: &Client) -> bool {
        search_key(client.name.as_str()).starts_with(&self.key)
            || client.email.as_ref().is_some_and(|email| search_key(email.as_str()).starts_with(&self.key))
    }
}

impl std::fmt::Debug for ClientSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A search is a piece of a client's name or address: keep it out of logs.
        f.write_str("ClientSearch(..)")
    }
}

/// A client's place in the list: its [`search_key`]ed name, then its id, compared byte by byte
/// (the derived order compares the fields in that order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListPosition {
    /// [`search_key`] of the name.
    pub name_key: String,
    /// The client's id.
    pub id: ClientId,
}

impl ListPosition {
    /// Where `client` stands in the list.
    #[must_use]
    pub fn of(client: &Client) -> Self {
        Self { name_key: search_key(client.name.as_str()), id: client.id.clone() }
    }
}

/// Which way a cursor pages from its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageDirection {
    /// The clients after the position, in list order (the next page).
    After,
    /// The clients before the position (the previous page), still shown in list order.
    Before,
}

/// Where a page starts: beside a client (the *anchor*) and in a direction. The store finds the
/// anchor's place in the list when it reads the page, so the cursor names no more than a client
/// id, which staff URLs carry anyway: never a name, which would otherwise end up in browser
/// history and in the access logs of any proxy in front of the portal. A page after an anchor
/// that was renamed meanwhile follows the anchor to its new place; an anchor that is not a
/// client of the practice has nothing beyond it (an empty page).
///
/// Its wire form ([`ClientCursor::encode`]) is opaque to callers: base64url of a versioned
/// binary record with a check sum, so a cursor that was cut, edited or made up is refused
/// ([`ClientCursor::decode`]) rather than read as some other place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientCursor {
    /// Which way to page.
    pub direction: PageDirection,
    /// Beside which client (exclusive: the anchor is not on the page).
    pub anchor: ClientId,
}

/// Why a cursor could not be read. Every variant means "not a cursor this server made".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Too long, not base64url, or not the shape of a cursor.
    #[error("the cursor is malformed")]
    Malformed,
    /// The check sum does not match: the cursor was changed.
    #[error("the cursor was altered")]
    Altered,
    /// Made by a version of the format this server does not read (version 1 carried the
    /// anchor's folded name and is no longer read).
    #[error("the cursor comes from another version")]
    UnknownVersion,
}

/// The version byte of the cursor format.
const CURSOR_VERSION: u8 = 2;
/// Bytes of SHA-256 kept as the check sum.
const CHECK_LEN: usize = 4;

impl ClientCursor {
    /// The longest wire form [`ClientCursor::encode`] produces, so the longest
    /// [`ClientCursor::decode`] reads.
    pub const MAX_ENCODED_LEN: usize = (2 + 1 + ClientId::MAX_LEN + CHECK_LEN).div_ceil(3) * 4;

    /// The cursor of the page after `anchor`.
    #[must_use]
    pub fn after(anchor: ClientId) -> Self {
        Self { direction: PageDirection::After, anchor }
    }

    /// The cursor of the page before `anchor`.
    #[must_use]
    pub fn before(anchor: ClientId) -> Self {
        Self { direction: PageDirection::Before, anchor }
    }

    /// The wire form: base64url (no padding) of `version ‖ direction ‖ u8 id length ‖ id ‖
    /// first 4 bytes of SHA-256 of what precedes`.
    #[must_use]
    pub fn encode(&self) -> String {
        let id = self.anchor.as_str().as_bytes();
        let mut bytes = Vec::with_capacity(3 + id.len() + CHECK_LEN);
        bytes.push(CURSOR_VERSION);
        bytes.push(match self.direction {
            PageDirection::After => 0,
            PageDirection::Before => 1,
        });
        // An id has at most 128 bytes (`ClientId::MAX_LEN`).
        bytes.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        bytes.extend_from_slice(id);
        let check = Sha256::digest(&bytes);
        bytes.extend_from_slice(&check[..CHECK_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a wire form made by [`ClientCursor::encode`].
    ///
    /// # Errors
    /// [`CursorError`] for anything else: never a panic, whatever the input.
    pub fn decode(wire: &str) -> Result<Self, CursorError> {
        if wire.len() > Self::MAX_ENCODED_LEN {
            return Err(CursorError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(wire).map_err(|_| CursorError::Malformed)?;
        let (body, check) =
            bytes.split_at_checked(bytes.len().wrapping_sub(CHECK_LEN)).ok_or(CursorError::Malformed)?;
        let mut reader = Reader(body);
        let version = reader.byte()?;
        if Sha256::digest(body)[..CHECK_LEN] != *check {
            return Err(CursorError::Altered);
        }
        if version != CURSOR_VERSION {
            return Err(CursorError::UnknownVersion);
        }
        let direction = match reader.byte()? {
            0 => PageDirection::After,
            1 => PageDirection::Before,
            _ => return Err(CursorError::Malformed),
        };
        let id_len = usize::from(reader.byte()?);
        let id = std::str::from_utf8(reader.take(id_len)?).map_err(|_| CursorError::Malformed)?;
        let anchor = ClientId::parse(id).map_err(|_| CursorError::Malformed)?;
        if !reader.0.is_empty() {
            return Err(CursorError::Malformed);
        }
        Ok(Self { direction, anchor })
    }
}

/// Reads a cursor's bytes front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CursorError> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CursorError> {
        let (taken, rest) = self.0.split_at_checked(n).ok_or(CursorError::Malformed)?;
        self.0 = rest;
        Ok(taken)
    }
}

/// Which clients to list, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientListQuery {
    /// Only the clients whose name or email starts with this (case-insensitive).
    pub search: Option<ClientSearch>,
    /// Only the clients whose portal status, at the time of the request, is of this kind.
    pub status: Option<PortalStatusKind>,
    /// How many clients a page holds.
    pub size: PageSize,
    /// Where the page starts; `None` for the first page.
    pub cursor: Option<ClientCursor>,
}

impl ClientListQuery {
    /// Which way the store reads from the cursor: [`PageDirection::After`] (list order) for the
    /// first page and for a next page, [`PageDirection::Before`] (reverse list order) for a
    /// previous page.
    #[must_use]
    pub fn direction(&self) -> PageDirection {
        self.cursor.as_ref().map_or(PageDirection::After, |cursor| cursor.direction)
    }

    /// Whether `position` lies beyond the cursor in the direction of reading (every position
    /// does when there is no cursor). `anchor` is where the cursor's anchor stands in the list
    /// now, as the store found it; `None` (no such client in the practice) has nothing beyond
    /// it, as a database's comparison with a missing row has not.
    #[must_use]
    pub fn is_beyond_cursor(&self, anchor: Option<&ListPosition>, position: &ListPosition) -> bool {
        match (&self.cursor, anchor) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(cursor), Some(anchor)) => match cursor.direction {
                PageDirection::After => position > anchor,
                PageDirection::Before => position < anchor,
            },
        }
    }
}

/// One page of the client list, in list order, with the cursors of its neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPage<T> {
    /// The clients on this page, in list order.
    pub items: Vec<T>,
    /// The page after this one, when there are more clients after it.
    pub next: Option<ClientCursor>,
    /// The page before this one, when there are clients before it.
    pub previous: Option<ClientCursor>,
}

impl<T> ClientPage<T> {
    /// Builds the page from what a store fetched: the rows beyond the query's cursor that
    /// match its filters, in the order of reading ([`ClientListQuery::direction`]: list order,
    /// or reverse list order for a previous page), at most [`PageSize::fetch`] of them. The
    /// extra row, when present, only says that another page lies that way.
    ///
    /// The page facing back towards the cursor is offered whenever a cursor was followed (the
    /// client at the cursor, or ones beside it, lie that way); an empty page offers neither.
    #[must_use]
    pub fn from_fetched(mut fetched: Vec<T>, query: &ClientListQuery, position: impl Fn(&T) -> ListPosition) -> Self {
        let size = usize::from(query.size.get());
        let more = fetched.len() > size;
        fetched.truncate(size);
        let direction = query.direction();
        if direction == PageDirection::Before {
            fetched.reverse();
        }
        let (first, last) = match (fetched.first(), fetched.last()) {
            (Some(first), Some(last)) => (position(first), position(last)),
            _ => return Self { items: fetched, next: None, previous: None },
        };
        let followed = query.cursor.is_some();
        let (more_after, more_before) = match direction {
            PageDirection::After => (more, followed),
            PageDirection::Before => (followed, more),
        };
        Self {
            next: more_after.then(|| ClientCursor::after(last.id)),
            previous: more_before.then(|| ClientCursor::before(first.id)),
            items: fetched,
        }
    }

    /// The same page with each item turned into something else.
    #[must_use]
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> ClientPage<U> {
        ClientPage { items: self.items.into_iter().map(f).collect(), next: self.next, previous: self.previous }
    }
}

#[cfg(test)]
#[path = "client_list_tests.rs"]
mod tests;
