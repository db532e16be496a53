//! Appending to the journal: one writer at a time across processes (flock), the chain continued
//! from the last complete record, a torn tail repaired (and the repair recorded), fsync before the
//! caller may act.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::record::{AuditRecord, Draft, GENESIS, Phase};
use super::verify::{VerifyReport, verify_bytes};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit journal {path} cannot be written ({source}); nothing was done")]
    Write { path: PathBuf, source: io::Error },
    #[error("the audit journal {path} cannot be read: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the audit journal {path} ends in a record that cannot be parsed ({detail}); run `flightdeck audit verify`")]
    Damaged { path: PathBuf, detail: String },
    #[error("the audit journal's witness cannot be written ({0}); nothing was done")]
    Witness(String),
}

#[derive(Clone, Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: impl Into<PathBuf>) -> Journal {
        Journal { path: path.into() }
    }

    /// The journal of a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Journal {
        Journal::new(data_dir.join("audit.jsonl"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record and returns it once it is on disk. Blocking: call from a worker.
    pub fn append(&self, draft: Draft) -> Result<AuditRecord, AuditError> {
        let werr = |source: io::Error| AuditError::Write { path: self.path.clone(), source };
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&self.path).map_err(werr)?;
        let _lock = FileLock::exclusive(&file).map_err(werr)?;
        let mut witness = super::witness::Witness::open(&super::witness::configured()).map_err(AuditError::Witness)?;
        let (mut last, mut torn) = tail(&mut file).map_err(werr)?;
        // A whole record that only lacks its final newline (an editor, a copy) is not torn: it
        // gets its newline and stays.
        if let Some(fragment) = torn.take_if(|f| serde_json::from_slice::<AuditRecord>(f).is_ok()) {
            file.write_all(b"\n").map_err(werr)?;
            last = Some(fragment);
        }
        let mut prev = match &last {
            Some(line) => serde_json::from_slice::<AuditRecord>(line)
                .map_err(|e| AuditError::Damaged { path: self.path.clone(), detail: e.to_string() })?,
            None => AuditRecord {
                seq: 0,
                time: String::new(),
                actor: String::new(),
                origin: String::new(),
                environment: None,
                target: String::new(),
                action: String::new(),
                parameters: serde_json::Value::Null,
                reason: String::new(),
                phase: Phase::Event,
                result: String::new(),
                error: None,
                intent: None,
                break_glass: false,
                prev_hash: String::new(),
                hash: GENESIS.to_string(),
            },
        };
        let mut out = Vec::new();
        if let Some(fragment) = torn {
            // A crash cut the last record short. Drop the fragment, keep everything before it, and
            // record that it happened so the repair itself is evidence.
            let len = file.metadata().map_err(werr)?.len();
            file.set_len(len - fragment.len() as u64).map_err(werr)?;
            let repair = build(
                &prev,
                Draft {
                    actor: "flightdeck".into(),
                    origin: "local".into(),
                    target: "audit journal".into(),
                    action: "journal.repair".into(),
                    parameters: serde_json::json!({
                        "torn_bytes": fragment.len(),
                        "torn_sha256": hex::encode(Sha256::digest(&fragment)),
                    }),
                    reason: "a crash interrupted the previous write; its partial record was removed".into(),
                    phase: Some(Phase::Event),
                    result: "recorded".into(),
                    ..Draft::default()
                },
            );
            out.extend_from_slice(&line_of(&repair));
            prev = repair;
        }
        let record = build(&prev, draft);
        out.extend_from_slice(&line_of(&record));
        file.write_all(&out).map_err(werr)?;
        file.sync_data().map_err(werr)?;
        // Still under the lock, so the witness sees the heads in the journal's order. The record
        // is written: a checkpoint lost now (its disk filled this instant) is not a failed write,
        // and `audit verify` will show the record as never witnessed.
        if let Err(e) = witness.record(&self.path, &record) {
            tracing::error!("journal record {} was not witnessed: {e}", record.seq);
        }
        Ok(record)
    }

    /// Intents still waiting for their outcome, newest first. Only these may back a change made
    /// by another process: one that already has an outcome (it failed, or timed out) cannot be
    /// replayed.
    pub fn pending_intents(&self) -> Result<Vec<AuditRecord>, AuditError> {
        let (records, _) = self.read()?;
        let concluded: std::collections::HashSet<u64> = records.iter().filter_map(|r| r.intent).collect();
        Ok(records.into_iter().rev().filter(|r| r.phase == Phase::Intent && !concluded.contains(&r.seq)).collect())
    }

    /// Every record that parses, and the verification of the whole file against its chain and the
    /// configured witness.
    pub fn read(&self) -> Result<(Vec<AuditRecord>, VerifyReport), AuditError> {
        self.read_witnessed(&super::witness::configured())
    }

    /// Like `read`, with the checkpoints of the witness file in `settings` (when there is one).
    pub fn read_witnessed(&self, settings: &super::WitnessSettings) -> Result<(Vec<AuditRecord>, VerifyReport), AuditError> {
        use std::os::unix::fs::MetadataExt;
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(AuditError::Read { path: self.path.clone(), source }),
        };
        let records: Vec<AuditRecord> = bytes.split(|b| *b == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect();
        let mut report = verify_bytes(&bytes);
        let Some(witness) = settings.file.as_deref().filter(|_| report.ok()) else {
            return Ok((records, report));
        };
        let inode = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        let found = match super::witness::read(witness, &self.path, settings.signing_key.as_deref()) {
            Ok(checkpoints) => super::witness::compare(&records, inode, &checkpoints),
            Err(p) => Some(p),
        };
        if let Some(p) = found {
            // What is before the problem is as it was written; a cut-off end leaves the rest sound.
            report.good = match p.kind {
                super::ProblemKind::Truncated | super::ProblemKind::RolledBack | super::ProblemKind::WitnessForged => records.len(),
                super::ProblemKind::WitnessUnreadable => records.len(),
                _ => p.line.saturating_sub(1),
            };
            report.problem = Some(p);
        }
        Ok((records, report))
    }
}

fn build(prev: &AuditRecord, d: Draft) -> AuditRecord {
    AuditRecord {
        seq: prev.seq + 1,
        time: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        actor: d.actor,
        origin: d.origin,
        environment: d.environment,
        target: d.target,
        action: d.action,
        parameters: if d.parameters.is_null() { serde_json::json!({}) } else { d.parameters },
        reason: d.reason,
        phase: d.phase.unwrap_or(Phase::Intent),
        result: d.result,
        error: d.error,
        intent: d.intent,
        break_glass: d.break_glass,
        prev_hash: prev.hash.clone(),
        hash: String::new(),
    }
    .seal()
}

fn line_of(r: &AuditRecord) -> Vec<u8> {
    let mut v = serde_json::to_vec(r).unwrap_or_default();
    v.push(b'\n');
    v
}

/// The last complete line, and the bytes after it when the file does not end with a newline.
/// (last complete line, torn fragment after it)
type Tail = (Option<Vec<u8>>, Option<Vec<u8>>);

fn tail(file: &mut File) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((None, None));
    }
    let mut chunk = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(chunk);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        file.read_to_end(&mut buf)?;
        let (complete, torn) = match buf.iter().rposition(|b| *b == b'\n') {
            Some(nl) if nl + 1 < buf.len() => (&buf[..nl + 1], Some(buf[nl + 1..].to_vec())),
            Some(_) => (&buf[..], None),
            None if start == 0 => (&buf[..0], Some(buf.clone())),
            None => {
                chunk *= 4;
                continue;
            }
        };
        let body = complete.strip_suffix(b"\n").unwrap_or(complete);
        match body.iter().rposition(|b| *b == b'\n') {
            Some(nl) => return Ok((Some(body[nl + 1..].to_vec()), torn)),
            None if start == 0 => return Ok(((!body.is_empty()).then(|| body.to_vec()), torn)),
            None => chunk *= 4,
        }
    }
}

/// An exclusive flock, released when dropped (or when the file is closed, whichever is first).
struct FileLock {
    fd: i32,
}

impl FileLock {
    fn exclusive(file: &File) -> io::Result<FileLock> {
        let fd = file.as_raw_fd();
        // SAFETY: flock on a descriptor we own; blocks until other writers are done.
        let rc = unsafe { libc::flock(fd, libc::LOCK_EX) };
        if rc == 0 { Ok(FileLock { fd }) } else { Err(io::Error::last_os_error()) }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: releases the lock taken above; the file outlives this guard in `append`.
        unsafe {
            libc::flock(self.fd, libc::LOCK_UN);
        }
    }
}
