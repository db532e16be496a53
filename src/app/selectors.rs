//! Pure queries over `&State`, shared by the reducer and the views: what is visible, what a key
//! would do now.

use super::layout;
use super::state::{Screen, State};
use super::update::{describe, release_preview_op, verdict};
use crate::keymap::Command;
use crate::ops::Operation;
use crate::policy::Verdict;
use crate::util::format_duration;
use jiff::Timestamp;

/// The selected run's findings that match the filter, most severe first.
pub fn visible_findings(state: &State) -> Vec<&crate::findings::Finding> {
    let Some(ev) = state.current_run().and_then(|r| r.evidence.as_ref()) else { return Vec::new() };
    ev.findings.iter().filter(|f| state.findings_view.matches(f)).collect()
}

pub fn selected_finding(state: &State) -> Option<&crate::findings::Finding> {
    if state.findings_view.failed_tests {
        return None;
    }
    visible_findings(state).get(state.findings_view.cursor).copied()
}

/// The selected run's failed tests that match the filter, with the report each is from.
pub fn visible_failures(state: &State) -> Vec<(&str, &crate::findings::TestFailure)> {
    let Some(ev) = state.current_run().and_then(|r| r.evidence.as_ref()) else { return Vec::new() };
    ev.tests
        .iter()
        .flat_map(|r| r.summary.failed.iter().map(move |f| (r.path.as_str(), f)))
        .filter(|(_, f)| state.findings_view.matches_failure(f))
        .collect()
}

/// How many rows the findings screen's list has now (findings, or failed tests).
pub fn findings_rows(state: &State) -> usize {
    if state.findings_view.failed_tests { visible_failures(state).len() } else { visible_findings(state).len() }
}

/// The release gate rules that fail for the selected run (and could be excepted), as (rule,
/// environment), in the order of the run's environments.
pub fn failing_rules(state: &State) -> Vec<(String, String)> {
    let Some(run) = state.current_run() else { return Vec::new() };
    let Some(ev) = run.evidence.as_ref() else { return Vec::new() };
    let today = state.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut out = Vec::new();
    for env in crate::ops::run_environments(&run.record) {
        let Some(p) = state.policy.environments.get(&env).filter(|p| p.security.judges()) else { continue };
        let v = ev.judge(&p.security, today);
        let failing = [
            ("tests", v.tests.map(|t| t.pass)),
            ("coverage", v.coverage.map(|c| c.pass)),
            ("changed_coverage", v.changed_coverage.map(|c| c.pass)),
            ("load", v.load.map(|l| l.pass)),
            ("quality", v.quality.map(|q| q.pass)),
        ];
        out.extend(failing.into_iter().filter(|(_, pass)| *pass == Some(false)).map(|(rule, _)| (rule.to_string(), env.clone())));
    }
    out
}

/// The sequence number of the top visible log line.
pub fn current_top(state: &State) -> u64 {
    let Some(log) = state.current_log() else {
        return 0;
    };
    let rows = layout::log_rows(state) as usize;
    let first = log.first_line();
    let folds = log.folds();
    let bottom_top = folds.top_for_end(rows).max(first);
    if state.log.follow { bottom_top } else { folds.shown(state.log.top.clamp(first, bottom_top)) }
}

/// The line the log view acts on (`y`, `m`, `z`): the current match, else the top line shown.
pub fn current_line(state: &State) -> u64 {
    state.log.search.as_ref().and_then(|s| s.matches.get(s.current?).copied()).unwrap_or_else(|| current_top(state))
}

/// Elapsed or total duration of a job for display.
/// Elapsed or total duration of a run for display: to the minute while it waits at a gate.
pub fn run_duration(run: &crate::domain::RunRecord, now: Timestamp) -> Option<String> {
    let d = crate::util::elapsed(run.started_at, run.finished_at, now)?;
    Some(if run.status == crate::domain::RunStatus::Waiting { crate::util::waited(d) } else { format_duration(d) })
}

pub fn job_duration(job: &crate::domain::JobRecord, now: Timestamp) -> Option<String> {
    let d = crate::util::elapsed(job.started_at, job.finished_at, now)?;
    // A gate's wait is shown to the minute; a running job's time to the second.
    Some(if job.status == crate::domain::JobStatus::Waiting { crate::util::waited(d) } else { format_duration(d) })
}

/// Whether a key of the current context means anything on this screen (the footer lists only
/// those): fault injection only in the demo, rollout keys only for what the selected release's
/// provider offers.
pub fn offered(state: &State, cmd: Command) -> bool {
    use crate::keymap::RolloutKey as K;
    let offers = |verb: &str| state.selected_release().is_some_and(|r| r.offers_verb(verb));
    match cmd {
        Command::InjectFault => state.canary.faults.is_some(),
        // Folding is offered where there is something to fold; marking, once a search or a
        // scroll has picked a line (the footer keeps room for search).
        Command::LogFold | Command::LogFoldAll => state.current_log().is_some_and(|l| !l.sections.is_empty()),
        Command::LogMark => !state.log.follow || state.log.search.is_some(),
        Command::Rollout(K::Restart) => offers("restart"),
        Command::ReleaseOwned => state.selected_release().and_then(|r| state.detail_of(r)).is_some_and(|d| !d.related.is_empty()),
        Command::Rollout(K::TerminateAnalysis) => offers("terminate-analysis"),
        Command::Rollout(K::IgnoreJob) => offers("ignore-job"),
        // A GitOps application's keys where one is selected; a rollout's steps where it is not.
        Command::Rollout(K::Sync | K::AutoSync) => offers("sync"),
        Command::Rollout(K::Refresh | K::HardRefresh) => offers("refresh"),
        Command::Rollout(K::TerminateOperation) => offers("terminate-operation"),
        Command::Rollout(K::Promote | K::PromoteFull | K::Pause | K::Resume | K::Abort | K::Retry) => !offers("sync"),
        _ => true,
    }
}

/// On the releases screens, the global approve, reject and cancel keys act on the selected
/// rollout when it offers them (a Cloud Deploy rollout waiting for approval).
pub fn rollout_key_for(state: &State, cmd: Command) -> Option<crate::keymap::RolloutKey> {
    if !matches!(state.screen, Screen::Overview | Screen::Release) {
        return None;
    }
    let (key, verb) = match cmd {
        Command::Approve => (crate::keymap::RolloutKey::Approve, "approve"),
        Command::Reject => (crate::keymap::RolloutKey::Reject, "reject"),
        Command::Cancel => (crate::keymap::RolloutKey::Cancel, "cancel"),
        _ => return None,
    };
    state.selected_release().filter(|r| r.offers_verb(verb)).map(|_| key)
}

/// What pressing a change key would do now, without doing it: `Err(reason)` when the policy (or
/// the state of the selection) would refuse. Render uses it to grey keys with the reason.
pub fn preview(state: &State, cmd: Command) -> Result<(), String> {
    let cmd = rollout_key_for(state, cmd).map(Command::Rollout).unwrap_or(cmd);
    let op = match cmd {
        Command::Trigger => match state.current_run().map(|r| r.record.pipeline.clone()).or_else(|| state.fallback_pipeline.clone()) {
            Some(pipeline) => Operation::Trigger { pipeline, with: Default::default() },
            None => return Ok(()),
        },
        Command::Cancel | Command::Retry => {
            let Some(run) = state.selected_run.clone() else { return Ok(()) };
            if cmd == Command::Cancel {
                Operation::Cancel { run, force: false }
            } else {
                Operation::Retry { run, scope: Default::default() }
            }
        }
        Command::Approve | Command::Reject => {
            let gate = match state.screen {
                Screen::Approvals => state.waiting_gates().get(state.approvals_cursor).map(|(r, j)| (r.id.clone(), j.key.clone())),
                _ => state.current_run().and_then(|r| r.record.waiting_gates().next().map(|j| (r.record.id.clone(), j.key.clone()))),
            };
            let Some((run, job)) = gate else { return Err("no gate is waiting".into()) };
            Operation::Gate { run, job, approve: cmd == Command::Approve }
        }
        // Greyed in the footer with the reason when the rollout's state, the provider's access
        // review or the policy refuses it.
        Command::Rollout(key) => match release_preview_op(state, key) {
            Some(op) => op?,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let target = describe(state, &op)?;
    match verdict(state, &op, &target, false) {
        Verdict::Refused { message, break_glass_possible: false, .. } => Err(message),
        _ => Ok(()),
    }
}

/// A caveat on a change key that is allowed (a sync only a window's manual exception lets
/// through), for the footer to say beside it.
pub fn note(state: &State, cmd: Command) -> Option<String> {
    let Command::Rollout(key) = cmd else { return None };
    let Some(Ok(Operation::Rollout { action, .. })) = release_preview_op(state, key) else { return None };
    let release = state.selected_release()?;
    state.detail_of(release)?.permissions.as_ref()?.notes.get(action.verb()).cloned()
}
