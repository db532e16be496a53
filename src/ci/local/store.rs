//! Run history on disk: `runs/<id>/run.json` (metadata, replaced atomically), `runs/<id>/logs/*.log`
//! (every captured line with its timestamp, byte for byte), `runs/<id>/owner.lock` (held by the
//! process executing the run) and `runs/<id>/control/` (requests from other processes).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::ci::CiError;
use crate::findings::{ParsedReport, ReportError};

/// A job's parsed reports, stored with the run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobFindings {
    pub reports: Vec<ParsedReport>,
    pub errors: Vec<ReportError>,
}
use crate::domain::{RunRecord, RunRef};
use crate::logstore::RawLine;

#[derive(Clone, Debug)]
pub struct RunStore {
    root: PathBuf,
    space: super::space::Space,
}

/// Held while a process executes a run; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct OwnerLock {
    _file: File,
}

impl RunStore {
    pub fn open(data_dir: &Path) -> Result<RunStore, CiError> {
        let root = data_dir.join("runs");
        fs::create_dir_all(&root)
            .map_err(|e| CiError::storage(format!("cannot create the run history directory {}", root.display()), e))?;
        super::space::ensure_reserve(&root);
        Ok(RunStore { root, space: Default::default() })
    }

    /// Whether the disk was found full: logs are then no longer written, records still are.
    pub fn space(&self) -> &super::space::Space {
        &self.space
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data directory the history lives in.
    pub fn data_dir(&self) -> PathBuf {
        let root = self.root.parent().unwrap_or(&self.root);
        std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
    }

    /// The run's directory. Only the local runner's numbers name one: any other reference gets a
    /// name no run has, so it reads as "no such run" and can never point outside the history.
    pub fn run_dir(&self, id: &RunRef) -> PathBuf {
        match id.local_number() {
            Some(n) => self.root.join(n.to_string()),
            None => self.root.join("-"),
        }
    }

    pub fn control_dir(&self, id: &RunRef) -> PathBuf {
        self.run_dir(id).join("control")
    }

    /// Reserves the next run number; `create_dir` makes the reservation atomic across processes.
    pub fn allocate(&self) -> Result<RunRef, CiError> {
        let mut next = self.ids()?.iter().filter_map(RunRef::local_number).max().unwrap_or(0) + 1;
        loop {
            let dir = self.run_dir(&RunRef::local(next));
            match fs::create_dir(&dir) {
                Ok(()) => {
                    fs::create_dir_all(dir.join("logs")).map_err(|e| CiError::storage(format!("cannot create {}", dir.display()), e))?;
                    return Ok(RunRef::local(next));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => {
                    return Err(CiError::storage(format!("cannot create {}", dir.display()), e));
                }
            }
        }
    }

    pub fn ids(&self) -> Result<Vec<RunRef>, CiError> {
        let entries = fs::read_dir(&self.root).map_err(|e| CiError::storage(format!("cannot list {}", self.root.display()), e))?;
        Ok(entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).map(RunRef::local).collect())
    }

    /// Writes `run.json` via a temporary file and rename, so readers never see half a record. The
    /// file also names the process that wrote it (`owner_pid`): the one executing the run, or the
    /// one that found it interrupted.
    pub fn save(&self, rec: &RunRecord) -> Result<(), CiError> {
        let dir = self.run_dir(&rec.id);
        let tmp = dir.join(format!("run.json.tmp-{}", std::process::id()));
        let target = dir.join("run.json");
        let encode = || -> serde_json::Result<Vec<u8>> {
            let mut value = serde_json::to_value(rec)?;
            if let Some(fields) = value.as_object_mut() {
                fields.insert("owner_pid".into(), std::process::id().into());
            }
            serde_json::to_vec_pretty(&value)
        };
        let body = encode().map_err(|e| CiError::Other(format!("cannot encode run #{}: {e}", rec.id)))?;
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_data()?;
            fs::rename(&tmp, &target)
        };
        let mut result = write();
        if let Err(e) = &result {
            let _ = fs::remove_file(&tmp);
            // No space: the reserve makes room for the record, once.
            if self.space.note(e) && super::space::release_reserve(&self.root) {
                result = write();
                if result.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
            }
        }
        result.map_err(|e| CiError::storage(format!("cannot save run #{} to {}", rec.id, target.display()), e))
    }

    /// Removes a run that could not be recorded at all (its directory would be an empty husk).
    pub fn discard(&self, id: &RunRef) {
        if id.local_number().is_some() {
            let _ = fs::remove_dir_all(self.run_dir(id));
        }
    }

    pub fn load(&self, id: &RunRef) -> Result<RunRecord, CiError> {
        let path = self.run_dir(id).join("run.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(CiError::NoSuchRun(id.clone())),
            Err(e) => {
                return Err(CiError::storage(format!("cannot read {}", path.display()), e));
            }
        };
        let rec: RunRecord = serde_json::from_slice(&bytes).map_err(|e| CiError::Other(format!("{} is damaged: {e}", path.display())))?;
        if rec.id != *id {
            return Err(CiError::Other(format!("{} is damaged: it names run {}", path.display(), rec.id.text())));
        }
        Ok(rec)
    }

    /// The process that last wrote the run's record (0 when unknown).
    /// When the run's record was last written (None when it cannot be told).
    pub fn last_saved(&self, id: &RunRef) -> Option<std::time::SystemTime> {
        fs::metadata(self.run_dir(id).join("run.json")).and_then(|m| m.modified()).ok()
    }

    pub fn owner_pid(&self, id: &RunRef) -> u32 {
        let path = self.run_dir(id).join("run.json");
        let read = || -> Option<u32> {
            let value: serde_json::Value = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
            u32::try_from(value.get("owner_pid")?.as_u64()?).ok()
        };
        read().unwrap_or(0)
    }

    /// Every readable run, newest first, plus a message for each one that could not be read.
    pub fn list(&self) -> Result<(Vec<RunRecord>, Vec<String>), CiError> {
        let mut runs = Vec::new();
        let mut problems = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(r) => runs.push(r),
                Err(CiError::NoSuchRun(_)) => {} // being created right now
                Err(e) => problems.push(e.to_string()),
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.id.local_number()));
        Ok((runs, problems))
    }

    /// Log file of the `index`-th job (index keeps names unique whatever the job key contains).
    pub fn log_path(&self, rec: &RunRecord, job: &str) -> Option<PathBuf> {
        let idx = rec.jobs.iter().position(|j| j.key == job)?;
        let safe: String = job.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
        Some(self.run_dir(&rec.id).join("logs").join(format!("{idx:02}-{safe}.log")))
    }

    pub fn read_log(&self, rec: &RunRecord, job: &str) -> Result<Vec<RawLine>, CiError> {
        let path = self.log_path(rec, job).ok_or_else(|| CiError::NoSuchJob { run: rec.id.clone(), job: job.to_string() })?;
        match fs::read(&path) {
            Ok(bytes) => Ok(parse_log(&bytes).0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(CiError::storage(format!("cannot read {}", path.display()), e)),
        }
    }

    /// Hands a job's log to `each`, line by line from the file, until it returns false; false when
    /// it stopped early.
    pub fn stream_log(&self, rec: &RunRecord, job: &str, each: &mut dyn FnMut(RawLine) -> bool) -> Result<bool, CiError> {
        let path = self.log_path(rec, job).ok_or_else(|| CiError::NoSuchJob { run: rec.id.clone(), job: job.to_string() })?;
        stream_log_file(&path, each)
    }

    fn findings_path(&self, rec: &RunRecord, job: &str) -> Option<PathBuf> {
        let log = self.log_path(rec, job)?;
        let name = log.file_name()?.to_string_lossy().replace(".log", ".json");
        Some(self.run_dir(&rec.id).join("findings").join(name))
    }

    /// Keeps a job's parsed reports with the run, so the evidence of this run stays what it was
    /// even when the next run overwrites the report files.
    pub fn save_findings(&self, rec: &RunRecord, job: &str, parsed: &JobFindings) -> Result<(), CiError> {
        let path = self.findings_path(rec, job).ok_or_else(|| CiError::NoSuchJob { run: rec.id.clone(), job: job.to_string() })?;
        let tmp = path.with_extension("json.tmp");
        // Written as it is serialised: a large report's findings are not held twice.
        let write = || -> io::Result<()> {
            fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            let mut out = io::BufWriter::new(fs::File::create(&tmp)?);
            serde_json::to_writer(&mut out, parsed).map_err(io::Error::other)?;
            io::Write::flush(&mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.space.note(&e);
            CiError::storage(format!("cannot save the findings of `{job}` to {}", path.display()), e)
        })
    }

    /// The run's security evidence: every report of every job that declares reports, grouped.
    /// A job that has not produced its reports (not finished, cancelled, skipped) counts as an
    /// unreadable report, so a gate never passes on missing evidence.
    pub fn evidence(&self, rec: &RunRecord) -> crate::findings::RunReports {
        let mut out = crate::findings::RunReports::default();
        for job in rec.jobs.iter().filter(|j| !j.reports.is_empty()) {
            if job.findings.is_none() {
                for r in &job.reports {
                    out.unreadable.push(ReportError {
                        path: r.clone(),
                        problem: format!("job `{}` has not produced it (the job is {})", job.key, job.status.label()),
                    });
                }
                continue;
            }
            let loaded = self.findings_path(rec, &job.key).ok_or_else(|| "no such job".to_string()).and_then(|p| {
                // Read as it is parsed: the stored text and the findings are not both in memory.
                let file = fs::File::open(&p).map_err(|e| format!("cannot read the stored findings {}: {e}", p.display()))?;
                serde_json::from_reader::<_, JobFindings>(io::BufReader::with_capacity(1 << 16, file))
                    .map_err(|e| format!("the stored findings {} are damaged: {e}", p.display()))
            });
            match loaded {
                Ok(jf) => {
                    for r in jf.reports {
                        out.add(r);
                    }
                    out.unreadable.extend(jf.errors);
                }
                Err(e) => out.unreadable.push(ReportError { path: job.reports.join(", "), problem: e }),
            }
        }
        out.findings = crate::findings::group(std::mem::take(&mut out.findings));
        out.findings.shrink_to_fit();
        out
    }

    /// Tries to become the run's executor. `None` when another live process holds it.
    pub fn try_lock(&self, id: &RunRef) -> Result<Option<OwnerLock>, CiError> {
        let path = self.run_dir(id).join("owner.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CiError::storage(format!("cannot open {}", path.display()), e))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            Ok(Some(OwnerLock { _file: file }))
        } else {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                Ok(None)
            } else {
                Err(CiError::storage(format!("cannot lock {}", path.display()), err))
            }
        }
    }
}

/// Appends one captured line in the on-disk format `<ms> <o|e|m> <bytes>\n`.
pub fn encode_line(out: &mut Vec<u8>, line: &RawLine) {
    out.extend_from_slice(line.ts_ms.to_string().as_bytes());
    out.push(b' ');
    out.push(line.stream.code());
    out.push(b' ');
    // Captured lines never contain a newline; anything else that does is kept on one line.
    out.extend(line.bytes.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
    out.push(b'\n');
}

/// Parses complete lines; returns them and how many bytes were consumed (a partial last line is
/// left for the next read when following a file that is still being written).
/// Streams a log file in the job log format, a line at a time (a missing file is an empty log);
/// false when `each` stopped it.
pub fn stream_log_file(path: &std::path::Path, each: &mut dyn FnMut(RawLine) -> bool) -> Result<bool, CiError> {
    use std::io::BufRead;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(CiError::storage(format!("cannot read {}", path.display()), e)),
    };
    let mut reader = io::BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| CiError::storage(format!("cannot read {}", path.display()), e))?;
        if n == 0 {
            return Ok(true);
        }
        for l in parse_log(&line).0 {
            if !each(l) {
                return Ok(false);
            }
        }
    }
}

pub fn parse_log(bytes: &[u8]) -> (Vec<RawLine>, usize) {
    let mut lines = Vec::new();
    let mut consumed = 0;
    for chunk in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(body) = chunk.strip_suffix(b"\n") else {
            break;
        };
        consumed += chunk.len();
        lines.push(crate::logstore::index::decode(body));
    }
    (lines, consumed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logstore::Stream;

    #[test]
    fn log_format_round_trips_arbitrary_bytes() {
        let lines = vec![
            RawLine { ts_ms: 1, stream: Stream::Out, bytes: b"hello world".to_vec() },
            RawLine { ts_ms: 2, stream: Stream::Err, bytes: b"\xff\xfe bad utf8 \x1b]0;x\x07".to_vec() },
            RawLine { ts_ms: 3, stream: Stream::Meta, bytes: Vec::new() },
        ];
        let mut buf = Vec::new();
        for l in &lines {
            encode_line(&mut buf, l);
        }
        buf.extend_from_slice(b"4 o partial");
        let (parsed, used) = parse_log(&buf);
        assert_eq!(parsed, lines);
        assert_eq!(used, buf.len() - b"4 o partial".len());
    }
}
