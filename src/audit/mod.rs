//! The audit journal: every mutation is recorded as an intent before it acts and an outcome after,
//! as hash-chained JSON lines, appended under a file lock and fsync'd. `verify` finds the first
//! record that was edited, deleted, reordered, inserted, or torn by a crash; checkpoints kept by a
//! witness show what the chain alone cannot (a cut-off end, a rewrite, a rollback, a deletion).

mod export;
mod journal;
mod record;
mod verify;
pub mod witness;

pub use export::{ExportRow, export_csv, export_rows, parse_time_bound};
pub use journal::{AuditError, Journal};
pub use record::{AuditRecord, Draft, GENESIS, Phase};
pub use verify::{Problem, ProblemKind, VerifyReport, verify_bytes};
pub use witness::{Checkpoint, WitnessSettings};
