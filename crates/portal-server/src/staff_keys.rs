//! `staff-key create | list | revoke`: a practice's staff keys, from the command line.
//!
//! A new key is printed once (JSON on stdout) and never stored: only its SHA-256. A key works
//! until it is revoked or, when created with `--expires`, until its expiry. An expired key stops
//! at its expiry. A revoked one ends its staff sessions at once (the pages sign out on the next
//! request), and a running server refuses it on the API within a second: the server remembers
//! an active key for that long so a staff request is one database read, not two
//! ([`DEFAULT_STAFF_KEY_RECHECK`](portal_core::service::DEFAULT_STAFF_KEY_RECHECK)).

use jiff::{SignedDuration, Timestamp};
use portal_core::Clock as _;
use portal_core::service::{Infrastructure, StaffKeyError};
use portal_core::{StaffKeyRecord, SystemClock};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::commands::{CommandError, admin_service};

impl From<StaffKeyError> for CommandError {
    fn from(error: StaffKeyError) -> Self {
        let text = match &error {
            StaffKeyError::Invalid(invalid) => format!("invalid input: {invalid}"),
            StaffKeyError::PracticeNotFound => "no practice has this slug".to_owned(),
            StaffKeyError::KeyNotFound => {
                "the practice has no staff key with this id (see `staff-key list`)".to_owned()
            }
            StaffKeyError::InvalidExpiry => "invalid --expires: a key's lifetime must be positive".to_owned(),
            StaffKeyError::Infrastructure(infrastructure) => infrastructure_text(infrastructure),
        };
        Self::Refused(text)
    }
}

/// The chain says which part failed (e.g. "storage failed: the store is unavailable").
pub(crate) fn infrastructure_text(infrastructure: &Infrastructure) -> String {
    let mut text = infrastructure.to_string();
    let mut source = std::error::Error::source(infrastructure);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// RFC 3339 in UTC, to the second (or `null`).
fn time(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |at| Value::String(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn key_json(key: &StaffKeyRecord, now: Timestamp) -> Value {
    json!({
        "staff_id": key.staff.id.to_string(),
        "label": key.staff.label.as_str(),
        "state": key.state_at(now).name(),
        "created_at": time(Some(key.staff.created_at)),
        "expires_at": time(key.expires_at),
        "revoked_at": time(key.revoked_at),
        "last_used_at": time(key.last_used_at),
    })
}

/// `staff-key create`: another key for a practice, as `{"practice", "staff_id", "label",
/// "expires_at", "staff_key"}`. `expires_in` of `None` makes a key without expiry.
///
/// # Errors
/// [`CommandError`].
pub async fn create(
    database_url: &str,
    practice: &str,
    label: &str,
    expires_in: Option<SignedDuration>,
) -> Result<Value, CommandError> {
    let service = admin_service(database_url).await?;
    let created = service.create_staff_key(practice, label, expires_in).await?;
    tracing::info!(practice, staff_id = %created.key.staff.id, "staff key created");
    Ok(json!({
        "practice": practice.trim().to_lowercase(),
        "staff_id": created.key.staff.id.to_string(),
        "label": created.key.staff.label.as_str(),
        "expires_at": time(created.key.expires_at),
        "staff_key": created.secret.expose().expose_secret(),
    }))
}

/// `staff-key list`: every key of a practice (never the key itself), oldest first, as a JSON
/// array of `{"staff_id", "label", "state", "created_at", "expires_at", "revoked_at",
/// "last_used_at"}`.
///
/// # Errors
/// [`CommandError`].
pub async fn list(database_url: &str, practice: &str) -> Result<Value, CommandError> {
    let service = admin_service(database_url).await?;
    let (_, keys) = service.staff_keys(practice).await?;
    let now = SystemClock.now();
    Ok(Value::Array(keys.iter().map(|key| key_json(key, now)).collect()))
}

/// `staff-key revoke`: revokes a key by id; prints the key as it now stands. Revoking a revoked
/// key is not an error (its first revocation time stays).
///
/// # Errors
/// [`CommandError`].
pub async fn revoke(database_url: &str, practice: &str, id: &str) -> Result<Value, CommandError> {
    let service = admin_service(database_url).await?;
    let key = service.revoke_staff_key(practice, id).await?;
    tracing::info!(practice, staff_id = %key.staff.id, "staff key revoked");
    Ok(key_json(&key, SystemClock.now()))
}

/// The `staff-key list` JSON as a table for a terminal: one line per key.
#[must_use]
pub fn table(keys: &Value) -> String {
    let columns = ["staff_id", "label", "state", "created_at", "expires_at", "last_used_at"];
    let headings = ["ID", "LABEL", "STATE", "CREATED", "EXPIRES", "LAST USED"];
    let rows: Vec<Vec<String>> = keys
        .as_array()
        .map(|keys| {
            keys.iter()
                .map(|key| {
                    columns
                        .iter()
                        .map(|column| match &key[*column] {
                            Value::String(text) => text.clone(),
                            Value::Null if *column == "expires_at" => "never".to_owned(),
                            Value::Null => "-".to_owned(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let widths: Vec<usize> = headings
        .iter()
        .enumerate()
        .map(|(i, heading)| rows.iter().map(|row| row[i].chars().count()).chain([heading.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}", width = *width)).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(&headings.map(str::to_owned));
    for row in &rows {
        text.push_str(&line(row));
    }
    if rows.is_empty() {
        text.push_str("(no staff keys)\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_created_listed_and_revoked() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = crate::cli::sqlite_url(&dir.path().join("portal.db"))?;
        crate::commands::create_practice(&url, "Sunrise Therapy", None, "UTC").await?;
        let created = create(&url, "sunrise-therapy", "Front desk", Some(SignedDuration::from_hours(24))).await?;
        assert!(created["expires_at"].is_string(), "{created}");
        let id = created["staff_id"].as_str().ok_or("no id")?.to_owned();

        let keys = list(&url, "sunrise-therapy").await?;
        let keys_text = keys.to_string();
        assert!(!keys_text.contains("pst_"), "a listing never shows a key: {keys_text}");
        assert_eq!(keys.as_array().map(Vec::len), Some(2));
        assert_eq!(keys[1]["state"], "active");
        let table = table(&keys);
        assert!(table.starts_with("ID"), "{table}");
        assert!(table.contains("Front desk") && table.contains("never"), "{table}");

        let revoked = revoke(&url, "sunrise-therapy", &id).await?;
        assert_eq!(revoked["state"], "revoked");
        let again = revoke(&url, "sunrise-therapy", &id).await?;
        assert_eq!(again["revoked_at"], revoked["revoked_at"]);
        let unknown = revoke(&url, "sunrise-therapy", "not-an-id").await;
        assert!(matches!(unknown, Err(CommandError::Refused(ref why)) if why.contains("no staff key")));
        Ok(())
    }
}
