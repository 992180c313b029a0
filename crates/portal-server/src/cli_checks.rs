//! What the command line checks beyond clap: policy bounds named by their flag, the public URL,
//! the machine's time zone.

use portal_core::{PolicyError, TimeZoneName};

use super::SettingError;

pub(super) fn policy_error(error: PolicyError) -> SettingError {
    match error {
        PolicyError::OutOfRange { setting, min, max, got } => {
            let flag = match setting {
                "invite_ttl" => "invite-ttl",
                "reset_ttl" => "reset-ttl",
                "retention.tokens_kept" => "token-retention",
                "retention.outbox_kept" => "outbox-retention",
                "retention.audit_kept" => "audit-retention",
                _ => "policy",
            };
            SettingError::new(flag, format!("must be between {min} and {max}, got {got}"))
        }
        PolicyError::Inconsistent(why) => SettingError::new("policy", why),
    }
}

/// The public URL must be an absolute http(s) URL without query or fragment; a trailing slash
/// is dropped.
pub(super) fn check_public_url(url: &str) -> Result<String, SettingError> {
    let bad = |why: &str| SettingError::new("public-url", why.to_owned());
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("must name a host"));
    }
    if rest.contains(['?', '#', ' ', '@']) {
        return Err(bad("must not contain a query, a fragment, spaces or credentials"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// This machine's time zone when it has an IANA name (`/etc/localtime`, `TZ`), else UTC.
pub(super) fn machine_time_zone() -> TimeZoneName {
    jiff::tz::TimeZone::system()
        .iana_name()
        .and_then(|name| crate::commands::time_zone(name).ok())
        .unwrap_or_else(TimeZoneName::utc)
}

/// The period of a background job: `0` or `off` turns it off; any other value is a positive
/// duration (`std_duration` refuses `0s`, which would make the job's timer panic).
pub(super) fn job_interval(flag: &'static str, text: &str) -> Result<Option<std::time::Duration>, SettingError> {
    match text.trim() {
        "0" | "off" => Ok(None),
        text => super::std_duration(flag, text).map(Some),
    }
}

/// The longest `--staff-key-recheck`: a revocation made elsewhere must not wait longer than this.
pub(super) const STAFF_KEY_RECHECK_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// `--staff-key-recheck`: `0` or `off` (read the key on every request), or a duration up to
/// [`STAFF_KEY_RECHECK_MAX`].
pub(super) fn staff_key_recheck(text: &str) -> Result<std::time::Duration, SettingError> {
    let recheck = job_interval("staff-key-recheck", text)?.unwrap_or_default();
    if recheck > STAFF_KEY_RECHECK_MAX {
        return Err(SettingError::new(
            "staff-key-recheck",
            format!("must be at most {}s (a revoked key is trusted that long)", STAFF_KEY_RECHECK_MAX.as_secs()),
        ));
    }
    Ok(recheck)
}
