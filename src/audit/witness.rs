//! Checkpoints of the journal's head, kept where the journal's owner cannot quietly rewrite them:
//! an append-only file (owned by another account, or `chattr +a`), and the system log. The hash
//! chain shows an edit inside the journal; only a witness shows that its end was cut off, that it
//! was rewritten as a whole, rolled back to an older copy, or deleted and started again. Each
//! checkpoint can be signed (HMAC-SHA256) with a key kept outside the data directory.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use super::record::AuditRecord;
use super::verify::{Problem, ProblemKind};

/// Where checkpoints go, from `[audit]` in the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WitnessSettings {
    /// An append-only file of checkpoints.
    pub file: Option<PathBuf>,
    /// A key file (outside the data directory) that signs every checkpoint.
    pub signing_key: Option<PathBuf>,
    /// Also send each checkpoint to the system log (journald or syslog).
    pub syslog: bool,
}

/// The head of one journal at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The journal's canonical path: one witness can serve several journals.
    pub journal: String,
    pub seq: u64,
    pub hash: String,
    /// When the record was written (the record's own time).
    pub time: String,
    /// The journal file's inode: a copy put in its place has another.
    pub inode: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Checkpoint {
    fn signed_text(&self) -> String {
        format!("{}\n{}\n{}\n{}\n{}", self.journal, self.seq, self.hash, self.time, self.inode)
    }
}

/// The witness settings of this process, set once from the configuration.
static SETTINGS: std::sync::OnceLock<WitnessSettings> = std::sync::OnceLock::new();

/// Sets where this process's journal writes are witnessed (the first call wins).
pub fn configure(settings: WitnessSettings) {
    let _ = SETTINGS.set(settings);
}

pub fn configured() -> WitnessSettings {
    SETTINGS.get().cloned().unwrap_or_default()
}

fn canonical(journal: &Path) -> String {
    std::fs::canonicalize(journal).unwrap_or_else(|_| journal.to_path_buf()).display().to_string()
}

fn sign(key_file: &Path, text: &str) -> Result<String, String> {
    let key = std::fs::read(key_file).map_err(|e| format!("cannot read the signing key {}: {e}", key_file.display()))?;
    if key.len() < 16 {
        return Err(format!("the signing key {} is too short (at least 16 bytes)", key_file.display()));
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(text.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// The witnesses of one journal write, opened before the record is written: a witness that
/// cannot be written stops the write, rather than leaving a record (an intent that nothing would
/// ever conclude) that no witness saw.
pub struct Witness {
    file: Option<(PathBuf, std::fs::File)>,
    key: Option<PathBuf>,
    syslog: bool,
}

impl Witness {
    pub fn open(settings: &WitnessSettings) -> Result<Witness, String> {
        let file = match &settings.file {
            Some(path) => Some((
                path.clone(),
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .map_err(|e| format!("cannot open the journal's witness {}: {e}", path.display()))?,
            )),
            None => None,
        };
        if let Some(key) = &settings.signing_key {
            // Read now, so a missing key stops the write too.
            sign(key, "")?;
        }
        Ok(Witness { file, key: settings.signing_key.clone(), syslog: settings.syslog })
    }

    /// Records the journal's new head. Called under the journal's lock, after the record is on disk.
    pub fn record(&mut self, journal: &Path, record: &AuditRecord) -> Result<(), String> {
        if self.file.is_none() && !self.syslog {
            return Ok(());
        }
        let inode = std::fs::metadata(journal).map(|m| m.ino()).unwrap_or(0);
        let mut cp = Checkpoint {
            journal: canonical(journal),
            seq: record.seq,
            hash: record.hash.clone(),
            time: record.time.clone(),
            inode,
            signature: None,
        };
        if let Some(key) = &self.key {
            cp.signature = Some(sign(key, &cp.signed_text())?);
        }
        let mut line = serde_json::to_vec(&cp).map_err(|e| e.to_string())?;
        line.push(b'\n');
        if self.syslog {
            to_syslog(&line);
        }
        if let Some((path, f)) = &mut self.file {
            f.write_all(&line)
                .and_then(|_| f.sync_data())
                .map_err(|e| format!("cannot write the journal's witness {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

fn to_syslog(line: &[u8]) {
    static OPENED: std::sync::Once = std::sync::Once::new();
    let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line)).replace('\0', "");
    let (Ok(msg), Ok(fmt)) = (std::ffi::CString::new(text), std::ffi::CString::new("%s")) else {
        return;
    };
    // SAFETY: openlog keeps the ident pointer, so it is opened once with a static string; the
    // message and format are NUL-terminated and outlive the call, and `%s` keeps the message from
    // being read as a format.
    unsafe {
        OPENED.call_once(|| libc::openlog(c"flightdeck-audit".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV));
        libc::syslog(libc::LOG_NOTICE, fmt.as_ptr(), msg.as_ptr());
    }
}

/// The checkpoints of `journal` in a witness file, each signature checked when a key is given.
pub fn read(witness: &Path, journal: &Path, key: Option<&Path>) -> Result<Vec<Checkpoint>, Problem> {
    let text = std::fs::read_to_string(witness)
        .map_err(|e| problem(0, None, ProblemKind::WitnessUnreadable, format!("cannot read the witness {}: {e}", witness.display())))?;
    let name = canonical(journal);
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Ok(cp) = serde_json::from_str::<Checkpoint>(line) else {
            return Err(problem(
                0,
                None,
                ProblemKind::WitnessForged,
                format!("line {} of the witness {} is not a checkpoint", i + 1, witness.display()),
            ));
        };
        if cp.journal != name {
            continue;
        }
        if let Some(key) = key {
            let expected = sign(key, &cp.signed_text()).map_err(|e| problem(0, None, ProblemKind::WitnessUnreadable, e))?;
            if cp.signature.as_deref() != Some(expected.as_str()) {
                return Err(problem(
                    0,
                    Some(cp.seq),
                    ProblemKind::WitnessForged,
                    format!("checkpoint of record {} (line {} of the witness) is not signed by the key", cp.seq, i + 1),
                ));
            }
        }
        found.push(cp);
    }
    Ok(found)
}

fn problem(line: usize, seq: Option<u64>, kind: ProblemKind, message: String) -> Problem {
    Problem { line, seq, kind, message }
}

/// Compares the journal (already found sound as a chain) with what the witness saw.
pub fn compare(records: &[AuditRecord], inode: Option<u64>, checkpoints: &[Checkpoint]) -> Option<Problem> {
    let last_seen = checkpoints.iter().max_by_key(|c| c.seq)?;
    let line_of = |seq: u64| records.iter().position(|r| r.seq == seq).map(|i| i + 1).unwrap_or(0);
    // The first record the witness saw differently: the journal was rewritten from there on, or
    // deleted and begun again.
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.seq);
    for cp in &sorted {
        let Some(rec) = records.iter().find(|r| r.seq == cp.seq) else { break };
        if rec.hash != cp.hash {
            let first_time = records.first().map(|r| r.time.as_str()).unwrap_or("");
            let after = |a: &str, b: &str| match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
                (Ok(a), Ok(b)) => a > b,
                _ => false,
            };
            return Some(if after(first_time, &last_seen.time) {
                problem(
                    1,
                    Some(1),
                    ProblemKind::Restarted,
                    format!(
                        "the journal was deleted and a new one started at {first_time}: the witness saw {} records before, up to {}",
                        last_seen.seq, last_seen.time
                    ),
                )
            } else {
                problem(
                    line_of(rec.seq),
                    Some(rec.seq),
                    ProblemKind::Rewritten,
                    format!("the journal was rewritten from record {} on: it differs from what the witness saw at {}", rec.seq, cp.time),
                )
            });
        }
    }
    let last = records.last().map(|r| r.seq).unwrap_or(0);
    if last < last_seen.seq {
        if records.is_empty() {
            return Some(problem(
                0,
                None,
                ProblemKind::Restarted,
                format!("the journal is gone: the witness saw {} records, up to {}", last_seen.seq, last_seen.time),
            ));
        }
        let replaced = inode.is_some_and(|i| i != last_seen.inode);
        return Some(if replaced {
            problem(
                records.len(),
                Some(last),
                ProblemKind::RolledBack,
                format!(
                    "the journal was replaced by an older copy: it ends at record {last}, the witness saw record {} at {}",
                    last_seen.seq, last_seen.time
                ),
            )
        } else {
            problem(
                records.len(),
                Some(last),
                ProblemKind::Truncated,
                format!(
                    "records {}..{} were removed from the end (or an older copy was written over the file): the witness saw record {} at {}",
                    last + 1,
                    last_seen.seq,
                    last_seen.seq,
                    last_seen.time
                ),
            )
        });
    }
    let witnessed: std::collections::HashSet<u64> = checkpoints.iter().map(|c| c.seq).collect();
    records.iter().find(|r| r.seq > last_seen.seq && !witnessed.contains(&r.seq)).map(|r| {
        problem(
            line_of(r.seq),
            Some(r.seq),
            ProblemKind::Unwitnessed,
            format!(
                "records {}..{last} were never witnessed: added with recomputed hashes, or written while the witness could not be",
                r.seq
            ),
        )
    })
}
