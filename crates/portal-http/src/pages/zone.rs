//! [`PracticeZone`]: times on pages, in the practice's time zone with the zone named.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use portal_core::wording::moment_in_short;
use portal_core::{InvalidInput, Practice, TimeZoneName};

/// A zone name as staff typed it, accepted only when the bundled tz database knows it (the core
/// checks the shape only), so a practice never states times in a zone that falls back to UTC.
pub(crate) fn known_time_zone(raw: &str) -> Result<TimeZoneName, InvalidInput> {
    let name = TimeZoneName::parse(raw)?;
    TimeZone::get(name.as_str()).map(|_| name).map_err(|_| InvalidInput::Malformed {
        field: "time_zone",
        why: "not a time zone the tz database knows (use an IANA name such as America/Chicago)",
    })
}

/// A practice's time zone, resolved with the bundled tz database. An unknown name falls back to
/// UTC, and the staff pages say so ([`PracticeZone::unknown`]).
pub(crate) struct PracticeZone {
    zone: TimeZone,
    /// The zone's name as shown after each time.
    label: String,
    /// The practice's zone name when it could not be resolved.
    unknown: Option<String>,
}

impl PracticeZone {
    /// The zone of `practice`; UTC when there is none (the practice is gone) or its name is
    /// unknown to the tz database.
    pub(crate) fn of(practice: Option<&Practice>) -> Self {
        practice.map_or_else(|| Self::utc(None), |practice| Self::named(practice.time_zone.as_str()))
    }

    fn named(name: &str) -> Self {
        match TimeZone::get(name) {
            Ok(zone) => Self { zone, label: name.to_owned(), unknown: None },
            Err(error) => {
                tracing::warn!(time_zone = name, %error, "unknown time zone; pages state times in UTC");
                Self::utc(Some(name.to_owned()))
            }
        }
    }

    fn utc(unknown: Option<String>) -> Self {
        Self { zone: TimeZone::UTC, label: "UTC".to_owned(), unknown }
    }

    /// "Dec 1, 2026, 9:15 AM (America/Chicago)", in the page's language.
    pub(crate) fn at(&self, at: Timestamp) -> String {
        let local = at.to_zoned_datetime(self.zone.clone()).datetime();
        moment_in_short(super::language(), local, &self.label)
    }

    /// The practice's zone name, when it is unknown and times are shown in UTC instead.
    pub(crate) fn unknown(&self) -> Option<&str> {
        self.unknown.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_local_to_the_practice_with_the_zone_named() -> Result<(), jiff::Error> {
        let at: Timestamp = "2026-12-01T15:15:00Z".parse()?;
        assert_eq!(PracticeZone::named("America/Chicago").at(at), "Dec 1, 2026, 9:15 AM (America/Chicago)");
        assert_eq!(PracticeZone::named("Europe/Madrid").at(at), "Dec 1, 2026, 4:15 PM (Europe/Madrid)");
        let unknown = PracticeZone::named("Mars/Olympus_Mons");
        assert_eq!(unknown.at(at), "Dec 1, 2026, 3:15 PM (UTC)");
        assert_eq!(unknown.unknown(), Some("Mars/Olympus_Mons"));
        Ok(())
    }
}
