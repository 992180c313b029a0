//! Logging: `tracing` to stderr, filtered by `PORTAL_LOG`, as text or JSON lines.
//!
//! Stdout is kept for what a command prints on purpose (the first-run staff key, JSON results),
//! so logs never mix with it. No crate of the workspace logs a password, a token, a session
//! token, a staff key or the link key; the end-to-end tests scan captured logs to prove it.

use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// The log filter could not be parsed, or a global subscriber was already installed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `PORTAL_LOG` / `--log` is not a valid filter.
    #[error("invalid --log / PORTAL_LOG filter `{filter}`: {why}")]
    BadFilter {
        /// The filter as given.
        filter: String,
        /// The parser's complaint.
        why: String,
    },
    /// Someone installed a subscriber first.
    #[error("a log subscriber is already installed")]
    AlreadyInstalled,
}

/// A subscriber writing to `writer` with `filter` (tracing `EnvFilter` syntax) in `format`;
/// text lines are coloured only when `ansi` is true (a terminal).
///
/// # Errors
/// [`LogError::BadFilter`].
pub fn subscriber<W>(
    filter: &str,
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> Result<Box<dyn Subscriber + Send + Sync>, LogError>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let env_filter = EnvFilter::try_new(filter)
        .map_err(|error| LogError::BadFilter { filter: filter.to_owned(), why: error.to_string() })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(ansi && format == LogFormat::Text)
        .with_writer(writer);
    Ok(match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).with_current_span(true).finish()),
    })
}

/// Installs the process-wide subscriber, writing to stderr.
///
/// # Errors
/// [`LogError`].
pub fn init(filter: &str, format: LogFormat) -> Result<(), LogError> {
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let subscriber = subscriber(filter, format, ansi, std::io::stderr)?;
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LogError::AlreadyInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_is_reported_with_the_variable_name() {
        let error = subscriber("info,=[", LogFormat::Text, false, std::io::sink).err();
        assert!(matches!(error, Some(LogError::BadFilter { .. })));
        assert!(error.is_some_and(|e| e.to_string().contains("PORTAL_LOG")));
        assert!(subscriber("info,portal_mail=debug", LogFormat::Json, false, std::io::sink).is_ok());
    }
}
