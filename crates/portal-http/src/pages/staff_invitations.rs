//! Invitations in bulk from the staff's client list, `POST /staff/invitations`: the list's
//! checkboxes (`client=…`, repeated) or its "every client with no account" button
//! (`every=true`), answered with a page that names each client and what happened, in words.

use askama::Template;
use poem::http::StatusCode;
use poem::web::Form;
use poem::{IntoResponse, Request, Response, handler};
use portal_core::ClientId;
use portal_core::service::{BulkInviteError, BulkOutcome, BulkSelection, MAX_INVITES_PER_CALL, SkipReason};

use super::staff::{staff, trouble};
use super::{Page, csrf_ok, csrf_refused, csrf_token};
use crate::auth::Ctx;
use crate::error::chain;

/// What happened to one client, for the template's words.
pub(crate) enum LineOutcome {
    Sent,
    Resent,
    Skipped(SkipReason),
    Failed,
    NotAttempted,
}

/// One client's line of the result page.
pub(crate) struct Line {
    /// The client's name, when the record was read.
    name: Option<String>,
    id: String,
    outcome: LineOutcome,
}

/// Why nothing was sent. Each variant has its words in the template.
pub(crate) enum BulkProblem {
    /// The form named no client.
    NoneSelected,
    /// More clients than one send takes.
    TooMany,
    /// "Every client" where the portal keeps no client records.
    NoClientRecords,
}

/// `templates/staff_invitations.html`.
#[derive(Template)]
#[template(path = "staff_invitations.html", ext = "html")]
struct InvitationsPage {
    csrf: String,
    problem: Option<BulkProblem>,
    lines: Vec<Line>,
    /// After "every client": how many are still waiting.
    remaining: Option<u64>,
    /// Whether this was the "every client" form (to offer the next share).
    every: bool,
    request_id: String,
}

impl InvitationsPage {
    fn count(&self, sent: bool) -> usize {
        self.lines.iter().filter(|line| matches!(line.outcome, LineOutcome::Sent | LineOutcome::Resent) == sent).count()
    }

    fn max(&self) -> usize {
        MAX_INVITES_PER_CALL
    }
}

/// `POST /staff/invitations`.
#[handler]
pub(crate) async fn send_invitations(ctx: Ctx, req: &Request, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let field = |name: &'static str| fields.iter().filter(move |(key, _)| key == name).map(|(_, value)| value.as_str());
    if !csrf_ok(req, field("csrf").next().unwrap_or_default()) {
        return csrf_refused(true).into_response();
    }
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let every = field("every").any(|value| value == "true");
    let selection = if every {
        BulkSelection::EveryClientWithoutAccount
    } else {
        // Ids come from the list page; one that is not a client id names no client of ours.
        BulkSelection::Clients(field("client").filter_map(|raw| ClientId::parse(raw).ok()).collect())
    };
    let (csrf, cookie) = csrf_token(req);
    let mut page = InvitationsPage {
        csrf,
        problem: None,
        lines: Vec::new(),
        remaining: None,
        every,
        request_id: ctx.rid().to_owned(),
    };
    let status = match ctx.state.service.send_invites(&staff, selection).await {
        Ok(invites) => {
            if invites.results.iter().any(|r| matches!(r.outcome, BulkOutcome::Sent(_) | BulkOutcome::Resent(_))) {
                ctx.mail_queued();
            }
            page.remaining = invites.remaining;
            page.lines = invites
                .results
                .into_iter()
                .map(|result| {
                    let outcome = match result.outcome {
                        BulkOutcome::Sent(_) => LineOutcome::Sent,
                        BulkOutcome::Resent(_) => LineOutcome::Resent,
                        BulkOutcome::Skipped(reason) => LineOutcome::Skipped(reason),
                        BulkOutcome::Failed(error) => {
                            tracing::error!(request_id = %ctx.rid(), error = %chain(&error), "a bulk invitation failed for one client");
                            LineOutcome::Failed
                        }
                        BulkOutcome::NotAttempted => LineOutcome::NotAttempted,
                    };
                    Line {
                        name: result.client.map(|client| client.name.as_str().to_owned()),
                        id: result.client_id.to_string(),
                        outcome,
                    }
                })
                .collect();
            StatusCode::OK
        }
        Err(BulkInviteError::NoClients) => {
            page.problem = Some(BulkProblem::NoneSelected);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(BulkInviteError::TooManyClients { .. }) => {
            page.problem = Some(BulkProblem::TooMany);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(BulkInviteError::NoClientRecords) => {
            page.problem = Some(BulkProblem::NoClientRecords);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(BulkInviteError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    Page::render("page_staff_invitations", status, &page).csrf_cookie(cookie).into_response()
}
