//! `clients import FILE.csv --practice SLUG [--dry-run]`: client records from a CSV file into
//! the bundled client table.
//!
//! The file is UTF-8 (a byte-order mark is ignored), LF or CRLF line endings, RFC 4180 quoting.
//! Its first row names the columns: `name` (required) and any of `email`, `language`,
//! `date_of_birth`, in any order; an empty cell means none on file (English for the language).
//!
//! Every row is read and checked (the rules of `POST /api/v1/clients`) before anything is
//! written. When any row is bad, nothing is written and every problem is reported with its line.
//! A row whose email is already on a client of the practice, or on an earlier row, is skipped
//! with a warning (so running a file again after an interrupted import adds only what is
//! missing). Then the clients are written in batches of 1,000, each client with its
//! `ClientCreated` audit event; a progress bar shows on stderr when it is a terminal.
//!
//! Messages name lines and fields, never a value from the file (a date of birth never reaches
//! the output).

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use portal_core::Retention;
use portal_core::service::{ImportError, ImportRow, ImportSkip, ImportWarning, NewClient, RowError};
use serde_json::{Value, json};

use crate::commands::{CommandError, admin_service_over};

/// `clients …`
#[derive(Debug, Clone, Subcommand)]
pub enum ClientsCommand {
    /// Import client records from a CSV file into a practice. The first row names the columns:
    /// name (required), email, language (en or es), date_of_birth (YYYY-MM-DD), in any order;
    /// an empty cell means none. Every row is checked first: if any is bad, nothing is written
    /// and each problem is listed with its line. A row whose email is already on a client of the
    /// practice, or on an earlier row, is skipped with a warning. Prints JSON with the counts;
    /// shows a progress bar when stderr is a terminal. UTF-8, with or without a byte-order mark;
    /// LF or CRLF line endings.
    Import {
        /// The CSV file.
        #[arg(value_name = "FILE.csv")]
        file: std::path::PathBuf,
        /// The practice's slug.
        #[arg(long)]
        practice: String,
        /// Check the file and report what would be imported, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The columns a file may name.
const COLUMNS: [&str; 4] = ["name", "email", "language", "date_of_birth"];

/// A problem with one line of the file, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// The line (1 is the header).
    pub line: u64,
    /// What is wrong.
    pub what: String,
}

/// Why an import wrote nothing (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The file could not be read, or its header is not usable.
    #[error("{0}")]
    File(String),
    /// Rows are not valid: nothing was written.
    #[error("{} problem(s) in the file; nothing was written", .0.len())]
    Rows(Vec<LineProblem>),
    /// The practice, the database, or a write failed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// The rows of a CSV file, or every problem of its lines.
///
/// # Errors
/// [`ImportFailure::File`] for an unreadable file or header; [`ImportFailure::Rows`] with each
/// line that cannot be read as a row.
pub fn read_rows(bytes: &[u8]) -> Result<Vec<ImportRow>, ImportFailure> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    // CRLF as LF: the reader takes either, but counts the lines of a CRLF file one short.
    let bytes = crlf_to_lf(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .map_err(|error| ImportFailure::File(format!("cannot read the header row: {}", csv_error_words(&error))))?
        .clone();
    let mut positions: [Option<usize>; 4] = [None; 4];
    for (index, raw) in header.iter().enumerate() {
        let name = raw.trim().to_ascii_lowercase();
        let Some(column) = COLUMNS.iter().position(|known| *known == name) else {
            return Err(ImportFailure::File(format!(
                "the header row names an unknown column `{}`; the columns are {}",
                raw.trim(),
                COLUMNS.join(", ")
            )));
        };
        if positions[column].replace(index).is_some() {
            return Err(ImportFailure::File(format!("the header row names `{name}` twice")));
        }
    }
    if positions[0].is_none() {
        return Err(ImportFailure::File(format!(
            "the header row must name the columns, e.g. {} (`name` is required)",
            COLUMNS.join(",")
        )));
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, csv::Position::line);
                let cell = |column: usize| {
                    positions[column]
                        .and_then(|index| record.get(index))
                        .map(str::to_owned)
                        .filter(|text| !text.trim().is_empty())
                };
                rows.push(ImportRow {
                    line,
                    client: NewClient {
                        name: cell(0).unwrap_or_default(),
                        email: cell(1),
                        language: cell(2),
                        email_consent: None,
                        date_of_birth: cell(3),
                    },
                });
            }
            Err(error) => {
                let line = error.position().map_or(0, csv::Position::line);
                if let csv::ErrorKind::Io(io) = error.kind() {
                    return Err(ImportFailure::File(format!("cannot read the file: {io}")));
                }
                problems.push(LineProblem { line, what: csv_error_words(&error) });
            }
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(ImportFailure::Rows(problems)) }
}

/// The bytes with every CRLF turned into LF (a lone CR stays).
fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes.iter().peekable();
    while let Some(&byte) = rest.next() {
        if byte == b'\r' && rest.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

/// A CSV reading error in words, without the text of the line.
fn csv_error_words(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields as in the header row, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the text is not UTF-8".to_owned(),
        csv::ErrorKind::Io(error) => format!("cannot read the file: {error}"),
        _ => "the line cannot be read as CSV".to_owned(),
    }
}

fn row_problems(errors: Vec<RowError>) -> Vec<LineProblem> {
    errors
        .into_iter()
        .flat_map(|error| {
            error.problems.into_iter().map(move |problem| LineProblem { line: error.line, what: problem.to_string() })
        })
        .collect()
}

/// A skipped row in words.
#[must_use]
pub fn warning_words(warning: &ImportWarning) -> String {
    match warning.skip {
        ImportSkip::EmailInPractice => {
            format!("line {}: skipped: a client of the practice already has this email", warning.line)
        }
        ImportSkip::EmailEarlierInFile { line } => {
            format!("line {}: skipped: line {line} has the same email", warning.line)
        }
    }
}

/// What a finished import prints (JSON on stdout) and its warnings (lines for stderr).
#[derive(Debug)]
pub struct Imported {
    /// `{"practice", "rows", "created", "skipped", "dry_run"}`.
    pub summary: Value,
    /// One line per skipped row.
    pub warnings: Vec<String>,
}

/// Imports `file` into the practice `practice`: reads and checks every row, then (unless
/// `dry_run`) writes the clients. `progress` is shown on stderr when it is a terminal.
///
/// # Errors
/// [`ImportFailure`]: nothing is written for a bad file; a failure while writing says how many
/// clients were stored before it.
pub async fn import(database_url: &str, file: &Path, practice: &str, dry_run: bool) -> Result<Imported, ImportFailure> {
    let bytes =
        std::fs::read(file).map_err(|error| ImportFailure::File(format!("cannot read {}: {error}", file.display())))?;
    let (rows, mut problems) = match read_rows(&bytes) {
        Ok(rows) => (rows, Vec::new()),
        Err(ImportFailure::Rows(problems)) => (Vec::new(), problems),
        Err(other) => return Err(other),
    };
    let store = Arc::new(portal_store::connect(database_url).await.map_err(CommandError::from)?);
    let service = admin_service_over(Arc::clone(&store))?;
    let plan = match service.plan_import(practice, &rows).await {
        Ok(plan) => Some(plan),
        Err(ImportError::InvalidRows(errors)) => {
            problems.extend(row_problems(errors));
            None
        }
        Err(error) => return Err(CommandError::from(error).into()),
    };
    let plan = match plan {
        Some(plan) if problems.is_empty() => plan,
        _ => {
            problems.sort_by_key(|problem| problem.line);
            return Err(ImportFailure::Rows(problems));
        }
    };
    let warnings: Vec<String> = plan.skipped.iter().map(warning_words).collect();
    let created = if dry_run {
        0
    } else {
        let bar = progress_bar(plan.clients.len() as u64);
        let written = service.import(&plan, &mut |stored| bar.inc(stored)).await;
        bar.finish_and_clear();
        let created = written.map_err(CommandError::from)?;
        if created > 0 {
            // A bulk load is when the planner's picture of the tables goes stale (on a new
            // PostgreSQL database it still plans for empty tables): refresh it now rather than
            // when autovacuum or the retention job get to it. The clients are written either way.
            if let Err(error) = Retention::refresh_statistics(&*store).await {
                tracing::warn!(%error, "planner statistics not refreshed after the import");
            }
        }
        created
    };
    tracing::info!(practice, created, skipped = plan.skipped.len(), dry_run, "clients imported");
    Ok(Imported {
        summary: json!({
            "practice": practice.trim().to_lowercase(),
            "rows": rows.len(),
            "created": created,
            "would_create": if dry_run { Some(plan.clients.len()) } else { None },
            "skipped": plan.skipped.len(),
            "dry_run": dry_run,
        }),
        warnings,
    })
}

/// A progress bar on stderr, or a hidden one when stderr is not a terminal (a pipe, a log).
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} clients written ({eta} left)") {
        bar.set_style(style);
    }
    bar
}

impl From<ImportError> for CommandError {
    fn from(error: ImportError) -> Self {
        let text = match &error {
            ImportError::PracticeNotFound => "no practice has this slug".to_owned(),
            ImportError::InvalidRows(errors) => format!("{} rows are not valid; nothing was written", errors.len()),
            ImportError::Infrastructure { written, error } => format!(
                "the import stopped after {written} clients were written ({}); run the same file again to add the rest",
                crate::staff_keys::infrastructure_text(error)
            ),
        };
        Self::Refused(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_crlf_and_quoted_fields_are_read_with_their_lines() {
        let file = b"\xEF\xBB\xBFName,Email,language,date_of_birth\r\n\"Lovelace, Ada\",ada@example.org,en,1915-12-10\r\n\"Two\r\nLines\",,,\r\nGrace,,es,\r\n";
        let rows = read_rows(file).expect("rows");
        let lines: Vec<(u64, &str)> = rows.iter().map(|row| (row.line, row.client.name.as_str())).collect();
        assert_eq!(lines, [(2, "Lovelace, Ada"), (3, "Two\nLines"), (5, "Grace")]);
        assert_eq!(rows[0].client.date_of_birth.as_deref(), Some("1915-12-10"));
        assert_eq!(rows[1].client.email, None);
        assert_eq!(rows[2].client.language.as_deref(), Some("es"));
    }

    #[test]
    fn headers_must_name_known_columns_and_rows_must_match_them() {
        let unknown = read_rows(b"name,e-mail\nAda,ada@example.org\n");
        assert!(matches!(unknown, Err(ImportFailure::File(ref why)) if why.contains("`e-mail`")), "{unknown:?}");
        let nameless = read_rows(b"email\nada@example.org\n");
        assert!(matches!(nameless, Err(ImportFailure::File(ref why)) if why.contains("`name` is required")));
        let short = read_rows(b"name,email\nAda,ada@example.org\nGrace\nHedy,h@example.org,extra\n");
        let Err(ImportFailure::Rows(problems)) = short else { panic!("{short:?}") };
        assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), [3, 4]);
        assert!(problems[0].what.contains("expected 2 fields"), "{problems:?}");
        // Only the header: no rows, nothing wrong.
        assert!(read_rows(b"name,email\n").expect("no rows").is_empty());
    }
}
