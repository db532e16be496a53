//! Status glyph + word + colour role: status is never carried by colour alone.

use crate::domain::{JobStatus, RunStatus};
use crate::ui::theme::Role;

pub fn job(s: JobStatus) -> (&'static str, Role) {
    match s {
        JobStatus::Pending => ("○", Role::Pending),
        JobStatus::Running => ("●", Role::Running),
        JobStatus::Waiting => ("⏸", Role::Paused),
        JobStatus::Success => ("✓", Role::Success),
        JobStatus::Failed => ("✗", Role::Failure),
        JobStatus::FailedAllowed => ("!", Role::Warning),
        JobStatus::TimedOut => ("⧗", Role::Failure),
        JobStatus::Cancelled => ("⊘", Role::Aborted),
        JobStatus::Skipped => ("↷", Role::Muted),
        JobStatus::Interrupted => ("⚠", Role::Aborted),
    }
}

pub fn run(s: RunStatus) -> (&'static str, Role) {
    match s {
        RunStatus::Queued => ("○", Role::Pending),
        RunStatus::Running => ("●", Role::Running),
        RunStatus::Waiting => ("⏸", Role::Paused),
        RunStatus::Success => ("✓", Role::Success),
        RunStatus::Failed => ("✗", Role::Failure),
        RunStatus::Cancelled => ("⊘", Role::Aborted),
        RunStatus::Interrupted => ("⚠", Role::Aborted),
    }
}
