//! How runs, their logs and their jobs' transitions are printed on a terminal or as JSON lines.

use std::io::Write;

use crate::ci::RunEvent;
use crate::domain::{JobStatus, RunRecord, RunRef};
use crate::logstore::sanitize::{sanitize_line_full, strip_sgr};
use crate::logstore::{RawLine, Stream};
use crate::util::{elapsed, format_duration};

/// Prints log lines prefixed by job, and job transitions, from run events.
pub(super) struct Printer {
    colour: bool,
    /// JSON lines instead of `[job] text`.
    pub(super) json: bool,
    seen: std::collections::HashMap<String, JobStatus>,
    announced_gates: std::collections::HashSet<String>,
}

impl Printer {
    pub(super) fn new(colour: bool) -> Printer {
        Printer { colour, json: false, seen: Default::default(), announced_gates: Default::default() }
    }

    /// Returns the record once the run has finished.
    pub(super) fn event(&mut self, id: &RunRef, ev: RunEvent) -> Option<RunRecord> {
        let mut out = std::io::stdout().lock();
        match ev {
            RunEvent::Log { run, job, lines } if run == *id => {
                for l in lines {
                    let _ = writeln!(out, "{}", self.format(&job, &l));
                }
            }
            RunEvent::Updated(rec) if rec.id == *id => {
                for j in &rec.jobs {
                    if self.seen.get(&j.key) != Some(&j.status) {
                        self.seen.insert(j.key.clone(), j.status);
                        if j.status == JobStatus::Waiting && self.announced_gates.insert(j.key.clone()) {
                            eprintln!("⏸ gate `{}` is waiting: flightdeck approve {} --gate {}", j.key, rec.id, j.key);
                        } else if j.status.is_terminal() {
                            let d = elapsed(j.started_at, j.finished_at, jiff::Timestamp::now()).map(format_duration).unwrap_or_default();
                            let why = j.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                            eprintln!("{} {} {} {d}{why}", crate::ui::widgets::status::job(j.status).0, j.key, j.status.label());
                        }
                    }
                }
                if rec.status.is_terminal() {
                    return Some(*rec);
                }
            }
            RunEvent::Problem { message, .. } => eprintln!("warning: {}", crate::logstore::sanitize::plain(&message)),
            _ => {}
        }
        None
    }

    pub(super) fn format(&self, job: &str, l: &RawLine) -> String {
        if self.json {
            let at = jiff::Timestamp::from_millisecond(l.ts_ms).map(|t| t.to_string()).unwrap_or_default();
            let stream = match l.stream {
                Stream::Out => "out",
                Stream::Err => "err",
                Stream::Meta => "meta",
            };
            let text = strip_sgr(&sanitize_line_full(&l.bytes)).into_owned();
            return serde_json::json!({ "job": job, "at": at, "stream": stream, "text": text }).to_string();
        }
        // A section marker (`##[group]Build`, `section_start:…`) reads as the view shows it.
        match crate::logstore::sections::marker(&l.bytes) {
            Some(crate::logstore::sections::Marker::Start { title, .. }) => return format!("[{job}] ▸ {title}"),
            Some(crate::logstore::sections::Marker::End { .. }) => return format!("[{job}] ╰"),
            None => {}
        }
        let text = sanitize_line_full(&l.bytes);
        let text = if self.colour { text } else { strip_sgr(&text).into_owned() };
        match l.stream {
            Stream::Meta => format!("[{job}] ▸ {text}"),
            _ => format!("[{job}] {text}"),
        }
    }
}

pub(super) fn print_runs(runs: &[RunRecord]) {
    let now = jiff::Timestamp::now();
    println!("{:<6} {:<16} {:<12} {:<20} {:>9}  TRIGGER", "RUN", "PIPELINE", "STATUS", "STARTED (UTC)", "DURATION");
    for r in runs {
        let started = r.started_at.unwrap_or(r.created_at).strftime("%Y-%m-%d %H:%M:%S").to_string();
        let dur = elapsed(r.started_at, r.finished_at, now).map(format_duration).unwrap_or_else(|| "-".into());
        println!(
            "{:<6} {:<16} {:<12} {:<20} {:>9}  {} via {}",
            r.id,
            r.pipeline,
            r.status.label(),
            started,
            dur,
            r.trigger.actor,
            r.trigger.via
        );
    }
}
