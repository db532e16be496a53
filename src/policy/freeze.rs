//! Change-freeze windows: weekly ranges and explicit periods, in a named time zone, evaluated on
//! the local wall clock of that zone (so a Friday 16:00 freeze stays at 16:00 across DST changes).

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Clone, Debug)]
pub enum FreezeWindow {
    Weekly { days: Vec<Weekday>, from: Time, to: Time },
    Period { start: DateTime, end: DateTime },
}

#[derive(Clone, Debug)]
pub struct Freeze {
    pub reason: String,
    pub tz_name: String,
    pub tz: TimeZone,
    pub window: FreezeWindow,
}

/// A freeze in force, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Active {
    pub reason: String,
    pub until: String,
}

impl fmt::Display for Active {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() { write!(f, "frozen until {}", self.until) } else { write!(f, "{} (until {})", self.reason, self.until) }
    }
}

pub fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

pub fn parse_time(s: &str) -> Result<Time, String> {
    if s == "24:00" {
        return Ok(Time::MAX);
    }
    s.parse::<Time>().map_err(|_| format!("`{s}` is not a time of day (HH:MM)"))
}

/// `2026-12-20` (start of that day, or end of it for `end`) or `2026-12-20T18:00`.
pub fn parse_bound(s: &str, end: bool) -> Result<DateTime, String> {
    // A bare date means the whole day (jiff would also read it as midnight, hence date first).
    if !s.contains('T') && !s.contains(' ') {
        let d: Date = s.parse().map_err(|_| format!("`{s}` is not a date (2026-12-20)"))?;
        return Ok(if end { d.to_datetime(Time::MAX) } else { d.to_datetime(Time::MIN) });
    }
    s.parse::<DateTime>().map_err(|_| format!("`{s}` is not a date or date-time (2026-12-20 or 2026-12-20T18:00)"))
}

impl Freeze {
    /// The freeze, if it is in force at `now`.
    pub fn active_at(&self, now: Timestamp) -> Option<Active> {
        let local: Zoned = now.to_zoned(self.tz.clone());
        let dt = local.datetime();
        let t = dt.time();
        match &self.window {
            FreezeWindow::Weekly { days, from, to } => {
                let today = days.contains(&dt.weekday());
                let yesterday = days.contains(&dt.weekday().previous());
                let inside = if from < to {
                    today && t >= *from && t < *to
                } else {
                    // Past midnight: the evening part belongs to today, the morning to yesterday.
                    (today && t >= *from) || (yesterday && t < *to)
                };
                inside.then(|| Active { reason: self.reason.clone(), until: format!("{} {}", to.strftime("%H:%M"), self.tz_name) })
            }
            FreezeWindow::Period { start, end } => (dt >= *start && dt <= *end)
                .then(|| Active { reason: self.reason.clone(), until: format!("{} {}", end.strftime("%Y-%m-%d %H:%M"), self.tz_name) }),
        }
    }
}
