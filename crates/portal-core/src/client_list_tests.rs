use proptest::prelude::*;

use super::*;

fn position(name: &str, id: &str) -> ListPosition {
    ListPosition { name_key: search_key(name), id: ClientId::parse(id).unwrap() }
}

fn id(text: &str) -> ClientId {
    ClientId::parse(text).unwrap()
}

#[test]
fn search_keys_fold_case_and_compatibility_forms() {
    assert_eq!(search_key("Ada LOVELACE"), "ada lovelace");
    assert_eq!(search_key("ＡＤＡ"), "ada");
    assert_eq!(search_key("ﬁona"), "fiona");
    assert_eq!(search_key("E\u{301}MILE"), search_key("émile"));
    assert_eq!(search_key("Ωmega"), "ωmega");
    assert_eq!(search_key("ADA@Example.ORG"), "ada@example.org");
}

proptest! {
    #[test]
    fn a_key_lies_in_the_prefix_range_exactly_when_it_starts_with_the_prefix(
        prefix in "\\PC{0,4}|[\u{10FFFE}\u{10FFFF}a]{1,3}",
        key in "\\PC{0,6}|[\u{10FFFE}\u{10FFFF}ab]{0,5}",
    ) {
        let in_range = key.as_str() >= prefix.as_str() && prefix_end(&prefix).is_none_or(|end| key < end);
        prop_assert_eq!(in_range, key.starts_with(&prefix), "prefix {:?}, key {:?}", prefix, key);
    }

    #[test]
    fn every_cursor_reads_back_as_written(anchor in "[A-Za-z0-9._~-]{1,128}", before: bool) {
        let anchor = ClientId::parse(&anchor).unwrap();
        let cursor = if before { ClientCursor::before(anchor) } else { ClientCursor::after(anchor) };
        let wire = cursor.encode();
        prop_assert!(wire.len() <= ClientCursor::MAX_ENCODED_LEN);
        prop_assert!(wire.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{}", wire);
        prop_assert_eq!(ClientCursor::decode(&wire), Ok(cursor));
    }

    #[test]
    fn any_text_is_a_cursor_or_a_typed_refusal(wire in "\\PC{0,64}|[A-Za-z0-9_-]{0,200}") {
        // Never a panic; what decodes must encode back to the same text.
        if let Ok(cursor) = ClientCursor::decode(&wire) {
            prop_assert_eq!(cursor.encode(), wire);
        }
    }

    #[test]
    fn changing_any_byte_of_a_cursor_is_refused(index in 0usize..40, flip in 1u8..=255) {
        let wire = ClientCursor::after(id("c-1")).encode();
        let mut bytes = URL_SAFE_NO_PAD.decode(&wire).unwrap();
        let index = index % bytes.len();
        bytes[index] ^= flip;
        prop_assert!(ClientCursor::decode(&URL_SAFE_NO_PAD.encode(&bytes)).is_err());
    }
}

#[test]
fn a_cursor_that_was_cut_edited_or_made_up_is_refused_with_its_reason() {
    let wire = ClientCursor::before(id("42")).encode();
    assert!(ClientCursor::decode(&wire[..wire.len() - 2]).is_err());
    assert_eq!(ClientCursor::decode(""), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode("abc"), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode("not a cursor!"), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode(&"A".repeat(ClientCursor::MAX_ENCODED_LEN + 1)), Err(CursorError::Malformed));

    // Well formed and checked, but of another version, or with a direction, length or id the
    // format does not have.
    let sealed = |body: &[u8]| {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&Sha256::digest(body)[..CHECK_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    };
    // Version 1 carried the anchor's folded name; it is no longer read.
    assert_eq!(ClientCursor::decode(&sealed(&[1, 1, 0, 1, b'a', 1, b'x'])), Err(CursorError::UnknownVersion));
    assert_eq!(ClientCursor::decode(&sealed(&[3, 0, 1, b'x'])), Err(CursorError::UnknownVersion));
    assert_eq!(ClientCursor::decode(&sealed(&[2, 7, 1, b'x'])), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode(&sealed(&[2, 0, 9, b'x'])), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode(&sealed(&[2, 0, 1, b'/'])), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode(&sealed(&[2, 0, 0])), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode(&sealed(&[2, 0, 1, b'x', 0])), Err(CursorError::Malformed));
    assert_eq!(ClientCursor::decode(&sealed(&[2, 1, 1, b'x'])), Ok(ClientCursor::before(id("x"))));
}

#[test]
fn a_cursor_carries_the_anchors_id_and_never_its_name() {
    let wire = ClientCursor::after(id("c-17")).encode();
    let bytes = URL_SAFE_NO_PAD.decode(&wire).unwrap();
    assert_eq!(&bytes[..3], &[CURSOR_VERSION, 0, 4]);
    assert_eq!(&bytes[3..7], b"c-17");
    assert_eq!(bytes.len(), 7 + CHECK_LEN, "nothing else: no name, no search key");
}

#[test]
fn page_sizes_are_one_to_two_hundred_and_fifty_by_default() {
    assert_eq!(PageSize::default().get(), 50);
    assert_eq!(PageSize::new(1).map(PageSize::get), Ok(1));
    assert_eq!(PageSize::new(200).map(PageSize::get), Ok(200));
    assert_eq!(PageSize::new(200).map(PageSize::fetch), Ok(201));
    assert_eq!(PageSize::new(0), Err(InvalidInput::TooShort { field: "limit", min: 1 }));
    assert_eq!(PageSize::new(201), Err(InvalidInput::TooLong { field: "limit", max: 200 }));
    assert_eq!(PageSize::new(u64::MAX), Err(InvalidInput::TooLong { field: "limit", max: 200 }));
}

#[test]
fn a_search_is_one_to_a_hundred_printable_characters_folded_for_matching() {
    let search = ClientSearch::parse("  LOVE ").unwrap();
    assert_eq!((search.text(), search.key()), ("LOVE", "love"));
    assert_eq!(search.key_end().as_deref(), Some("lovf"));
    assert_eq!(format!("{search:?}"), "ClientSearch(..)", "a search stays out of logs");
    assert!(ClientSearch::parse(&"é".repeat(100)).is_ok());
    assert_eq!(ClientSearch::parse(&"é".repeat(101)), Err(InvalidInput::TooLong { field: "q", max: 100 }));
    assert_eq!(ClientSearch::parse("   "), Err(InvalidInput::TooShort { field: "q", min: 1 }));
    for bad in ["a\nb", "a\u{0}", "a\u{202E}b"] {
        assert!(matches!(ClientSearch::parse(bad), Err(InvalidInput::BadCharacter { field: "q", .. })), "{bad:?}");
    }
}

fn query(size: u64, cursor: Option<ClientCursor>) -> ClientListQuery {
    ClientListQuery { size: PageSize::new(size).unwrap(), cursor, ..ClientListQuery::default() }
}

#[test]
fn a_page_keeps_its_size_and_offers_the_next_page_only_when_a_row_is_left_over() {
    let rows = [position("a", "1"), position("b", "2"), position("c", "3")];
    let first = ClientPage::from_fetched(rows.to_vec(), &query(2, None), Clone::clone);
    assert_eq!(first.items, rows[..2]);
    assert_eq!(first.next, Some(ClientCursor::after(rows[1].id.clone())));
    assert_eq!(first.previous, None, "nothing before the first page");

    let only = ClientPage::from_fetched(rows[..2].to_vec(), &query(2, None), Clone::clone);
    assert_eq!((only.next, only.previous), (None, None));

    let second = ClientPage::from_fetched(rows[2..].to_vec(), &query(2, first.next.clone()), Clone::clone);
    assert_eq!(second.items, rows[2..]);
    assert_eq!(second.next, None);
    assert_eq!(second.previous, Some(ClientCursor::before(rows[2].id.clone())));

    // Going back: the store reads in reverse list order; the page is shown in list order.
    let back = query(2, second.previous.clone());
    assert_eq!(back.direction(), PageDirection::Before);
    let reversed = vec![rows[1].clone(), rows[0].clone()];
    let previous = ClientPage::from_fetched(reversed, &back, Clone::clone);
    assert_eq!(previous.items, rows[..2]);
    assert_eq!(previous.next, Some(ClientCursor::after(rows[1].id.clone())));
    assert_eq!(previous.previous, None, "nothing left before it");

    let empty = ClientPage::from_fetched(Vec::<ListPosition>::new(), &query(2, first.next), Clone::clone);
    assert_eq!((empty.items.len(), empty.next, empty.previous), (0, None, None));
}

#[test]
fn the_cursor_excludes_its_own_position_in_the_direction_of_reading() {
    let at = position("b", "2");
    let after = query(2, Some(ClientCursor::after(at.id.clone())));
    let before = query(2, Some(ClientCursor::before(at.id.clone())));
    let anchor = Some(&at);
    assert!(!after.is_beyond_cursor(anchor, &at) && !before.is_beyond_cursor(anchor, &at));
    let (b3, a9) = (position("b", "3"), position("a", "9"));
    assert!(after.is_beyond_cursor(anchor, &b3) && !before.is_beyond_cursor(anchor, &b3));
    assert!(before.is_beyond_cursor(anchor, &a9) && !after.is_beyond_cursor(anchor, &a9));
    assert!(query(2, None).is_beyond_cursor(None, &at));
    // An anchor that is not a client of the practice has nothing beyond it either way.
    assert!(!after.is_beyond_cursor(None, &b3) && !before.is_beyond_cursor(None, &a9));
}
