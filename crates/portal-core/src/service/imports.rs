//! Client records from a file (the bundled server's `clients import`): every row is checked by
//! the rules of [`PortalService::create_client`] before anything is written
//! ([`PortalService::plan_import`]); then the clients are written in batches, each client with
//! its `ClientCreated` audit event ([`PortalService::import`]).
//!
//! A row whose email (compared case-insensitively) is already on a client of the practice, or
//! on an earlier row of the file, is skipped with a warning rather than refused: running the
//! same file again after an interrupted import adds only the clients still missing, and a
//! repeated row does not make a duplicate client. A row without an email is never a repeat.

use std::collections::{HashMap, HashSet};

use crate::client_list::{ClientListQuery, PageSize, search_key};
use crate::date_of_birth::DateOfBirth;
use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, Client, RequestContext};
use crate::types::{ClientId, DisplayName, EmailAddress, InvalidInput, Language, PracticeId, PracticeSlug};

use super::clients::{parse_date_of_birth, parse_email};
use super::{Infrastructure, NewClient, PortalService};

/// How many clients one write of an import holds (one transaction of the store): small enough
/// that a batch never holds SQLite's write lock for long, large enough that 10,000 rows are a
/// few seconds.
pub const IMPORT_BATCH: usize = 1_000;

/// One row of an import file, with the line it starts on (for the reports).
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// The line number in the file (1 is the header).
    pub line: u64,
    /// The fields as written (empty email, language or date of birth: none).
    pub client: NewClient,
}

/// A row that breaks the rules, with every rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line number in the file.
    pub line: u64,
    /// What is wrong, field by field (each names its field).
    pub problems: Vec<InvalidInput>,
}

/// Why a valid row is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSkip {
    /// A client of the practice already has this email.
    EmailInPractice,
    /// An earlier row of the file has this email.
    EmailEarlierInFile {
        /// That row's line.
        line: u64,
    },
}

/// A row skipped, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportWarning {
    /// The line number in the file.
    pub line: u64,
    /// Why.
    pub skip: ImportSkip,
}

/// What an import will write: checked, nothing written yet.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// The practice.
    pub practice_id: PracticeId,
    /// The clients to create, in file order.
    pub clients: Vec<Client>,
    /// The rows skipped, in file order.
    pub skipped: Vec<ImportWarning>,
}

/// Refusals of an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No practice has this slug.
    #[error("no practice has this slug")]
    PracticeNotFound,
    /// At least one row breaks the rules: nothing was written.
    #[error("{} row(s) are not valid; nothing was written", .0.len())]
    InvalidRows(Vec<RowError>),
    /// Infrastructure. When it happens while writing, `written` clients (whole batches) are
    /// stored; running the file again skips them as already in the practice.
    #[error("the import failed after {written} clients were written")]
    Infrastructure {
        /// Clients stored before the failure.
        written: u64,
        /// The failure.
        #[source]
        error: Infrastructure,
    },
}

impl From<StoreError> for ImportError {
    fn from(error: StoreError) -> Self {
        Self::Infrastructure { written: 0, error: error.into() }
    }
}

/// A row's checked fields: name, email, language, date of birth.
type RowParts = (DisplayName, Option<EmailAddress>, Language, Option<DateOfBirth>);

/// Every rule a row breaks, or its checked fields. `now` gives "today" for the date of birth.
fn check_row(row: &NewClient, now: jiff::Timestamp) -> Result<RowParts, Vec<InvalidInput>> {
    let name = DisplayName::parse("name", &row.name);
    let email = parse_email(row.email.as_deref());
    let language = match row.language.as_deref().map(str::trim) {
        None | Some("") => Ok(Language::default()),
        Some(code) => Language::parse(code),
    };
    let date_of_birth = parse_date_of_birth(row.date_of_birth.as_deref(), now);
    match (name, email, language, date_of_birth) {
        (Ok(name), Ok(email), Ok(language), Ok(date_of_birth)) => Ok((name, email, language, date_of_birth)),
        (name, email, language, date_of_birth) => {
            Err([name.err(), email.err(), language.err(), date_of_birth.err()].into_iter().flatten().collect())
        }
    }
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Checks every row of an import for the practice named by `practice_slug` (the rules of
    /// [`PortalService::create_client`]: name, email, language, date of birth) and finds the
    /// repeats (an email already in the practice or on an earlier row: skipped). Writes
    /// nothing.
    ///
    /// # Errors
    /// `PracticeNotFound`; `InvalidRows` with every bad row and each of its problems; or
    /// infrastructure (reading the practice's clients).
    pub async fn plan_import(&self, practice_slug: &str, rows: &[ImportRow]) -> Result<ImportPlan, ImportError> {
        let slug = PracticeSlug::parse(practice_slug).map_err(|_| ImportError::PracticeNotFound)?;
        let practice = self.store.practice_by_slug(&slug).await?.ok_or(ImportError::PracticeNotFound)?;
        let now = self.clock.now();
        let mut errors = Vec::new();
        let mut checked = Vec::with_capacity(rows.len());
        for row in rows {
            match check_row(&row.client, now) {
                Ok(parts) => checked.push((row.line, parts)),
                Err(problems) => errors.push(RowError { line: row.line, problems }),
            }
        }
        if !errors.is_empty() {
            return Err(ImportError::InvalidRows(errors));
        }
        let on_file = self.practice_emails(practice.id).await?;
        let mut first_line: HashMap<String, u64> = HashMap::new();
        let mut clients = Vec::with_capacity(checked.len());
        let mut skipped = Vec::new();
        for (line, (name, email, language, date_of_birth)) in checked {
            if let Some(email) = &email {
                let key = search_key(email.as_str());
                if on_file.contains(&key) {
                    skipped.push(ImportWarning { line, skip: ImportSkip::EmailInPractice });
                    continue;
                }
                if let Some(first) = first_line.get(&key) {
                    skipped.push(ImportWarning { line, skip: ImportSkip::EmailEarlierInFile { line: *first } });
                    continue;
                }
                first_line.insert(key, line);
            }
            clients.push(Client {
                id: ClientId::generate(&self.random)
                    .map_err(|error| ImportError::Infrastructure { written: 0, error: error.into() })?,
                practice_id: practice.id,
                name,
                email_consent: true,
                email,
                date_of_birth,
                language,
                created_at: now,
            });
        }
        Ok(ImportPlan { practice_id: practice.id, clients, skipped })
    }

    /// Writes a planned import: the clients in batches of [`IMPORT_BATCH`], each batch one
    /// transaction holding its clients and their `ClientCreated` audit events (actor: the
    /// system). `progress` is told how many clients each stored batch held. Returns how many
    /// were created.
    ///
    /// # Errors
    /// Infrastructure, with how many clients the batches before the failure stored.
    pub async fn import(&self, plan: &ImportPlan, progress: &mut (dyn FnMut(u64) + Send)) -> Result<u64, ImportError> {
        let mut written = 0_u64;
        let fail = |written: u64, error: Infrastructure| ImportError::Infrastructure { written, error };
        for batch in plan.clients.chunks(IMPORT_BATCH) {
            let now = self.clock.now();
            let mut audit = Vec::with_capacity(batch.len());
            for client in batch {
                let event = self
                    .audit(
                        now,
                        plan.practice_id,
                        Some(client.id.clone()),
                        Actor::System,
                        AuditAction::ClientCreated,
                        &RequestContext::default(),
                    )
                    .map_err(|error| fail(written, error.into()))?;
                audit.push(event);
            }
            self.store.import_clients(batch, &audit).await.map_err(|error| fail(written, error.into()))?;
            let stored = batch.len() as u64;
            written += stored;
            progress(stored);
        }
        Ok(written)
    }

    /// The folded emails ([`search_key`]) of every client of the practice's bundled records.
    async fn practice_emails(&self, practice: PracticeId) -> Result<HashSet<String>, StoreError> {
        let size = PageSize::new(u64::from(PageSize::MAX)).unwrap_or_default();
        let mut query = ClientListQuery { size, ..ClientListQuery::default() };
        let mut emails = HashSet::new();
        loop {
            let page = self.store.list_clients(practice, &query, self.clock.now()).await?;
            emails.extend(
                page.items.iter().filter_map(|(client, _)| client.email.as_ref().map(|e| search_key(e.as_str()))),
            );
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => return Ok(emails),
            }
        }
    }
}
