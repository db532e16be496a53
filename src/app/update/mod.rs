//! The reducer: the only place state changes, and the single point where a mutation is allowed
//! (read-only mode, confirmation, "is it still what the user saw?").

mod commands;
mod keys;
mod log;
mod log_filter;
mod log_fold;
mod navigate;
mod release;
mod releases;
mod runs;
mod safety;

use self::{commands::*, keys::*, log::*, log_filter::*, log_fold::*, navigate::*, releases::*, runs::*, safety::*};
pub use log::WINDOW as LOG_WINDOW;
pub(crate) use release::preview_op as release_preview_op;
pub use safety::start_without_dialog;
pub(crate) use safety::{describe, verdict};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui_textarea::TextArea;

use super::action::Action;
use super::command::{self, LineCommand};
use super::effect::Effect;
use super::state::{
    Confirm, ConfirmField, ConfirmOp, Input, InputKind, JobLog, LogFileView, Overlay, Pane, RunView, Screen, Search, State, TOAST_SECS,
    ToastLevel,
};
use crate::app::layout;
pub(crate) use crate::app::selectors::*;
use crate::ci::RunEvent;
use crate::domain::{JobStatus, RunRecord, RunRef};
use crate::keymap::{Command, Context};
use crate::logstore::LogStore;
use crate::ops::{self, Approved, Operation};
use crate::policy::{Request, Tier, Verdict};

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let mut effects = reduce(state, action);
    // Whatever moved the log view, the lines it now shows are read from disk if not held.
    effects.extend(ensure_window(state));
    effects.extend(ensure_sections(state));
    effects.extend(ensure_filter_lines(state));
    effects
}

fn reduce(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(ev) => on_key(state, ev),
        Action::Paste(text) => {
            if let Some(Overlay::Input(input)) = &mut state.overlay {
                input.text.insert_str(text.replace(['\n', '\r'], " "));
                after_input_edit(state);
            }
            Vec::new()
        }
        Action::Resize(w, h) => {
            state.size = (w, h);
            state.dirty = true;
            Vec::new()
        }
        Action::Tick(now) => {
            state.now = now;
            let before = state.toasts.len();
            state.toasts.retain(|t| t.level == ToastLevel::Error || now.as_second() - t.at.as_second() < TOAST_SECS);
            if before != state.toasts.len() || state.needs_clock() {
                state.dirty = true;
            }
            canary_refresh(state).into_iter().collect()
        }
        Action::NotificationsDue => {
            if state.notifications.configured {
                vec![Effect::CheckNotifications]
            } else {
                Vec::new()
            }
        }
        Action::NotificationsChecked(failed) => {
            let before = state.notifications.failed;
            state.notifications.failed = failed;
            if failed > before {
                state.toast_error(format!(
                    "{} notification(s) could not be delivered and were given up: flightdeck notify outbox",
                    failed - before
                ));
            }
            state.dirty |= failed != before;
            Vec::new()
        }
        Action::CanaryLoaded { request, service, result } => {
            let now = state.now;
            let Some(d) = state.canary.data.get_mut(&service) else { return Vec::new() };
            if d.pending != Some(request) {
                return Vec::new(); // superseded (window changed)
            }
            d.pending = None;
            // The data is as old as its newest sample, not as the last fetch: an answer from a
            // Prometheus whose scrapes stopped (or an error) does not make old numbers fresh.
            let newest = result
                .metrics
                .iter()
                .flat_map(|m| &m.measurements)
                .filter(|x| x.canary.value().is_some_and(f64::is_finite) || x.stable.value().is_some_and(f64::is_finite))
                .map(|x| x.time)
                .max();
            if let Some(t) = newest.and_then(|t| jiff::Timestamp::from_second(t).ok()) {
                d.last_ok = Some(t.min(now));
            }
            d.result = Some(*result);
            state.dirty = true;
            Vec::new()
        }
        Action::Terminate => {
            state.quit = true;
            vec![Effect::Quit]
        }
        Action::RunsLoaded { request, result } => {
            if state.pending_runs != Some(request) {
                return Vec::new(); // superseded by a newer request
            }
            state.pending_runs = None;
            state.runs_loaded = true;
            state.dirty = true;
            match result {
                Ok(runs) => {
                    let mut fx = take_runs(state, runs);
                    fx.push(Effect::LoadAcceptances);
                    return fx;
                }
                Err(e) => state.toast_error(format!("cannot read the run history: {e}")),
            }
            Vec::new()
        }
        Action::TriggerFormLoaded { pipeline, result } => safety::trigger_form_loaded(state, pipeline, result),
        Action::MoreRunsLoaded { result } => {
            state.dirty = true;
            match result {
                Ok(runs) => return take_runs(state, runs),
                Err(e) => state.toast_error(format!("cannot read runs: {e}")),
            }
            Vec::new()
        }
        Action::LogLoaded { request, run, job, result } => {
            if state.pending_log != Some(request) {
                return Vec::new(); // the user has moved on; drop the stale answer
            }
            state.pending_log = None;
            let caps = state.log_caps;
            match result {
                Ok(lines) => {
                    if let Some(view) = state.run_mut(&run)
                        && !view.logs.contains_key(&job)
                    {
                        let mut log = JobLog::new(caps);
                        for l in &lines {
                            log.push_raw(l.ts_ms, l.stream, &l.bytes);
                        }
                        log.from_disk = true;
                        view.logs.insert(job, log);
                    }
                }
                Err(e) => state.toast_error(format!("cannot read the log of `{job}` in run #{run}: {e}")),
            }
            state.dirty = true;
            Vec::new()
        }
        Action::LogWindowLoaded { request, run, job, from, result } => {
            if let Some(r) = request {
                if state.pending_log != Some(r) {
                    return Vec::new(); // the user has moved on
                }
                state.pending_log = None;
            }
            window_loaded(state, &run, &job, from, result);
            Vec::new()
        }
        Action::LogLinesLoaded { run, job, lines, for_filter } => {
            if for_filter {
                filter_lines_loaded(state, lines);
                return ensure_filter_lines(state).into_iter().collect();
            }
            screen_lines_loaded(state, &run, &job, lines);
            Vec::new()
        }
        Action::LogSectionsLoaded { run, job, sections } => {
            sections_loaded(state, &run, &job, sections);
            Vec::new()
        }
        Action::LogReadForCopy { from, result } => match result {
            Ok(lines) => copied(state, from, lines).into_iter().collect(),
            Err(e) => {
                state.toast_error(format!("cannot copy: {e}"));
                Vec::new()
            }
        },
        Action::LogJump(found) => {
            match found {
                Ok(line) if state.current_log().is_some_and(|l| line < l.end_line()) => jump_to(state, line),
                Ok(_) => state.toast_info("no line at or after that time"),
                Err(e) => state.toast_error(e),
            }
            Vec::new()
        }
        Action::LogSearchFound { request, hits, scanned, of, done } => {
            search_found(state, request, hits, scanned, of, done);
            Vec::new()
        }
        Action::OpDone { op, result } => {
            state.in_flight.remove(&op);
            let accepted_risk = op.starts_with("accept ") && result.is_ok();
            match result {
                Ok(report) => {
                    state.toast_info(report.message);
                    if let Some(w) = report.warning {
                        state.toast_error(w);
                    }
                    if let Some(id) = report.new_run {
                        state.filter.clear();
                        return refresh_audit(state).into_iter().chain(select_run(state, id)).collect();
                    }
                }
                Err(e) => state.toast_error(format!("{op} failed: {e}")),
            }
            let mut fx: Vec<Effect> = refresh_audit(state).into_iter().collect();
            if accepted_risk {
                fx.push(Effect::LoadAcceptances);
            }
            fx
        }
        Action::Journaled(result) => {
            if let Err(e) = result {
                state.toast_error(format!("the refusal could not be journaled: {e}"));
            }
            refresh_audit(state).into_iter().collect()
        }
        Action::FindingsLoaded { run, result } => {
            let acceptances = state.acceptances.clone();
            match result {
                Ok(reports) => {
                    if let Some(v) = state.run_mut(&run) {
                        v.evidence = Some(reports.judged_with(acceptances));
                    }
                }
                Err(e) => state.toast_error(format!("cannot read the findings of run #{run}: {e}")),
            }
            let n = visible_findings(state).len();
            state.findings_view.cursor = state.findings_view.cursor.min(n.saturating_sub(1));
            state.dirty = true;
            Vec::new()
        }
        Action::AcceptancesLoaded(result) => {
            match result {
                Ok(acc) => {
                    for v in state.runs.iter_mut() {
                        if let Some(ev) = v.evidence.as_mut() {
                            ev.acceptances = acc.clone();
                        }
                    }
                    state.acceptances = acc;
                }
                Err(e) => state.toast_error(format!("risk acceptances: {e}")),
            }
            state.dirty = true;
            Vec::new()
        }
        Action::AuditLoaded { request, result } => {
            if state.pending_audit != Some(request) {
                return Vec::new();
            }
            state.pending_audit = None;
            state.audit.loading = false;
            match result {
                Ok((records, report)) => {
                    state.audit.records = records;
                    state.audit.report = Some(report);
                    state.audit.error = None;
                }
                Err(e) => state.audit.error = Some(e),
            }
            let n = state.audit.visible().len();
            state.audit.cursor = state.audit.cursor.min(n.saturating_sub(1));
            state.dirty = true;
            Vec::new()
        }
        Action::Release(event) => release::on_event(state, event),
        Action::ReleaseDetail(detail) => release::on_detail(state, *detail),
        Action::Failed(e) => {
            state.toast_error(e);
            Vec::new()
        }
        Action::FaultInjected(result) => {
            match (result, state.canary.faults.as_mut()) {
                (Ok(name), Some(d)) => {
                    d.pending = None;
                    if let Some(i) = d.find(&name) {
                        d.current = i;
                        let now = d.faults[i].description.clone();
                        state.toast_info(format!("the canary is now {now}"));
                    }
                }
                (Err(e), d) => {
                    if let Some(d) = d {
                        d.pending = None;
                    }
                    state.toast_error(e);
                }
                (Ok(_), None) => {}
            }
            state.dirty = true;
            Vec::new()
        }
        Action::ThemeLoaded(result) => {
            match result {
                Ok(theme) => {
                    let name = theme.name.clone();
                    state.theme = theme;
                    state.toast_info(format!("theme: {name}"));
                }
                Err(e) => state.toast_error(e),
            }
            Vec::new()
        }
        Action::Run(ev) => on_run_event(state, ev),
    }
}

/// Where the cockpit opens (`--screen`, `--context`): as if the user had pressed the screen's
/// key and typed `:ctx`.
pub fn open_on(state: &mut State, screen: Option<Screen>, context: Option<String>) -> Vec<Effect> {
    let mut fx = Vec::new();
    if let Some(c) = context {
        fx.extend(release::switch(state, format!("context={c}")));
    }
    let key = match screen {
        Some(Screen::Pipelines) => Some(Command::ScreenPipelines),
        Some(Screen::Approvals) => Some(Command::ScreenApprovals),
        Some(Screen::Findings) => Some(Command::ScreenFindings),
        Some(Screen::Audit) => Some(Command::ScreenAudit),
        Some(Screen::Canary) => Some(Command::ScreenCanary),
        Some(Screen::Overview) => Some(Command::ScreenOverview),
        Some(Screen::Release) => Some(Command::ScreenRelease),
        None => None,
    };
    if let Some(cmd) = key {
        fx.extend(run_command(state, cmd));
    }
    fx
}

pub(crate) fn load_audit(state: &mut State) -> Option<Effect> {
    let request = state.request_id();
    state.pending_audit = Some(request);
    state.audit.loading = true;
    Some(Effect::LoadAudit { request })
}

/// Reloads the journal when a screen shows it (after something was written): the audit screen,
/// and the timeline of an opened release.
pub(crate) fn refresh_audit(state: &mut State) -> Option<Effect> {
    if state.screen == Screen::Audit || (state.screen == Screen::Release && state.releases.detail.is_some()) {
        load_audit(state)
    } else {
        None
    }
}

pub(crate) use crate::util::capitalised;

/// Folds a provider's runs into the list: evidence for those waiting on a gate, and a first
/// selection when nothing is selected yet.
fn take_runs(state: &mut State, runs: Vec<crate::domain::RunRecord>) -> Vec<Effect> {
    let waiting: Vec<RunRef> = runs.iter().filter(|r| r.waiting_gates().next().is_some()).map(|r| r.id.clone()).collect();
    for rec in runs {
        upsert_run(state, rec);
    }
    let mut fx: Vec<Effect> = waiting.into_iter().filter_map(|id| ensure_evidence(state, id, false)).collect();
    if state.selected_run.is_none()
        && let Some(id) = state.visible_runs().first().map(|r| r.record.id.clone())
    {
        fx.extend(select_run(state, id));
    }
    fx
}
