//! Sync windows, as Argo CD judges them (`SyncWindows.Matches` and `CanSync` in
//! pkg/apis/application/v1alpha1/types.go): an AppProject's windows that match an application
//! (by its name, destination cluster or namespace), which are active now (a start of the window's
//! five-field cron schedule within its duration before now), and whether a manual sync may go.
//!
//! The cron matcher is written here rather than taken from a crate: the maintained ones bring
//! chrono along, and what Argo CD parses (minute, hour, day of month, month, day of week; lists,
//! ranges, steps and names; no descriptors) is small. "Active" is then checked minute by minute
//! back over the window's duration.

use serde::Deserialize;

use super::model::App;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct SyncWindow {
    /// `allow` or `deny`.
    pub kind: String,
    pub schedule: String,
    /// A Go duration: `1h`, `30m`, `1h30m`.
    pub duration: String,
    pub applications: Vec<String>,
    pub namespaces: Vec<String>,
    pub clusters: Vec<String>,
    pub manual_sync: bool,
    pub time_zone: String,
    #[serde(rename = "andOperator")]
    pub use_and_operator: bool,
    pub description: String,
}

/// Glob matching as Argo CD's `globMatch` (gobwas/glob without separators): `*` any run, `?` one
/// character, `[abc]` a class; the rest literal.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => match p.iter().position(|c| *c == ']') {
                Some(end) if !t.is_empty() => p[1..end].contains(&t[0]) && go(&p[end + 1..], &t[1..]),
                _ => false,
            },
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

impl SyncWindow {
    fn matches(&self, app: &App) -> bool {
        let d = &app.spec.destination;
        let apps = (!self.applications.is_empty()).then(|| self.applications.iter().any(|a| glob(a, app.name())));
        let clusters = (!self.clusters.is_empty()).then(|| {
            self.clusters.iter().any(|c| {
                d.name.as_deref().is_some_and(|n| !n.is_empty() && glob(c, n))
                    || d.server.as_deref().is_some_and(|s| !s.is_empty() && glob(c, s))
            })
        });
        let namespaces =
            (!self.namespaces.is_empty()).then(|| self.namespaces.iter().any(|n| glob(n, d.namespace.as_deref().unwrap_or(""))));
        let set: Vec<bool> = [apps, clusters, namespaces].into_iter().flatten().collect();
        if self.use_and_operator { !set.is_empty() && set.iter().all(|m| *m) } else { set.iter().any(|m| *m) }
    }

    /// Whether a start of the schedule lies within the window's duration before `now`.
    pub fn active(&self, now: jiff::Timestamp) -> Result<bool, String> {
        let cron = Cron::parse(&self.schedule)?;
        let minutes = go_duration_minutes(&self.duration)?;
        let zone = if self.time_zone.is_empty() {
            jiff::tz::TimeZone::UTC
        } else {
            jiff::tz::TimeZone::get(&self.time_zone).map_err(|e| format!("unknown time zone `{}`: {e}", self.time_zone))?
        };
        let mut at = now.to_zoned(zone).round(jiff::Unit::Minute).map_err(|e| e.to_string())?;
        if at.timestamp() > now {
            at = at.checked_sub(jiff::SignedDuration::from_mins(1)).map_err(|e| e.to_string())?;
        }
        // A start at `now - duration` has just ended; one after it is still open.
        for _ in 0..minutes {
            if cron.matches(&at) {
                return Ok(true);
            }
            at = at.checked_sub(jiff::SignedDuration::from_mins(1)).map_err(|e| e.to_string())?;
        }
        Ok(false)
    }

    /// For people: `deny 0 22 * * * for 1h (UTC)`.
    pub fn describe(&self) -> String {
        let tz = if self.time_zone.is_empty() { "UTC" } else { &self.time_zone };
        format!("{} `{}` for {} ({tz})", self.kind, self.schedule, self.duration)
    }
}

/// The windows of an app for people, and whether a manual sync may go (see `can_sync_manually`).
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub lines: Vec<String>,
    pub manual: Result<Option<String>, String>,
}

/// Whether a manual sync of `app` may go now under `windows` (the project's): `Ok(None)` freely,
/// `Ok(Some(note))` only because a window lets manual syncs through (said on the key), and
/// `Err` with the window that stops it.
pub fn can_sync_manually(windows: &[SyncWindow], app: &App, now: jiff::Timestamp) -> Result<Option<String>, String> {
    let mut judged = Vec::new();
    for w in windows.iter().filter(|w| w.matches(app)) {
        judged.push((w, w.active(now).map_err(|e| format!("cannot sync: invalid sync window: {e}"))?));
    }
    judge_manual(&judged)
}

/// Argo CD's `CanSync(isManual: true)` over the windows that match an app, each with whether it
/// is active now (the server says which are; through Kubernetes they are worked out here).
pub fn judge_manual(windows: &[(&SyncWindow, bool)]) -> Result<Option<String>, String> {
    let active: Vec<&SyncWindow> = windows.iter().filter(|(_, on)| *on).map(|(w, _)| *w).collect();
    let denies: Vec<&SyncWindow> = active.iter().copied().filter(|w| w.kind == "deny").collect();
    if let Some(first) = denies.first() {
        // Manual syncs pass only if every active deny window lets them.
        return match denies.iter().find(|w| !w.manual_sync) {
            Some(w) => Err(format!("cannot sync: blocked by sync window ({})", w.describe())),
            None => Ok(Some(format!("a manual sync only: deny window {} lets manual syncs", first.describe()))),
        };
    }
    if active.iter().any(|w| w.kind == "allow") {
        return Ok(None);
    }
    let inactive_allows: Vec<&SyncWindow> = windows.iter().filter(|(w, on)| !on && w.kind == "allow").map(|(w, _)| *w).collect();
    match inactive_allows.first() {
        None => Ok(None),
        Some(first) if inactive_allows.iter().all(|w| w.manual_sync) => {
            Ok(Some(format!("a manual sync only: outside allow window {}, which lets manual syncs", first.describe())))
        }
        Some(first) => Err(format!("cannot sync: blocked by sync window (outside {})", first.describe())),
    }
}

/// The windows that apply to `app`, each said with whether it is active now.
pub fn describe_for(windows: &[SyncWindow], app: &App, now: jiff::Timestamp) -> Vec<String> {
    windows
        .iter()
        .filter(|w| w.matches(app))
        .map(|w| {
            let state = match w.active(now) {
                Ok(true) => "active now",
                Ok(false) => "not active",
                Err(_) => "unreadable",
            };
            let manual = if w.manual_sync { " · manual sync allowed" } else { "" };
            format!("{} — {state}{manual}", w.describe())
        })
        .collect()
}

/// A Go duration (`1h30m`, `45m`, `90s`) in whole minutes (at least one).
fn go_duration_minutes(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a duration (e.g. 1h, 30m, 1h30m)");
    let (mut total, mut number) = (0f64, String::new());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
    }
    if !number.is_empty() || total <= 0.0 {
        return Err(bad());
    }
    Ok(((total / 60.0).ceil() as i64).max(1))
}

/// A five-field cron schedule: the set of allowed values of each field.
struct Cron {
    minute: Vec<bool>,
    hour: Vec<bool>,
    dom: Vec<bool>,
    month: Vec<bool>,
    dow: Vec<bool>,
    /// A day field given as `*`: then the other alone decides (robfig/cron's rule).
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(format!("`{text}` is not a five-field cron schedule (minute hour day-of-month month day-of-week)"));
        };
        Ok(Cron {
            minute: field(minute, 0, 59, &[])?,
            hour: field(hour, 0, 23, &[])?,
            dom: field(dom, 1, 31, &[])?,
            month: field(month, 1, 12, &MONTHS)?,
            dow: {
                let mut d = field(dow, 0, 7, &DAYS)?;
                // 7 is Sunday too.
                if d[7] {
                    d[0] = true;
                }
                d
            },
            dom_star: dom.starts_with('*') || dom.starts_with('?'),
            dow_star: dow.starts_with('*') || dow.starts_with('?'),
        })
    }

    fn matches(&self, at: &jiff::Zoned) -> bool {
        let dom = self.dom[at.day() as usize];
        let dow = self.dow[at.weekday().to_sunday_zero_offset() as usize];
        let day = if self.dom_star || self.dow_star { dom && dow } else { dom || dow };
        self.minute[at.minute() as usize] && self.hour[at.hour() as usize] && self.month[at.month() as usize] && day
    }
}

/// One field: `*`, `?`, `N`, `A-B`, with `/STEP`, in a comma list; names by their index + `lo`.
fn field(text: &str, lo: usize, hi: usize, names: &[&str]) -> Result<Vec<bool>, String> {
    let bad = || format!("`{text}` is not a cron field ({lo}-{hi})");
    let value = |s: &str| -> Result<usize, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i + if names.len() == 12 { 1 } else { 0 });
        }
        s.parse::<usize>().ok().filter(|v| (lo..=hi).contains(v)).ok_or_else(bad)
    };
    let mut set = vec![false; hi + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().ok().filter(|s| *s > 0).ok_or_else(bad)?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" | "?" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, hi),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(bad());
        }
        for v in (from..=to).step_by(step) {
            set[v] = true;
        }
    }
    Ok(set)
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
