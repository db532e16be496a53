//! The cockpit's open job logs on disk, each behind its line index (kept between reads, so a
//! window of a long log is a seek away), and the search of one of them under way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::app::action::{Action, LogWindow};
use crate::logstore::RawLine;
use crate::logstore::index::{LogFile, Pattern};

/// How many logs stay indexed (the oldest opened is let go first).
const KEPT: usize = 8;
/// Matches are sent back at most this often while a search goes on.
const BATCH_EVERY: Duration = Duration::from_millis(50);

#[derive(Default)]
pub struct LogFiles {
    open: Mutex<Vec<(PathBuf, LogFile)>>,
    /// The search whose results are wanted (0: none); an older one stops at its next chunk.
    searching: AtomicU64,
}

impl LogFiles {
    /// Runs `f` on the log at `path`, indexed and brought up to date.
    fn with<T>(&self, path: &Path, f: impl FnOnce(&LogFile) -> std::io::Result<T>) -> Result<T, String> {
        let mut open = self.open.lock().map_err(|_| "the log index is unusable".to_string())?;
        let at = match open.iter().position(|(p, _)| p == path) {
            Some(i) => {
                open[i].1.refresh().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                i
            }
            None => {
                let log = LogFile::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if open.len() >= KEPT {
                    open.remove(0);
                }
                open.push((path.to_path_buf(), log));
                open.len() - 1
            }
        };
        f(&open[at].1).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    /// Lines `[from, from + count)` (`from = None`: the last `count` lines), the log's length, and
    /// its sections when their version is not `have`.
    pub fn window(&self, path: &Path, from: Option<u64>, count: usize, have: u64) -> Result<(u64, LogWindow), String> {
        // A job that never ran (skipped, cancelled before it started) has no log file: its log is
        // empty, not an error.
        if !path.exists() {
            return Ok((0, LogWindow { lines: Vec::new(), total: 0, sections: None }));
        }
        self.with(path, |log| {
            let from = from.unwrap_or_else(|| log.len().saturating_sub(count as u64)).min(log.len());
            let (sections, version) = log.sections();
            let sections = (version != have).then(|| Box::new((version, sections.clone())));
            Ok((from, LogWindow { lines: log.read(from, count)?, total: log.len(), sections }))
        })
    }

    /// The log's sections as indexed now, and their version.
    pub fn sections(&self, path: &Path) -> Result<Box<(u64, crate::logstore::sections::Sections)>, String> {
        self.with(path, |log| {
            let (sections, version) = log.sections();
            Ok(Box::new((version, sections.clone())))
        })
    }

    /// These lines (each read on its own: they are the matches on screen, far apart).
    pub fn lines(&self, path: &Path, wanted: &[u64]) -> Result<Vec<(u64, RawLine)>, String> {
        self.with(path, |log| {
            let mut out = Vec::with_capacity(wanted.len());
            for &n in wanted {
                if let Some(l) = log.read(n, 1)?.pop() {
                    out.push((n, l));
                }
            }
            Ok(out)
        })
    }

    /// A sanitised copy of the log (the text as shown, without colours), for a pager or an
    /// editor, written a batch of lines at a time into a private temporary file.
    pub fn plain_copy(&self, path: &Path) -> Result<PathBuf, String> {
        use std::io::Write;
        let out = tempfile::Builder::new()
            .prefix("flightdeck-log-")
            .suffix(".txt")
            .tempfile()
            .map_err(|e| format!("cannot make a copy of the log: {e}"))?;
        let (file, copy) = out.keep().map_err(|e| format!("cannot make a copy of the log: {e}"))?;
        let mut w = std::io::BufWriter::new(file);
        let total = self.with(path, |log| Ok(log.len()))?;
        let mut at = 0;
        while at < total {
            let lines = self.with(path, |log| log.read(at, 10_000))?;
            if lines.is_empty() {
                break;
            }
            for l in &lines {
                writeln!(w, "{}", crate::logstore::sanitize::plain_line(&l.bytes)).map_err(|e| format!("cannot write the copy: {e}"))?;
            }
            at += lines.len() as u64;
        }
        w.flush().map_err(|e| format!("cannot write the copy: {e}"))?;
        Ok(copy)
    }

    /// The first line stamped at or after `ts_ms`.
    pub fn line_at(&self, path: &Path, ts_ms: i64) -> Result<u64, String> {
        self.with(path, |log| log.first_at_or_after(ts_ms))
    }

    /// Searches the whole log, sending the matches back in batches; a later search or a cancel
    /// stops it.
    pub fn search(self: Arc<Self>, path: &Path, request: u64, pattern: Pattern, tx: &UnboundedSender<Action>) {
        self.searching.store(request, Ordering::SeqCst);
        let snapshot = match self.with(path, |log| log.snapshot()) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Action::Failed(e));
                let _ = tx.send(Action::LogSearchFound { request, hits: Vec::new(), scanned: 0, of: 0, done: true });
                return;
            }
        };
        let of = snapshot.bytes();
        let cancel = AtomicBool::new(false);
        let mut pending = Vec::new();
        let mut sent_at = Instant::now();
        let finished = snapshot.search(&pattern, &cancel, &mut |hits, scanned| {
            if self.searching.load(Ordering::SeqCst) != request {
                cancel.store(true, Ordering::SeqCst);
                return;
            }
            pending.extend_from_slice(hits);
            if sent_at.elapsed() >= BATCH_EVERY {
                sent_at = Instant::now();
                let _ = tx.send(Action::LogSearchFound { request, hits: std::mem::take(&mut pending), scanned, of, done: false });
            }
        });
        if matches!(finished, Ok(true)) || self.searching.load(Ordering::SeqCst) == request {
            if let Err(e) = &finished {
                let _ = tx.send(Action::Failed(format!("the search stopped: {e}")));
            }
            let _ = tx.send(Action::LogSearchFound { request, hits: pending, scanned: of, of, done: true });
        }
    }

    pub fn cancel(&self, request: u64) {
        let _ = self.searching.compare_exchange(request, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}
