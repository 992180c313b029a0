//! A client's date of birth: part of the host's record, asked for on emailed links when the
//! practice has the check on. It is personal health information, so it never appears in `Debug`
//! output, and an answer is compared with the record in constant time.

use std::fmt;

use jiff::civil::Date;
use subtle::ConstantTimeEq;

use crate::types::InvalidInput;

/// A date of birth: a calendar date from 1880-01-01 up to the day after "today" (a day's slack
/// for time zones), written `YYYY-MM-DD`.
///
/// ```
/// use jiff::civil::date;
/// use portal_core::DateOfBirth;
///
/// let today = date(2026, 12, 1);
/// let on_file = DateOfBirth::parse("1990-07-14", today)?;
/// assert!(on_file.matches(&DateOfBirth::parse(" 1990-07-14 ", today)?));
/// assert!(!on_file.matches(&DateOfBirth::parse("1990-07-15", today)?));
/// assert!(DateOfBirth::parse("14/07/1990", today).is_err());
/// assert!(DateOfBirth::parse("2030-01-01", today).is_err());
/// assert_eq!(format!("{on_file:?}"), "DateOfBirth(…)");
/// # Ok::<(), portal_core::InvalidInput>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateOfBirth(Date);

impl DateOfBirth {
    /// The earliest date accepted.
    pub const EARLIEST: Date = Date::constant(1880, 1, 1);

    /// Parses `YYYY-MM-DD` (surrounding spaces ignored) against today's date.
    ///
    /// # Errors
    /// [`InvalidInput::Malformed`] for another shape, an impossible date, or a date before
    /// 1880 or after tomorrow.
    pub fn parse(raw: &str, today: Date) -> Result<Self, InvalidInput> {
        let text = raw.trim();
        // jiff's parser also takes forms with a time or an offset; a date of birth is ten
        // characters, no more.
        let shaped = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
        let date = shaped
            .then(|| text.parse::<Date>().ok())
            .flatten()
            .ok_or(InvalidInput::Malformed { field: "date_of_birth", why: "expected a date written YYYY-MM-DD" })?;
        Self::new(date, today)
    }

    /// Checks a calendar date against today's date.
    ///
    /// # Errors
    /// [`InvalidInput::Malformed`] for a date before 1880 or after tomorrow.
    pub fn new(date: Date, today: Date) -> Result<Self, InvalidInput> {
        let latest = today.tomorrow().unwrap_or(today);
        if date < Self::EARLIEST || date > latest {
            return Err(InvalidInput::Malformed {
                field: "date_of_birth",
                why: "expected a date between 1880-01-01 and today",
            });
        }
        Ok(Self(date))
    }

    /// Reads a stored date back (storage checked it when it was written).
    #[must_use]
    pub const fn restore(date: Date) -> Self {
        Self(date)
    }

    /// The date.
    #[must_use]
    pub const fn date(&self) -> Date {
        self.0
    }

    /// `YYYY-MM-DD`, for storage and the staff views.
    #[must_use]
    pub fn to_iso(&self) -> String {
        self.0.to_string()
    }

    /// Whether an answer is this date, compared in constant time (no early exit on the first
    /// differing part, so timing does not tell the year from the day).
    #[must_use]
    pub fn matches(&self, answer: &Self) -> bool {
        self.bytes().ct_eq(&answer.bytes()).into()
    }

    fn bytes(self) -> [u8; 4] {
        let [year_high, year_low] = self.0.year().to_be_bytes();
        #[allow(clippy::cast_sign_loss)] // month 1–12 and day 1–31 are positive
        [year_high, year_low, self.0.month() as u8, self.0.day() as u8]
    }
}

impl fmt::Debug for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DateOfBirth(…)")
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn the_bounds_are_1880_and_tomorrow() {
        let today = date(2026, 12, 1);
        assert!(DateOfBirth::parse("1880-01-01", today).is_ok());
        assert!(DateOfBirth::parse("1879-12-31", today).is_err());
        assert!(DateOfBirth::parse("2026-12-02", today).is_ok());
        assert!(DateOfBirth::parse("2026-12-03", today).is_err());
    }

    #[test]
    fn only_a_plain_date_is_a_date_of_birth() {
        let today = date(2026, 12, 1);
        for text in ["", "1990-7-14", "1990-02-30", "1990-07-14T00:00", "+01990-07-14", "19900714", "1990/07/14"] {
            assert!(DateOfBirth::parse(text, today).is_err(), "{text}");
        }
    }

    #[test]
    fn dates_that_differ_in_any_part_do_not_match() {
        let today = date(2026, 12, 1);
        let on_file = DateOfBirth::parse("1990-07-14", today).unwrap();
        for other in ["1991-07-14", "1990-08-14", "1990-07-15", "2090-07-14"] {
            if let Ok(other) = DateOfBirth::parse(other, date(2100, 1, 1)) {
                assert!(!on_file.matches(&other), "{other:?}");
            }
        }
        assert_eq!(on_file.to_iso(), "1990-07-14");
    }
}
