//! A rollout's persisted state: one JSON file per rollout in the data directory, replaced
//! atomically, so a restarted cockpit (or another process) picks up exactly where it was.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// No canary under way: one version serves everything.
    Healthy,
    Progressing,
    Paused,
    Aborted,
    /// Something is wrong that flightdeck cannot fix by itself (e.g. NGINX refused the split).
    Degraded,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Healthy => "Healthy",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::Aborted => "Aborted",
            Phase::Degraded => "Degraded",
        }
    }

    /// Sort key: what needs a human first.
    pub fn urgency(self) -> u8 {
        match self {
            Phase::Paused | Phase::Aborted | Phase::Degraded => 0,
            Phase::Progressing => 1,
            Phase::Healthy => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: String,
    /// A timed pause ends by itself at this time.
    pub until: Option<Timestamp>,
    /// Paused by a person (resume lifts it) rather than by a step or the analysis (promote does).
    pub by_user: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub event: String,
    /// Canary weight after the event.
    pub weight: u8,
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    /// Bumped by every start: which release this is.
    pub revision: u64,
    /// Bumped by every change, so a reader knows when to redraw.
    pub seq: u64,
    /// The pipeline run that started this attempt: its security findings are what the gate judges
    /// when someone promotes.
    #[serde(default)]
    pub run: Option<crate::domain::RunRef>,
    /// The version being rolled out, and the one serving before it.
    pub version: Option<String>,
    pub stable_version: Option<String>,
    pub phase: Phase,
    /// Index of the current step; equal to the number of steps when all are done.
    pub step: usize,
    /// Canary weight in effect (written, validated, reloaded and drained).
    pub weight: u8,
    pub pause: Option<Pause>,
    pub step_started: Option<Timestamp>,
    /// When the current attempt (start or retry) began: background analysis judges from here.
    pub attempt_started: Option<Timestamp>,
    /// Last verdict of the analysis.
    pub verdict: Option<Verdict>,
    /// Why the rollout was aborted or is degraded.
    pub cause: Option<String>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub phase: crate::metrics::Phase,
    pub reason: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.phase.label(), self.reason)
    }
}

/// History kept per rollout.
const HISTORY: usize = 200;

impl Record {
    /// Whether the rollout moves, or is judged, without anyone acting: a canary serving traffic.
    pub fn moving(&self) -> bool {
        matches!(self.phase, Phase::Progressing | Phase::Paused)
    }

    pub fn new(name: &str, weight: u8) -> Record {
        Record {
            name: name.to_string(),
            revision: 0,
            seq: 0,
            run: None,
            version: None,
            stable_version: None,
            phase: Phase::Healthy,
            step: 0,
            weight,
            pause: None,
            step_started: None,
            attempt_started: None,
            verdict: None,
            cause: None,
            history: Vec::new(),
        }
    }

    /// The latest thing that happened, for one-line reports.
    pub fn message(&self) -> &str {
        self.history.last().map(|h| h.event.as_str()).unwrap_or("no rollout yet")
    }

    /// Back to the first step for a new attempt (a start or a retry).
    pub fn restart_steps(&mut self, now: Timestamp) {
        self.phase = Phase::Progressing;
        self.step = 0;
        self.pause = None;
        self.cause = None;
        self.verdict = None;
        self.step_started = None;
        self.attempt_started = Some(now);
    }

    pub fn note(&mut self, actor: &str, event: impl Into<String>) {
        let event = event.into();
        self.history.push(HistoryEntry { at: Timestamp::now(), event, weight: self.weight, actor: actor.to_string() });
        if self.history.len() > HISTORY {
            let extra = self.history.len() - HISTORY;
            self.history.drain(..extra);
        }
    }
}

pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

pub fn load(dir: &Path, name: &str) -> Result<Option<Record>, String> {
    let p = path(dir, name);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{} is damaged: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

pub fn save(dir: &Path, rec: &Record) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let p = path(dir, &rec.name);
    let tmp = dir.join(format!(".{}.json.tmp", rec.name));
    let body = serde_json::to_vec_pretty(rec).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    };
    write().map_err(|e| format!("cannot write {}: {e}", p.display()))
}
