//! Risk acceptances (`risk-acceptances.toml`, kept with the config in the repo): a finding id
//! (optionally narrowed to a package or target), why, who, and until when; and exceptions to a
//! release gate rule (`rule:coverage` in an environment), with the same reason, author and expiry.
//! Expired acceptances stop counting and are flagged.

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::Finding;

/// An acceptance whose id starts with this excepts a whole rule of the release gate
/// (`rule:tests`, `rule:coverage`, `rule:load`), not one finding.
pub const RULE_PREFIX: &str = "rule:";

/// The release gate rules an exception may cover (findings are accepted one by one).
pub const EXCEPTABLE_RULES: [&str; 6] = ["tests", "coverage", "changed_coverage", "load", "quality", "signature"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub reason: String,
    pub by: String,
    #[serde(deserialize_with = "date_or_text")]
    pub expires: Date,
}

/// An expiry written by hand is a TOML date (`2026-12-31`); one written by flightdeck (or held
/// in JSON) is text: both are read.
fn date_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Written::deserialize(d)? {
        Written::Toml(t) => t.to_string(),
        Written::Text(t) => t,
    };
    text.parse().map_err(|e| serde::de::Error::custom(format!("`{text}` is not a date (YYYY-MM-DD): {e}")))
}

impl Acceptance {
    pub fn covers(&self, f: &Finding) -> bool {
        self.id.eq_ignore_ascii_case(&f.id)
            && self.package.as_ref().is_none_or(|p| f.package.as_deref() == Some(p.as_str()))
            && self.target.as_ref().is_none_or(|t| f.target.as_deref().is_some_and(|ft| target_matches(t, ft)))
    }
    pub fn expired(&self, today: Date) -> bool {
        today > self.expires
    }
}

/// An acceptance's target names the finding's target exactly, or by an explicit glob (`*` for
/// any run of characters); never by a part of it.
fn target_matches(pattern: &str, target: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == target;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !target.starts_with(first) || target.len() < first.len() + last.len() || !target.ends_with(last) {
        return false;
    }
    // The middle parts in order, between the fixed start and end.
    let mut rest = &target[first.len()..target.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::target_matches;

    #[test]
    fn targets_match_exactly_or_by_an_explicit_glob() {
        assert!(target_matches("payments-api:2.4.0 (debian 12.7)", "payments-api:2.4.0 (debian 12.7)"));
        assert!(!target_matches("p", "package-1@1.1.1 (rpm)"), "a part of a target is not the target");
        assert!(target_matches("payments-api:*", "payments-api:2.4.0 (debian 12.7)"));
        assert!(target_matches("*/requirements.txt", "app/requirements.txt"));
        assert!(target_matches("a*b*c", "a-x-b-y-c"));
        assert!(!target_matches("a*b*c", "a-x-c"));
        assert!(!target_matches("ab*ba", "aba"));
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    accept: Vec<Acceptance>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acceptances {
    pub path: Option<PathBuf>,
    pub entries: Vec<Acceptance>,
}

impl Acceptances {
    /// A missing file means no acceptances; a malformed one is an error naming the file.
    pub fn load(path: &Path) -> Result<Acceptances, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Acceptances { path: Some(path.to_path_buf()), entries: Vec::new() });
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let shape: FileShape = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map(|s| crate::util::line_col(&text, s.start)).unwrap_or((1, 1));
            format!("{}:{line}:{col}: {}", path.display(), e.message().trim())
        })?;
        Ok(Acceptances { path: Some(path.to_path_buf()), entries: shape.accept })
    }

    /// The acceptance covering a finding, valid or expired.
    pub fn find(&self, f: &Finding) -> Option<&Acceptance> {
        self.entries.iter().filter(|a| a.covers(f)).max_by_key(|a| a.expires)
    }

    /// The exception to a release gate rule (`id = "rule:coverage"`, its `target` the environment,
    /// or none for every one), valid or expired.
    pub fn exception(&self, rule: &str, environment: &str) -> Option<&Acceptance> {
        self.entries
            .iter()
            .filter(|a| a.id.strip_prefix(RULE_PREFIX).is_some_and(|r| r.eq_ignore_ascii_case(rule)))
            .filter(|a| a.target.as_deref().is_none_or(|t| t == environment))
            .max_by_key(|a| a.expires)
    }

    /// Appends an entry to the file (created if missing), keeping what is there. Two people
    /// accepting at once (two cockpits, a cockpit and a script) take turns on a lock beside the
    /// file, so neither entry is lost; the file is replaced whole by a rename, so a kill at any
    /// moment leaves the old file or the new one, never half of one.
    pub fn append(path: &Path, entry: &Acceptance) -> Result<(), String> {
        let lock_path = path.with_extension("toml.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        lock.lock().map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        let mut text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                "# Accepted risks and rule exceptions: until they expire, the release gate does not count these findings, and lets these rules through.\n".to_string()
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let block = toml::to_string(&FileShape { accept: vec![entry.clone()] }).map_err(|e| e.to_string())?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&block);
        // Unique per process: a writer that died mid-write leaves only its own leftover.
        let tmp = path.with_extension(format!("toml.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}
