//! Chain verification: the first record that does not belong where it is, and why.

use std::fmt;

use super::record::{AuditRecord, GENESIS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A record's content no longer matches its hash, or its successor no longer points at it.
    Edited,
    /// Records are missing between two that remain.
    Deleted,
    /// Records appear out of order.
    Reordered,
    /// A record that was not written in sequence was added.
    Inserted,
    /// The last line was cut short (a crash mid-write).
    Torn,
    /// A line that is not a record at all.
    Corrupt,
    /// The last records were removed (the witness saw more).
    Truncated,
    /// The file was replaced by an older copy (another file, shorter than what the witness saw).
    RolledBack,
    /// The chain is whole but differs from what the witness saw: rewritten and re-hashed.
    Rewritten,
    /// The journal was deleted (and perhaps a new chain started).
    Restarted,
    /// Records at the end that no witness ever saw.
    Unwitnessed,
    /// The witness itself holds a checkpoint that is not genuine.
    WitnessForged,
    /// The witness cannot be read.
    WitnessUnreadable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the journal file.
    pub line: usize,
    pub seq: Option<u64>,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records checked and found sound (before the first problem).
    pub good: usize,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            None => write!(f, "ok: {} records, chain intact", self.good),
            Some(p) => write!(f, "line {}: {:?}: {} ({} records before it are intact)", p.line, p.kind, p.message, self.good),
        }
    }
}

pub fn verify_bytes(bytes: &[u8]) -> VerifyReport {
    let mut report = VerifyReport::default();
    let ends_clean = bytes.is_empty() || bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let n = lines.len();
    let mut prev: Option<AuditRecord> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        let is_last = i + 1 == n;
        if raw.is_empty() && is_last {
            break;
        }
        let fail = |kind, seq, message: String| Some(Problem { line, seq, kind, message });
        let rec: AuditRecord = match serde_json::from_slice(raw) {
            Ok(r) => r,
            Err(e) => {
                report.problem = if is_last && !ends_clean {
                    fail(
                        ProblemKind::Torn,
                        None,
                        "the last record was cut short by a crash mid-write; the next write will remove it and record the repair".into(),
                    )
                } else {
                    fail(ProblemKind::Corrupt, None, format!("not a journal record: {e}"))
                };
                return report;
            }
        };
        if rec.compute_hash() != rec.hash {
            report.problem = fail(
                ProblemKind::Edited,
                Some(rec.seq),
                format!("record {} was changed after it was written (its hash does not match its content)", rec.seq),
            );
            return report;
        }
        let (expected_seq, expected_prev) = match &prev {
            Some(p) => (p.seq + 1, p.hash.as_str()),
            None => (1, GENESIS),
        };
        if rec.seq != expected_seq || rec.prev_hash != expected_prev {
            let prev_seq = prev.as_ref().map(|p| p.seq).unwrap_or(0);
            // A record that is missing here but comes later was moved, not deleted.
            let comes_later =
                || lines[i + 1..].iter().filter_map(|l| serde_json::from_slice::<AuditRecord>(l).ok()).any(|r| r.seq == expected_seq);
            let (kind, message) = if rec.seq > expected_seq && comes_later() {
                (ProblemKind::Reordered, format!("record {} appears before record {expected_seq}", rec.seq))
            } else if rec.seq > expected_seq {
                (ProblemKind::Deleted, format!("records {expected_seq}..{} are missing before record {}", rec.seq - 1, rec.seq))
            } else if rec.seq == prev_seq {
                (ProblemKind::Inserted, format!("a second record {} was inserted", rec.seq))
            } else if rec.seq < expected_seq {
                (ProblemKind::Reordered, format!("record {} appears after record {prev_seq}", rec.seq))
            } else if prev.is_none() {
                (ProblemKind::Deleted, "the journal does not start at its first record".to_string())
            } else {
                (
                    ProblemKind::Edited,
                    format!(
                        "record {} does not follow record {prev_seq}: a record was edited and re-hashed, or inserted in its place",
                        rec.seq
                    ),
                )
            };
            report.problem = fail(kind, Some(rec.seq), message);
            return report;
        }
        report.good += 1;
        prev = Some(rec);
    }
    report
}
