//! Status glyph + word + colour role: status is never carried by colour alone.

use crate::domain::{JobStatus, RunStatus};
use crate::theme::Role;

pub fn job(s: JobStatus) -> (&'static str, Role) {
    let role = match s {
        JobStatus::Pending => Role::Pending,
        JobStatus::Running => Role::Running,
        JobStatus::Waiting => Role::Paused,
        JobStatus::Success => Role::Success,
        JobStatus::Failed | JobStatus::TimedOut => Role::Failure,
        JobStatus::FailedAllowed => Role::Warning,
        JobStatus::Cancelled | JobStatus::Interrupted => Role::Aborted,
        JobStatus::Skipped => Role::Muted,
    };
    (s.glyph(), role)
}

pub fn run(s: RunStatus) -> (&'static str, Role) {
    let role = match s {
        RunStatus::Queued => Role::Pending,
        RunStatus::Running => Role::Running,
        RunStatus::Waiting => Role::Paused,
        RunStatus::Success => Role::Success,
        RunStatus::Failed => Role::Failure,
        RunStatus::Cancelled | RunStatus::Interrupted => Role::Aborted,
    };
    (s.glyph(), role)
}

/// A canary analysis' verdict (per metric or overall).
pub fn verdict(p: crate::metrics::Phase) -> (&'static str, Role) {
    use crate::metrics::Phase;
    match p {
        Phase::Successful => ("✓", Role::Success),
        Phase::Running => ("●", Role::Running),
        Phase::Inconclusive => ("?", Role::Paused),
        Phase::Error => ("⚠", Role::Aborted),
        Phase::Failed => ("✗", Role::Failure),
    }
}

/// A release's health, whatever its provider.
pub fn release(h: crate::delivery::Health) -> (&'static str, Role) {
    use crate::delivery::Health;
    match h {
        Health::Healthy => ("✓", Role::Success),
        Health::Progressing => ("●", Role::Running),
        Health::Paused => ("⏸", Role::Paused),
        Health::Aborted => ("✗", Role::Failure),
        Health::Degraded => ("⚠", Role::Aborted),
        Health::Unknown => ("…", Role::Muted),
    }
}
