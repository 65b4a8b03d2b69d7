//! A CronJob's schedule: a standard 5-field cron expression (or `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`) read in
//! `spec.timeZone` (an IANA name; when unset, a default zone: the controller
//! manager's local zone in the controller, UTC for [`Schedule::parse`]), and the
//! schedule times that fall between two instants.
//!
//! ```
//! use k8s_openapi::jiff::Timestamp;
//! use skiff_controllers::cronjob::schedule::Schedule;
//! let s = Schedule::parse("30 9 * * *", Some("Europe/Paris")).unwrap();
//! let t: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
//! // 09:30 in Paris is 08:30 UTC in winter.
//! assert_eq!(s.next_after(t).unwrap().to_string(), "2025-01-01T08:30:00Z");
//! assert!(Schedule::parse("61 * * * *", None).is_err());
//! ```

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::Timestamp;

/// How many missed schedule times [`Schedule::missed`] counts before it stops
/// (Kubernetes warns past 100).
pub const MISSED_COUNT_LIMIT: usize = 101;

/// What is wrong with a schedule or time zone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cron expression does not parse.
    #[error("unparseable schedule: {schedule:?}: {reason}")]
    Unparseable {
        /// The expression.
        schedule: String,
        /// Why.
        reason: String,
    },
    /// The time zone is not in the time zone database.
    #[error("invalid timeZone: {zone:?}: {reason}")]
    UnknownTimeZone {
        /// The zone name.
        zone: String,
        /// Why.
        reason: String,
    },
}

/// A parsed schedule in its time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

/// The schedule times in a window: the latest and how many there were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missed {
    /// The most recent schedule time in the window.
    pub latest: Option<Timestamp>,
    /// How many schedule times the window holds, counted up to
    /// [`MISSED_COUNT_LIMIT`].
    pub count: usize,
}

impl Schedule {
    /// Parses `schedule` to be read in `time_zone` (UTC when `None`).
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Self, Error> {
        Schedule::parse_or(schedule, time_zone, &TimeZone::UTC)
    }

    /// Parses `schedule` to be read in `time_zone`, or in `default_zone` when `None`.
    pub fn parse_or(
        schedule: &str,
        time_zone: Option<&str>,
        default_zone: &TimeZone,
    ) -> Result<Self, Error> {
        let zone = match time_zone {
            None => default_zone.clone(),
            Some(name) => TimeZone::get(name).map_err(|e| Error::UnknownTimeZone {
                zone: name.to_owned(),
                reason: e.to_string(),
            })?,
        };
        let trimmed = schedule.trim();
        let expr = if trimmed.eq_ignore_ascii_case("@midnight") {
            "0 0 * * *"
        } else {
            trimmed
        };
        let unparseable = |reason: String| Error::Unparseable {
            schedule: schedule.to_owned(),
            reason,
        };
        if expr.split_whitespace().count() != 5 && !expr.starts_with('@') {
            return Err(unparseable(format!(
                "expected exactly 5 fields, found {}",
                expr.split_whitespace().count()
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| unparseable(e.to_string()))?;
        Ok(Schedule { cron, zone })
    }

    /// The time zone the schedule is read in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first schedule time strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let zoned = t.to_zoned(self.zone.clone());
        self.cron
            .find_next_occurrence(&zoned, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The schedule times in `(earliest, now]`: the latest, and how many (up to
    /// [`MISSED_COUNT_LIMIT`]).
    pub fn missed(&self, earliest: Timestamp, now: Timestamp) -> Missed {
        let latest = self
            .cron
            .find_previous_occurrence(&now.to_zoned(self.zone.clone()), true)
            .ok()
            .map(|z| z.timestamp())
            .filter(|t| *t > earliest);
        let mut count = 0;
        if latest.is_some() {
            let mut t = earliest;
            while count < MISSED_COUNT_LIMIT {
                match self.next_after(t) {
                    Some(next) if next <= now => {
                        count += 1;
                        t = next;
                    }
                    _ => break,
                }
            }
        }
        Missed { latest, count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn nicknames_and_fields() {
        let hourly = Schedule::parse("@hourly", None).unwrap();
        assert_eq!(
            hourly.next_after(at("2025-03-01T10:00:00Z")),
            Some(at("2025-03-01T11:00:00Z"))
        );
        let midnight = Schedule::parse("@midnight", None).unwrap();
        assert_eq!(
            midnight.next_after(at("2025-03-01T10:00:00Z")),
            Some(at("2025-03-02T00:00:00Z"))
        );
        let every5 = Schedule::parse("*/5 * * * *", None).unwrap();
        assert_eq!(
            every5.next_after(at("2025-03-01T10:02:10Z")),
            Some(at("2025-03-01T10:05:00Z"))
        );
        assert!(Schedule::parse("* * * *", None).is_err());
        assert!(
            Schedule::parse("0 * * * * *", None).is_err(),
            "no seconds field"
        );
        assert!(Schedule::parse("* * * * *", Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn counts_missed_times_up_to_the_limit() {
        let s = Schedule::parse("* * * * *", None).unwrap();
        let m = s.missed(at("2025-03-01T10:00:00Z"), at("2025-03-01T10:03:30Z"));
        assert_eq!(
            m,
            Missed {
                latest: Some(at("2025-03-01T10:03:00Z")),
                count: 3
            }
        );
        let none = s.missed(at("2025-03-01T10:03:00Z"), at("2025-03-01T10:03:30Z"));
        assert_eq!(none.latest, None);
        let many = s.missed(at("2025-03-01T00:00:00Z"), at("2025-03-02T00:00:00Z"));
        assert_eq!(many.count, MISSED_COUNT_LIMIT);
        assert_eq!(many.latest, Some(at("2025-03-02T00:00:00Z")));
    }

    #[test]
    fn without_a_time_zone_the_default_zone_reads_the_schedule() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        let s = Schedule::parse_or("0 9 * * *", None, &tokyo).unwrap();
        let t: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        // 09:00 in Tokyo is 00:00 UTC.
        assert_eq!(s.next_after(t).unwrap().to_string(), "2025-06-02T00:00:00Z");
        // A named zone wins over the default.
        let s = Schedule::parse_or("0 9 * * *", Some("UTC"), &tokyo).unwrap();
        assert_eq!(s.next_after(t).unwrap().to_string(), "2025-06-02T09:00:00Z");
    }
}
