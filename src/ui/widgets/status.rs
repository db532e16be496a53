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

/// A rollout's phase.
pub fn rollout(p: crate::rollout::Phase) -> (&'static str, Role) {
    use crate::rollout::Phase;
    match p {
        Phase::Healthy => ("✓", Role::Success),
        Phase::Progressing => ("●", Role::Running),
        Phase::Paused => ("⏸", Role::Paused),
        Phase::Aborted => ("✗", Role::Failure),
        Phase::Degraded => ("⚠", Role::Aborted),
    }
}

/// An Argo Rollout's state.
pub fn argo(s: &crate::argo::status::State) -> (&'static str, Role) {
    use crate::argo::status::State;
    match s {
        State::Healthy => ("✓", Role::Success),
        State::Progressing(_) | State::Syncing(_) => ("●", Role::Running),
        State::Paused { .. } | State::PausedManual => ("⏸", Role::Paused),
        State::Aborted(_) => ("✗", Role::Failure),
        State::Degraded(_) => ("⚠", Role::Aborted),
    }
}
