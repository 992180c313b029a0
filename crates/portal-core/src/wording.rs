//! Words the mail and the pages share, in each [`Language`]: dates and times as people read
//! them, and durations. Pure: callers resolve the practice's zone (the tz database is IO) and
//! pass the local time.

use jiff::SignedDuration;
use jiff::civil::{DateTime, Weekday};

use crate::types::Language;

/// A moment in full, as the mail states a link's end: "Sunday 29 November 2026, 14:05
/// (America/Chicago)" / "domingo 29 de noviembre de 2026, 14:05 (America/Chicago)".
///
/// ```
/// use jiff::civil::date;
/// use portal_core::Language;
/// use portal_core::wording::moment_in_full;
///
/// let local = date(2026, 11, 29).at(14, 5, 0, 0);
/// assert_eq!(moment_in_full(Language::Es, local, "America/Chicago"), "domingo 29 de noviembre de 2026, 14:05 (America/Chicago)");
/// ```
#[must_use]
pub fn moment_in_full(language: Language, local: DateTime, zone: &str) -> String {
    let (weekday, day, month, year) =
        (weekday_name(language, local.weekday()), local.day(), month_name(language, local.month()), local.year());
    let (hour, minute) = (local.hour(), local.minute());
    match language {
        Language::En => format!("{weekday} {day} {month} {year}, {hour:02}:{minute:02} ({zone})"),
        Language::Es => format!("{weekday} {day} de {month} de {year}, {hour:02}:{minute:02} ({zone})"),
    }
}

/// A moment in short, as the pages show it in a sentence or a table: "Dec 1, 2026, 9:15 AM
/// (America/Chicago)" / "1 dic 2026, 09:15 (America/Chicago)" (Spanish readers use the 24-hour
/// clock).
#[must_use]
pub fn moment_in_short(language: Language, local: DateTime, zone: &str) -> String {
    let month = month_name(language, local.month());
    let (day, year, minute) = (local.day(), local.year(), local.minute());
    match language {
        Language::En => {
            let month: String = month.chars().take(3).collect();
            let hour = match local.hour() % 12 {
                0 => 12,
                hour => hour,
            };
            let half = if local.hour() < 12 { "AM" } else { "PM" };
            format!("{month} {day}, {year}, {hour}:{minute:02} {half} ({zone})")
        }
        Language::Es => {
            let month: String = month.chars().take(3).collect();
            format!("{day} {month} {year}, {:02}:{minute:02} ({zone})", local.hour())
        }
    }
}

/// A duration in words, rounded to the minute and at least one: "48 hours", "1 hour and 30
/// minutes" / "48 horas", "1 hora y 1 minuto".
#[must_use]
pub fn duration_in_words(language: Language, duration: SignedDuration) -> String {
    let minutes = ((duration.as_secs().max(0) + 30) / 60).max(1);
    let (hours, minutes) = (minutes / 60, minutes % 60);
    let (hour, hours_word, minute, minutes_word, and) = match language {
        Language::En => ("hour", "hours", "minute", "minutes", "and"),
        Language::Es => ("hora", "horas", "minuto", "minutos", "y"),
    };
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match (hours, minutes) {
        (0, m) => unit(m, minute, minutes_word),
        (h, 0) => unit(h, hour, hours_word),
        (h, m) => format!("{} {and} {}", unit(h, hour, hours_word), unit(m, minute, minutes_word)),
    }
}

/// A month's name (`month` 1–12, as jiff counts).
fn month_name(language: Language, month: i8) -> &'static str {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const ES: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    let names = match language {
        Language::En => &EN,
        Language::Es => &ES,
    };
    let index = usize::from(month.unsigned_abs()).saturating_sub(1);
    names.get(index).copied().unwrap_or_default()
}

fn weekday_name(language: Language, weekday: Weekday) -> &'static str {
    const EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    const ES: [&str; 7] = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
    let names = match language {
        Language::En => &EN,
        Language::Es => &ES,
    };
    names.get(usize::from(weekday.to_monday_zero_offset().unsigned_abs())).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn durations_read_naturally_in_both_languages() {
        let d = SignedDuration::from_mins;
        assert_eq!(duration_in_words(Language::En, d(48 * 60)), "48 hours");
        assert_eq!(duration_in_words(Language::En, d(60)), "1 hour");
        assert_eq!(duration_in_words(Language::En, d(90)), "1 hour and 30 minutes");
        assert_eq!(duration_in_words(Language::En, d(1)), "1 minute");
        assert_eq!(duration_in_words(Language::En, SignedDuration::ZERO), "1 minute");
        assert_eq!(duration_in_words(Language::Es, d(48 * 60)), "48 horas");
        assert_eq!(duration_in_words(Language::Es, d(61)), "1 hora y 1 minuto");
    }

    #[test]
    fn moments_read_as_each_language_writes_them() {
        let morning = date(2026, 12, 1).at(9, 15, 0, 0);
        let midnight = date(2027, 1, 15).at(0, 5, 0, 0);
        let zone = "America/Chicago";
        assert_eq!(moment_in_short(Language::En, morning, zone), "Dec 1, 2026, 9:15 AM (America/Chicago)");
        assert_eq!(moment_in_short(Language::En, midnight, zone), "Jan 15, 2027, 12:05 AM (America/Chicago)");
        assert_eq!(moment_in_short(Language::Es, morning, zone), "1 dic 2026, 09:15 (America/Chicago)");
        assert_eq!(moment_in_full(Language::En, midnight, "UTC"), "Friday 15 January 2027, 00:05 (UTC)");
        assert_eq!(moment_in_full(Language::Es, morning, "UTC"), "martes 1 de diciembre de 2026, 09:15 (UTC)");
    }
}
