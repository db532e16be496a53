//! Follows a run that another process executes, from its files: the record when it changes, and
//! each job's log as it grows.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::SystemTime;

use tokio::sync::mpsc::UnboundedSender;

use super::store::{RunStore, parse_log};
use crate::ci::{CiError, RunEvent};
use crate::domain::RunRef;

pub struct Tailer {
    run: RunRef,
    record_sig: Option<(u64, SystemTime)>,
    offsets: HashMap<String, u64>,
}

impl Tailer {
    pub fn new(run: RunRef) -> Tailer {
        Tailer { run, record_sig: None, offsets: HashMap::new() }
    }

    /// Emits what changed since the last poll. Returns true once the run has finished and its logs
    /// were read to the end.
    pub fn poll(&mut self, store: &RunStore, events: &UnboundedSender<RunEvent>) -> Result<bool, CiError> {
        let meta_path = store.run_dir(&self.run).join("run.json");
        let sig = std::fs::metadata(&meta_path).ok().map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        let rec = store.load(&self.run)?;
        // The record first, so a reader knows a job before its lines arrive; but the final record
        // last, so a follower that stops at the run's end has had every line.
        let changed = sig != self.record_sig;
        self.record_sig = sig;
        let finished = rec.status.is_terminal();
        if changed && !finished {
            let _ = events.send(RunEvent::Updated(Box::new(rec.clone())));
        }
        for job in &rec.jobs {
            let Some(path) = store.log_path(&rec, &job.key) else {
                continue;
            };
            let offset = self.offsets.entry(job.key.clone()).or_insert(0);
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len <= *offset {
                continue;
            }
            let mut buf = Vec::with_capacity((len - *offset) as usize);
            f.seek(SeekFrom::Start(*offset))
                .and_then(|_| f.read_to_end(&mut buf))
                .map_err(|e| CiError::storage(format!("cannot read {}", path.display()), e))?;
            let (lines, used) = parse_log(&buf);
            *offset += used as u64;
            if !lines.is_empty() {
                let _ = events.send(RunEvent::Log { run: self.run.clone(), job: job.key.clone(), lines });
            }
        }
        if changed && finished {
            let _ = events.send(RunEvent::Updated(Box::new(rec.clone())));
        }
        Ok(finished)
    }
}
