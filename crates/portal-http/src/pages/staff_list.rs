//! The staff's client list page, `GET /staff/clients`: one page of clients at a time (keyset
//! cursors in the previous and next links), a search box (a GET form that keeps the status
//! filter) and the status filters (which keep the search). Every link is built here, with its
//! query values percent-encoded; the template only prints them (escaped).

use askama::Template;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use poem::http::StatusCode;
use poem::web::Query;
use poem::{IntoResponse, Request, Response, handler};
use portal_core::{ClientCursor, ClientListQuery, ClientSearch, InvalidInput, PortalStatusKind};
use serde::Deserialize;

use super::staff::{practice_zone, staff, trouble};
use super::staff_views::{ClientRow, client_rows};
use super::zone::PracticeZone;
use super::{Page, csrf_token, staff_texts};
use crate::auth::Ctx;

/// `?portal=…&q=…&cursor=…`, each optional.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    portal: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

/// Why the list could not be shown as asked. Each variant has its words in the template (from
/// the staff catalogue).
pub(crate) enum ListProblem {
    /// The search is longer than [`ClientSearch::MAX_LEN`] characters.
    SearchTooLong,
    /// The search holds a line break or another control character.
    SearchCharacters,
    /// The page link's cursor is not one the list gave out: the first page is shown.
    Cursor,
}

/// `templates/staff_clients.html`.
#[derive(Template)]
#[template(path = "staff_clients.html", ext = "html")]
struct ClientListPage {
    csrf: String,
    zone: PracticeZone,
    /// The status filter in force.
    current: Option<PortalStatusKind>,
    /// The search as typed (trimmed), shown back in the box; empty for none.
    search: String,
    problem: Option<ListProblem>,
    rows: Vec<ClientRow>,
    /// Whether this page came from a cursor (so an empty page is past the end, not an empty
    /// list).
    paged: bool,
    /// The links to the neighbouring pages.
    previous: Option<String>,
    next: Option<String>,
}

impl ClientListPage {
    fn filters(&self) -> &'static [PortalStatusKind] {
        &PortalStatusKind::ALL
    }

    fn is_current(&self, filter: &PortalStatusKind) -> bool {
        self.current == Some(*filter)
    }

    fn label(&self, filter: &PortalStatusKind) -> &'static str {
        (staff_texts().status_kind)(*filter)
    }

    /// The label of the filter in force, for the empty state.
    fn current_label(&self) -> Option<&'static str> {
        self.current.map(staff_texts().status_kind)
    }

    /// The empty state of a search: nothing matches it (with the filter in force, if any).
    fn no_match(&self) -> String {
        (staff_texts().no_match)(&self.search, self.current_label())
    }

    /// Whether the search box holds a search the list refused.
    fn search_refused(&self) -> bool {
        matches!(self.problem, Some(ListProblem::SearchTooLong | ListProblem::SearchCharacters))
    }

    /// The list with `filter` (or every status), keeping the search, from its first page.
    fn filter_href(&self, filter: Option<&PortalStatusKind>) -> String {
        list_href(filter.copied(), &self.search, None)
    }

    /// The first page with the filter in force and no search.
    fn clear_search_href(&self) -> String {
        list_href(self.current, "", None)
    }

    /// The first page with the filter and the search in force.
    fn first_page_href(&self) -> String {
        list_href(self.current, &self.search, None)
    }
}

/// `/staff/clients` with these parameters (empty ones left out), relative to the mount point.
fn list_href(filter: Option<PortalStatusKind>, search: &str, cursor: Option<&ClientCursor>) -> String {
    let mut parameters = Vec::new();
    if let Some(filter) = filter {
        parameters.push(format!("portal={}", filter.name()));
    }
    if !search.is_empty() {
        parameters.push(format!("q={}", utf8_percent_encode(search, NON_ALPHANUMERIC)));
    }
    if let Some(cursor) = cursor {
        // base64url: nothing to encode.
        parameters.push(format!("cursor={}", cursor.encode()));
    }
    let path = format!("{}/staff/clients", super::base_path());
    if parameters.is_empty() { path } else { format!("{path}?{}", parameters.join("&")) }
}

/// `GET /staff/clients[?portal=…][&q=…][&cursor=…]`.
#[handler]
pub(crate) async fn client_list(ctx: Ctx, req: &Request, Query(query): Query<ListQuery>) -> Response {
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    // An unknown filter lists every client rather than refusing the page; an empty search box
    // is no search.
    let current = query.portal.as_deref().and_then(PortalStatusKind::from_name);
    let typed = query.q.as_deref().map(str::trim).unwrap_or_default();
    let (search, search_problem) = match typed {
        "" => (None, None),
        text => match ClientSearch::parse(text) {
            Ok(search) => (Some(search), None),
            Err(InvalidInput::TooLong { .. }) => (None, Some(ListProblem::SearchTooLong)),
            Err(_) => (None, Some(ListProblem::SearchCharacters)),
        },
    };
    let (cursor, cursor_problem) = match query.cursor.as_deref().filter(|_| search_problem.is_none()) {
        None => (None, None),
        Some(wire) => match ClientCursor::decode(wire) {
            Ok(cursor) => (Some(cursor), None),
            Err(_) => (None, Some(ListProblem::Cursor)),
        },
    };
    let problem = search_problem.or(cursor_problem);
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let paged = cursor.is_some();
    let list = ClientListQuery { search, status: current, cursor, ..ClientListQuery::default() };
    // A search that breaks its rules lists nothing: the page says why.
    let page = match &problem {
        Some(ListProblem::SearchTooLong | ListProblem::SearchCharacters) => None,
        _ => match ctx.state.service.list_clients(&staff, &list).await {
            Ok(page) => Some(page),
            Err(error) => return trouble(&ctx, &error).into_response(),
        },
    };
    let zone = match practice_zone(&ctx, &staff).await {
        Ok(zone) => zone,
        Err(page) => return page.into_response(),
    };
    let shown = list.search.as_ref().map(|search| search.text().to_owned()).unwrap_or_else(|| typed.to_owned());
    let (rows, previous, next) = match page {
        Some(page) => (
            client_rows(&page.items, &zone),
            page.previous.as_ref().map(|cursor| list_href(current, &shown, Some(cursor))),
            page.next.as_ref().map(|cursor| list_href(current, &shown, Some(cursor))),
        ),
        None => (Vec::new(), None, None),
    };
    let (csrf, cookie) = csrf_token(req);
    let page = ClientListPage { csrf, zone, current, search: shown, problem, rows, paged, previous, next };
    Page::render("page_staff_clients", status, &page).csrf_cookie(cookie).into_response()
}
