//! Follows runs that another process executes, from their files: the record when it changes, and
//! each job's log as it grows, a bounded chunk at a time.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::LocalRunner;
use super::store::{RunStore, parse_log};
use crate::ci::{CiError, RunEvent};
use crate::domain::RunRef;

/// This much of one log is read per poll: following a log of any size, at any speed, takes a
/// small bounded memory.
const CHUNK: u64 = 1024 * 1024;
/// A read that holds no whole line is read again this long: it holds the longest line a job can
/// write (16 MiB) and its framing.
const LONGEST: u64 = 17 * 1024 * 1024;

/// Lines per event.
const BATCH: usize = 8_192;
/// A log longer than this when following begins is followed from its last chunk (with
/// `from_the_end`): the lines before are counted, not sent.
const SKIP_OVER: u64 = 8 * CHUNK;

pub struct Tailer {
    run: RunRef,
    record_sig: Option<(u64, SystemTime)>,
    offsets: HashMap<String, u64>,
    behind: bool,
    /// A long log is followed from near its end (the cockpit reads the rest from disk); a reader
    /// that prints every line starts at the beginning.
    from_the_end: bool,
}

impl Tailer {
    pub fn new(run: RunRef) -> Tailer {
        Tailer { run, record_sig: None, offsets: HashMap::new(), behind: false, from_the_end: false }
    }

    /// A tailer that sends only the last chunk of a log already long, after a `LogSkipped`.
    pub fn from_the_end(run: RunRef) -> Tailer {
        Tailer { from_the_end: true, ..Tailer::new(run) }
    }

    /// Whether the last poll left lines unread (poll again without waiting).
    pub fn behind(&self) -> bool {
        self.behind
    }

    /// Emits what changed since the last poll, at most a chunk of each log. Returns true once the
    /// run has finished and its logs were read to the end; poll again at once while it returns
    /// false with more to read.
    pub fn poll(&mut self, store: &RunStore, events: &UnboundedSender<RunEvent>) -> Result<bool, CiError> {
        let meta_path = store.run_dir(&self.run).join("run.json");
        let sig = std::fs::metadata(&meta_path).ok().map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        let rec = store.load(&self.run)?;
        // The record first, so a reader knows a job before its lines arrive; but the final record
        // last, so a follower that stops at the run's end has had every line.
        let changed = sig != self.record_sig;
        self.record_sig = sig;
        let finished = rec.status.is_terminal();
        // Set when a log has more than one chunk waiting: the run is not read to its end yet.
        let mut more = false;
        if changed && !finished {
            let _ = events.send(RunEvent::Updated(Box::new(rec.clone())));
        }
        for job in &rec.jobs {
            let Some(path) = store.log_path(&rec, &job.key) else {
                continue;
            };
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if !self.offsets.contains_key(&job.key) {
                let mut start = 0;
                if self.from_the_end && len > SKIP_OVER {
                    let (at, lines) =
                        lines_before(&mut f, len - CHUNK).map_err(|e| CiError::storage(format!("cannot read {}", path.display()), e))?;
                    let _ = events.send(RunEvent::LogSkipped { run: self.run.clone(), job: job.key.clone(), lines });
                    start = at;
                }
                self.offsets.insert(job.key.clone(), start);
            }
            let offset = self.offsets.entry(job.key.clone()).or_insert(0);
            if len <= *offset {
                continue;
            }
            let mut want = (len - *offset).min(CHUNK);
            let mut buf = Vec::with_capacity(want as usize);
            let mut read = |want: u64, buf: &mut Vec<u8>| {
                buf.clear();
                f.seek(SeekFrom::Start(*offset))
                    .and_then(|_| (&mut f).take(want).read_to_end(buf))
                    .map_err(|e| CiError::storage(format!("cannot read {}", path.display()), e))
            };
            read(want, &mut buf)?;
            if !buf.contains(&b'\n') && want < len - *offset {
                // One line longer than a chunk: read it whole.
                want = (len - *offset).min(LONGEST);
                read(want, &mut buf)?;
            }
            if want < len - *offset {
                more = true;
            }
            let (lines, used) = parse_log(&buf);
            *offset += used as u64;
            // In batches a reader takes in a few milliseconds: a cockpit answers a keypress
            // between two, however fast the job writes.
            let mut lines = lines;
            while !lines.is_empty() {
                let rest = lines.split_off(lines.len().min(BATCH));
                let _ = events.send(RunEvent::Log { run: self.run.clone(), job: job.key.clone(), lines });
                lines = rest;
            }
        }
        self.behind = more;
        if more {
            // The final record waits until every line has been read.
            if finished {
                self.record_sig = None;
            }
            return Ok(false);
        }
        if changed && finished {
            let _ = events.send(RunEvent::Updated(Box::new(rec.clone())));
        }
        Ok(finished)
    }
}

/// The lines that end before `limit`, and the offset just after the last of them.
fn lines_before(f: &mut std::fs::File, limit: u64) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; CHUNK as usize];
    let (mut at, mut lines, mut after_last) = (0u64, 0u64, 0u64);
    while at < limit {
        let want = (limit - at).min(CHUNK) as usize;
        let n = f.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        for nl in memchr::memchr_iter(b'\n', &buf[..n]) {
            lines += 1;
            after_last = at + nl as u64 + 1;
        }
        at += n as u64;
    }
    Ok((after_last, lines))
}

impl LocalRunner {
    /// Follows runs executed by other processes (and runs created by them) until `stop`; what is
    /// in the history when it starts is known already.
    pub(super) fn watch_foreign(&self, stop: CancellationToken) {
        let runner = self.clone();
        tokio::spawn(async move {
            let store = runner.inner.store.clone();
            let mut known: HashSet<RunRef> =
                tokio::task::spawn_blocking(move || store.ids().unwrap_or_default()).await.unwrap_or_default().into_iter().collect();
            let mut tailers: HashMap<RunRef, Tailer> = HashMap::new();
            let mut first = true;
            let mut rounds: u64 = 0;
            let mut behind = false;
            let mut last_look = std::time::Instant::now();
            loop {
                // A log with more than a chunk waiting is read on at once: a job writing fast is
                // followed at the disk's pace, not a chunk per half second.
                let pause = if behind { Duration::ZERO } else { Duration::from_millis(500) };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                let store = runner.inner.store.clone();
                // Catching up with a fast log: only the logs, until it has caught up (new runs
                // and lost executors are looked for on the usual cadence).
                let catching_up = behind && last_look.elapsed() < Duration::from_millis(500);
                let ids = if catching_up { Vec::new() } else { store.ids().unwrap_or_default() };
                if !catching_up {
                    last_look = std::time::Instant::now();
                    rounds += 1;
                }
                for id in ids {
                    if runner.is_active_here(&id) {
                        tailers.remove(&id);
                        known.insert(id);
                        continue;
                    }
                    let is_new = known.insert(id.clone());
                    if (is_new || first) && !tailers.contains_key(&id) {
                        match store.load(&id) {
                            Ok(rec) if !rec.status.is_terminal() => {
                                tailers.insert(id.clone(), Tailer::from_the_end(id));
                            }
                            Ok(rec) if is_new => {
                                let _ = runner.inner.events.send(RunEvent::Updated(Box::new(rec)));
                            }
                            _ => {}
                        }
                    }
                }
                first = false;
                // An executor killed outright says nothing: look for one every few rounds (off the
                // async threads: recovery writes the record and ends what its jobs left running).
                if !catching_up && rounds.is_multiple_of(4) && !tailers.is_empty() {
                    let (r, ids) = (runner.clone(), tailers.keys().cloned().collect::<Vec<_>>());
                    let look = move || {
                        for id in &ids {
                            let _ = r.recover_if_abandoned(id, true);
                        }
                    };
                    let _ = tokio::task::spawn_blocking(look).await;
                }
                let mut finished = Vec::new();
                behind = false;
                for (id, t) in tailers.iter_mut() {
                    match t.poll(&store, &runner.inner.events) {
                        Ok(true) => finished.push(id.clone()),
                        Ok(false) => behind |= t.behind(),
                        Err(e) => {
                            let _ = runner.inner.events.send(RunEvent::Problem { run: Some(id.clone()), message: e.to_string() });
                            finished.push(id.clone());
                        }
                    }
                }
                for id in finished {
                    tailers.remove(&id);
                }
            }
        });
    }
}
