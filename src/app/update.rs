//! The reducer: the only place state changes, and the single point where a mutation is allowed
//! (read-only mode, confirmation, "is it still what the user saw?").

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use jiff::Timestamp;
use ratatui_textarea::TextArea;

use super::action::Action;
use super::command::{self, LineCommand};
use super::effect::Effect;
use super::keymap::Command;
use super::state::{
    Confirm, ConfirmField, ConfirmOp, Input, InputKind, JobLog, Overlay, Pane, RunView, Screen, Search, State, TOAST_SECS, ToastLevel,
};
use crate::ci::RunEvent;
use crate::domain::{JobStatus, RunId, RunRecord};
use crate::logstore::LogStore;
use crate::ops::{self, Approved, Operation};
use crate::policy::{Request, Tier, Verdict};
use crate::ui::layout;
use crate::util::format_duration;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
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
        Action::CanaryLoaded { request, service, result } => {
            let now = state.now;
            let Some(d) = state.canary.data.get_mut(&service) else { return Vec::new() };
            if d.pending != Some(request) {
                return Vec::new(); // superseded (window changed)
            }
            d.pending = None;
            if !result.metrics.is_empty() {
                d.last_ok = Some(now);
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
                    let waiting: Vec<RunId> = runs.iter().filter(|r| r.waiting_gates().next().is_some()).map(|r| r.id).collect();
                    for rec in runs {
                        upsert_run(state, rec);
                    }
                    let mut fx: Vec<Effect> = waiting.into_iter().filter_map(|id| ensure_evidence(state, id, false)).collect();
                    fx.push(Effect::LoadAcceptances);
                    if state.selected_run.is_none()
                        && let Some(id) = state.visible_runs().first().map(|r| r.record.id)
                    {
                        fx.extend(select_run(state, id));
                    }
                    return fx;
                }
                Err(e) => state.toast_error(format!("cannot read the run history: {e}")),
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
                    if let Some(view) = state.run_mut(run)
                        && !view.logs.contains_key(&job)
                    {
                        let mut store = LogStore::new(caps.max_lines, caps.max_bytes);
                        for l in &lines {
                            store.push_raw(l.ts_ms, l.stream, &l.bytes);
                        }
                        view.logs.insert(job, JobLog { store, from_disk: true });
                    }
                }
                Err(e) => state.toast_error(format!("cannot read the log of `{job}` in run #{run}: {e}")),
            }
            state.dirty = true;
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
                        state.local_runs.insert(id);
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
                Ok((findings, unreadable)) => {
                    if let Some(v) = state.run_mut(run) {
                        v.evidence = Some(crate::findings::Evidence { findings, unreadable, acceptances });
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
        Action::RolloutUpdated { name, result } => {
            match result {
                Ok(rec) => {
                    let changed = state.rollouts.records.get(&name) != Some(&rec);
                    state.rollouts.errors.remove(&name);
                    if changed {
                        state.rollouts.records.insert(name, *rec);
                        state.dirty = true;
                        if state.screen == Screen::Overview {
                            return overview_refresh(state);
                        }
                    }
                }
                Err(e) => {
                    if state.rollouts.errors.get(&name) != Some(&e) {
                        state.rollouts.errors.insert(name, e);
                        state.dirty = true;
                    }
                }
            }
            Vec::new()
        }
        Action::Argo(msg) => super::argo::on_msg(state, msg),
        Action::FaultInjected(result) => {
            match (result, state.canary.demo.as_mut()) {
                (Ok(fault), Some(d)) => {
                    d.fault = fault;
                    d.pending = None;
                    state.toast_info(format!("demo canary is now {}", fault.describe()));
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

fn on_run_event(state: &mut State, ev: RunEvent) -> Vec<Effect> {
    match ev {
        RunEvent::Updated(rec) => {
            let rec = *rec;
            let id = rec.id;
            if rec.owner_pid == std::process::id() && !rec.status.is_terminal() {
                state.local_runs.insert(id);
            } else if rec.status.is_terminal() {
                state.local_runs.remove(&id);
            }
            upsert_run(state, rec);
            state.dirty = true;
            let mut fx: Vec<Effect> = Vec::new();
            let wants_evidence = state.selected_run == Some(id) || state.run(id).is_some_and(|r| r.record.waiting_gates().next().is_some());
            if wants_evidence {
                fx.extend(ensure_evidence(state, id, false));
            }
            if state.selected_run.is_none() {
                fx.extend(select_run(state, id));
                return fx;
            }
            if state.selected_run == Some(id) {
                if state.selected_job.is_none() {
                    state.selected_job = default_job(state.run(id).map(|r| &r.record));
                }
                fx.extend(ensure_log(state));
            }
            fx
        }
        RunEvent::Log { run, job, lines } => {
            let caps = state.log_caps;
            let selected = state.selected_run == Some(run) && state.selected_job.as_deref() == Some(job.as_str());
            let query = state.log.search.as_ref().map(|s| s.query.clone()).filter(|q| !q.is_empty());
            let Some(view) = state.run_mut(run) else {
                return Vec::new();
            };
            let entry =
                view.logs.entry(job).or_insert_with(|| JobLog { store: LogStore::new(caps.max_lines, caps.max_bytes), from_disk: false });
            if entry.from_disk {
                return Vec::new(); // a finished job's log already read whole from disk
            }
            let before = entry.store.end_seq();
            for l in &lines {
                entry.store.push_raw(l.ts_ms, l.stream, &l.bytes);
            }
            if selected {
                let added = entry.store.end_seq() - before;
                let first = entry.store.first_seq();
                let new_matches: Vec<u64> = match &query {
                    Some(q) => {
                        let m = crate::logstore::store_matcher(q);
                        (before..before + added).filter(|seq| entry.store.get(*seq).is_some_and(|l| m.is_match(&l.text))).collect()
                    }
                    None => Vec::new(),
                };
                if let Some(s) = state.log.search.as_mut() {
                    s.matches.retain(|m| *m >= first);
                    s.matches.extend(new_matches);
                }
                if !state.log.follow {
                    state.log.new_lines += added;
                }
                state.dirty = true;
            }
            Vec::new()
        }
        RunEvent::Problem { run, message } => {
            match run {
                Some(r) => state.toast_error(format!("run #{r}: {message}")),
                None => state.toast_error(message),
            }
            Vec::new()
        }
    }
}

/// Inserts or replaces a run record, keeping the newest-first order and the logs already held.
fn upsert_run(state: &mut State, rec: RunRecord) {
    if let Some(view) = state.run_mut(rec.id) {
        // Jobs sent back to pending by a retry start a fresh log on screen.
        let reset: Vec<String> = rec
            .jobs
            .iter()
            .filter(|j| j.status == JobStatus::Pending && view.record.job(&j.key).is_some_and(|old| old.status.is_terminal()))
            .map(|j| j.key.clone())
            .collect();
        for k in reset {
            view.logs.remove(&k);
        }
        view.record = rec;
    } else {
        let pos = state.runs.iter().position(|r| r.record.id < rec.id).unwrap_or(state.runs.len());
        state.runs.insert(pos, RunView::new(rec));
    }
}

/// The job to show first: one that is running, waiting or failed, else the first.
fn default_job(rec: Option<&RunRecord>) -> Option<String> {
    let rec = rec?;
    let pick = |s: &[JobStatus]| rec.jobs.iter().find(|j| s.contains(&j.status)).map(|j| j.key.clone());
    pick(&[JobStatus::Running, JobStatus::Waiting])
        .or_else(|| pick(&[JobStatus::Failed, JobStatus::TimedOut]))
        .or_else(|| rec.jobs.iter().rev().find(|j| j.status != JobStatus::Pending && j.status != JobStatus::Skipped).map(|j| j.key.clone()))
        .or_else(|| rec.jobs.first().map(|j| j.key.clone()))
}

fn select_run(state: &mut State, id: RunId) -> Vec<Effect> {
    if state.selected_run != Some(id) {
        state.selected_run = Some(id);
        state.selected_job = default_job(state.run(id).map(|r| &r.record));
        state.findings_view.cursor = 0;
        reset_log_view(state);
    }
    state.dirty = true;
    ensure_log(state).into_iter().chain(ensure_evidence(state, id, false)).collect()
}

fn select_job(state: &mut State, key: String) -> Vec<Effect> {
    if state.selected_job.as_deref() != Some(&key) {
        state.selected_job = Some(key);
        reset_log_view(state);
    }
    state.dirty = true;
    ensure_log(state).into_iter().collect()
}

fn reset_log_view(state: &mut State) {
    let (wrap, timestamps) = (state.log.wrap, state.log.timestamps);
    state.log = Default::default();
    state.log.wrap = wrap;
    state.log.timestamps = timestamps;
    state.pending_log = None;
}

/// Asks for the selected job's log from disk when it finished before we were watching.
/// Asks for the selected service's analysis when its data cadence says it is due (never once per
/// frame: at most once per interval, and never while an answer is outstanding).
pub(super) fn canary_refresh(state: &mut State) -> Option<Effect> {
    let (service, every) = match state.screen {
        Screen::Canary => state.canary.services.get(state.canary.selected)?.clone(),
        // The overview shows the selected rollout's error delta.
        Screen::Overview => {
            let (spec, _) = state.rollouts.selected()?;
            let name = spec.service.clone()?;
            state.canary.services.iter().find(|(s, _)| *s == name)?.clone()
        }
        // The opened Argo Rollout, when a service judges its canary.
        Screen::Argo => {
            let name = state.argo.services.get(&state.argo.detail.as_ref()?.key)?;
            state.canary.services.iter().find(|(s, _)| s == name)?.clone()
        }
        _ => return None,
    };
    let window = super::state::CANARY_WINDOWS[state.canary.window % super::state::CANARY_WINDOWS.len()].1;
    let now = state.now;
    let request = state.next_request;
    let d = state.canary.data.entry(service.clone()).or_default();
    let due = d.asked_at.is_none_or(|t| now.as_second() - t.as_second() >= every);
    if !due || d.pending.is_some() {
        return None;
    }
    d.asked_at = Some(now);
    d.pending = Some(request);
    state.next_request += 1;
    Some(Effect::Analyse { request, service, window })
}

/// The selected run's findings that match the filter, most severe first.
pub fn visible_findings(state: &State) -> Vec<&crate::findings::Finding> {
    let Some(ev) = state.current_run().and_then(|r| r.evidence.as_ref()) else { return Vec::new() };
    ev.findings.iter().filter(|f| state.findings_view.matches(f)).collect()
}

fn selected_finding(state: &State) -> Option<&crate::findings::Finding> {
    visible_findings(state).get(state.findings_view.cursor).copied()
}

/// Asks for a run's security evidence when it is missing or out of date. `force` rereads it.
fn ensure_evidence(state: &mut State, run: RunId, force: bool) -> Option<Effect> {
    let acceptances = state.acceptances.clone();
    let view = state.run_mut(run)?;
    if !view.record.jobs.iter().any(|j| !j.reports.is_empty()) {
        // Nothing declares reports: the evidence is empty, and complete.
        view.evidence = Some(crate::findings::Evidence { acceptances, ..Default::default() });
        return None;
    }
    let sig = view.evidence_signature();
    if !force && view.evidence_of == sig && view.evidence.is_some() {
        return None;
    }
    view.evidence_of = sig;
    Some(Effect::LoadFindings { run })
}

fn ensure_log(state: &mut State) -> Option<Effect> {
    let run = state.current_run()?;
    let job = state.current_job()?;
    if run.logs.contains_key(&job.key) || !job.status.is_terminal() || state.pending_log.is_some() {
        return None;
    }
    let (run_id, key) = (run.record.id, job.key.clone());
    let request = state.request_id();
    state.pending_log = Some(request);
    Some(Effect::LoadLog { request, run: run_id, job: key })
}

fn on_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    if ev.kind == KeyEventKind::Release {
        return Vec::new();
    }
    state.dirty = true;
    match state.overlay.take() {
        Some(Overlay::Help { scroll }) => {
            match state.keymap.resolve(state.context(), &ev) {
                Some(Command::Down) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_add(1) }),
                Some(Command::Up) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(1) }),
                Some(Command::PageDown) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_add(10) }),
                Some(Command::PageUp) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(10) }),
                _ => {} // any other key closes help
            }
            Vec::new()
        }
        Some(Overlay::Confirm(c)) => on_confirm_key(state, c, ev),
        Some(Overlay::Input(input)) => on_input_key(state, input, ev),
        None if state.screen == Screen::Argo && state.argo.picker.is_some() => {
            let cmd = state.keymap.resolve(state.context(), &ev);
            match super::argo::picker_key(state, &ev, cmd) {
                Some(Ok(op)) => request(state, op),
                Some(Err(e)) => {
                    state.toast_error(e);
                    Vec::new()
                }
                None => Vec::new(),
            }
        }
        None => match state.keymap.resolve(state.context(), &ev) {
            Some(cmd) => run_command(state, cmd),
            None => {
                state.dirty = false;
                Vec::new()
            }
        },
    }
}

fn on_confirm_key(state: &mut State, mut c: Box<Confirm>, ev: KeyEvent) -> Vec<Effect> {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    if ev.code == KeyCode::Esc || (ctrl && ev.code == KeyCode::Char('c')) {
        return Vec::new(); // Esc always cancels
    }
    if c.frozen.is_some() {
        if state.keymap.resolve(state.context(), &ev) == Some(Command::BreakGlass) {
            // Break-glass: the strongest confirmation, a reason, and a loud journal record.
            c.frozen = None;
            c.break_glass = true;
            c.tier = Tier::Typed;
            c.field = ConfirmField::Name;
            c.title = format!("BREAK-GLASS: {}", c.title);
        } else if matches!(ev.code, KeyCode::Char('n') | KeyCode::Char('q')) {
            return Vec::new();
        }
        state.overlay = Some(Overlay::Confirm(c));
        return Vec::new();
    }
    if c.tier == Tier::Typed {
        match ev.code {
            KeyCode::Tab | KeyCode::BackTab => {
                let forward = ev.code == KeyCode::Tab;
                let order: Vec<ConfirmField> = if c.expiry.is_some() {
                    vec![ConfirmField::Name, ConfirmField::Reason, ConfirmField::Expiry, ConfirmField::Buttons]
                } else {
                    vec![ConfirmField::Name, ConfirmField::Reason, ConfirmField::Buttons]
                };
                let i = order.iter().position(|f| *f == c.field).unwrap_or(0);
                c.field = if forward { order[(i + 1) % order.len()] } else { order[(i + order.len() - 1) % order.len()] };
            }
            KeyCode::Enter if c.field == ConfirmField::Name => c.field = ConfirmField::Reason,
            KeyCode::Enter if c.field == ConfirmField::Reason && c.expiry.is_some() => c.field = ConfirmField::Expiry,
            KeyCode::Enter if c.field == ConfirmField::Buttons && !c.yes_focused => return Vec::new(),
            KeyCode::Enter => {
                if c.blocked().is_none() {
                    return confirmed(state, *c);
                }
                c.field = if c.typed_name() != c.target.as_ref().map(|t| t.name.clone()).unwrap_or_default() {
                    ConfirmField::Name
                } else {
                    ConfirmField::Reason
                };
            }
            KeyCode::Left | KeyCode::Right if c.field == ConfirmField::Buttons => c.yes_focused = !c.yes_focused,
            _ => match c.field {
                ConfirmField::Name => {
                    c.name.input(ev);
                }
                ConfirmField::Reason => {
                    c.reason.input(ev);
                }
                ConfirmField::Expiry => {
                    if let Some(e) = c.expiry.as_mut() {
                        e.input(ev);
                    }
                }
                ConfirmField::Buttons => {}
            },
        }
        state.overlay = Some(Overlay::Confirm(c));
        return Vec::new();
    }
    match ev.code {
        KeyCode::Char('y') | KeyCode::Char('Y') => confirmed(state, *c),
        KeyCode::Char('n') | KeyCode::Char('N') => Vec::new(),
        KeyCode::Enter if c.yes_focused => confirmed(state, *c),
        KeyCode::Enter => Vec::new(),
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right | KeyCode::Char('h') | KeyCode::Char('l') => {
            c.yes_focused = !c.yes_focused;
            state.overlay = Some(Overlay::Confirm(c));
            Vec::new()
        }
        _ => {
            // Anything else keeps the question open: a stray key must not decide it.
            state.overlay = Some(Overlay::Confirm(c));
            Vec::new()
        }
    }
}

fn on_input_key(state: &mut State, mut input: Box<Input>, ev: KeyEvent) -> Vec<Effect> {
    match ev.code {
        KeyCode::Esc => {
            if input.kind == InputKind::Filter {
                // Esc abandons the edit; the filter that was there before stays.
                state.filter = input.suggestions.first().cloned().unwrap_or_default();
            }
            Vec::new()
        }
        KeyCode::Enter => submit_input(state, input),
        KeyCode::Tab if input.kind == InputKind::Command => {
            let line = input.value();
            let candidates = command::complete(&line, state);
            let completed = match candidates.len() {
                0 => line.clone(),
                1 => format!("{} ", candidates[0]),
                _ => command::common_prefix(&candidates),
            };
            if completed.len() >= line.len() {
                input.text = single_line(&completed);
            }
            input.suggestions = candidates;
            state.overlay = Some(Overlay::Input(input));
            Vec::new()
        }
        KeyCode::Char('m') | KeyCode::Char('j') if ev.modifiers.contains(KeyModifiers::CONTROL) => submit_input(state, input),
        _ => {
            input.text.input(ev);
            state.overlay = Some(Overlay::Input(input));
            after_input_edit(state);
            Vec::new()
        }
    }
}

/// Live effects of typing: the runs filter applies as you type, the command line suggests.
fn after_input_edit(state: &mut State) {
    let Some(Overlay::Input(input)) = &state.overlay else {
        return;
    };
    let value = input.value();
    match input.kind {
        InputKind::Filter => {
            state.filter = value;
            keep_selection_visible(state);
        }
        InputKind::Command => {
            let s = command::complete(&value, state);
            if let Some(Overlay::Input(input)) = &mut state.overlay {
                input.suggestions = s;
            }
        }
        InputKind::Search => {}
        InputKind::AuditFilter => {
            state.audit.filter = value;
            state.audit.cursor = 0;
        }
        InputKind::FindingsFilter => {
            state.findings_view.filter = value;
            state.findings_view.cursor = 0;
        }
    }
}

fn keep_selection_visible(state: &mut State) {
    let visible: Vec<RunId> = state.visible_runs().iter().map(|r| r.record.id).collect();
    if let Some(sel) = state.selected_run
        && !visible.contains(&sel)
        && let Some(first) = visible.first()
    {
        let _ = select_run(state, *first);
    }
}

fn submit_input(state: &mut State, input: Box<Input>) -> Vec<Effect> {
    let value = input.value();
    match input.kind {
        InputKind::Filter => {
            state.filter = value.trim().to_string();
            keep_selection_visible(state);
            Vec::new()
        }
        InputKind::Search => {
            search(state, value.trim());
            Vec::new()
        }
        InputKind::AuditFilter => {
            state.audit.filter = value.trim().to_string();
            state.audit.cursor = 0;
            Vec::new()
        }
        InputKind::FindingsFilter => {
            state.findings_view.filter = value.trim().to_string();
            state.findings_view.cursor = 0;
            Vec::new()
        }
        InputKind::Command => match command::parse(&value) {
            Ok(cmd) => line_command(state, cmd),
            Err(e) => {
                state.toast_error(e);
                Vec::new()
            }
        },
    }
}

fn line_command(state: &mut State, cmd: LineCommand) -> Vec<Effect> {
    match cmd {
        LineCommand::Run(None) => run_command(state, Command::Trigger),
        LineCommand::Run(Some(p)) => request_trigger(state, Some(p)),
        LineCommand::Open(id) => {
            if state.run(id).is_none() {
                state.toast_error(format!("there is no run #{id}"));
                return Vec::new();
            }
            state.filter.clear();
            state.focus = Pane::Jobs;
            select_run(state, id)
        }
        LineCommand::Cancel => run_command(state, Command::Cancel),
        LineCommand::Retry => run_command(state, Command::Retry),
        LineCommand::Approve => run_command(state, Command::Approve),
        LineCommand::Reject => run_command(state, Command::Reject),
        LineCommand::Filter(f) => {
            state.filter = f;
            keep_selection_visible(state);
            Vec::new()
        }
        LineCommand::Theme(name) => vec![Effect::LoadTheme { name }],
        LineCommand::Wrap => run_command(state, Command::LogWrap),
        LineCommand::Timestamps => run_command(state, Command::LogTimestamps),
        LineCommand::Follow => run_command(state, Command::LogFollow),
        LineCommand::Help => run_command(state, Command::Help),
        LineCommand::Quit => run_command(state, Command::Quit),
        LineCommand::Inject(fault) => inject(state, fault),
        LineCommand::Context(c) => super::argo::switch(state, Some(c), None),
        LineCommand::Namespace(ns) => super::argo::switch(state, None, Some(ns)),
    }
}

fn single_line(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

fn open_input(state: &mut State, kind: InputKind, initial: &str) {
    let mut input = Input { kind, text: single_line(initial), suggestions: Vec::new() };
    if kind == InputKind::Filter {
        // Remember the filter in force so Esc can restore it.
        input.suggestions = vec![state.filter.clone()];
    }
    state.overlay = Some(Overlay::Input(Box::new(input)));
    if kind == InputKind::Command {
        after_input_edit(state);
    }
}

fn run_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    if super::keymap::def_of(cmd).mutating && state.read_only {
        state.toast_error(format!(
            "read-only mode: `{}` is disabled (flightdeck was started with --read-only)",
            super::keymap::def_of(cmd).name
        ));
        return Vec::new();
    }
    match cmd {
        Command::Quit => {
            let active = state.local_runs.iter().filter(|id| state.run(**id).is_some_and(|r| !r.record.status.is_terminal())).count();
            if active > 0 {
                let lines = vec![
                    format!("{active} run{} executing in this cockpit.", if active == 1 { " is" } else { "s are" }),
                    "Quitting cancels them and ends their processes.".into(),
                ];
                let c = Confirm::new("Quit flightdeck?".into(), lines, ConfirmOp::Quit { runs: active }, Tier::YesNo, None, Vec::new());
                state.overlay = Some(Overlay::Confirm(Box::new(c)));
                return Vec::new();
            }
            state.quit = true;
            vec![Effect::Quit]
        }
        Command::Help => {
            state.overlay = Some(Overlay::Help { scroll: 0 });
            Vec::new()
        }
        Command::CommandLine => {
            open_input(state, InputKind::Command, "");
            Vec::new()
        }
        Command::Filter => {
            if state.screen == Screen::Findings {
                let f = state.findings_view.filter.clone();
                open_input(state, InputKind::FindingsFilter, &f);
            } else if state.screen == Screen::Audit {
                let f = state.audit.filter.clone();
                open_input(state, InputKind::AuditFilter, &f);
            } else if state.focus == Pane::Log && state.screen == Screen::Pipelines {
                let q = state.log.search.as_ref().map(|s| s.query.clone()).unwrap_or_default();
                open_input(state, InputKind::Search, &q);
            } else {
                let f = state.filter.clone();
                open_input(state, InputKind::Filter, &f);
            }
            Vec::new()
        }
        Command::Back => {
            if let Some(pos) = state.toasts.iter().rposition(|t| t.level == ToastLevel::Error) {
                state.toasts.remove(pos);
            } else if state.screen == Screen::Audit && !state.audit.filter.is_empty() {
                state.audit.filter.clear();
            } else if state.screen == Screen::Findings && !state.findings_view.filter.is_empty() {
                state.findings_view.filter.clear();
            } else if state.screen == Screen::Argo && state.argo.detail.is_some() {
                state.argo.detail = None;
                return vec![Effect::ArgoDetail { key: None }];
            } else if state.screen != Screen::Pipelines {
                state.screen = Screen::Pipelines;
            } else if state.focus == Pane::Log && state.log.search.is_some() {
                state.log.search = None;
            } else {
                match state.focus {
                    Pane::Log => state.focus = Pane::Jobs,
                    Pane::Jobs => state.focus = Pane::Runs,
                    Pane::Runs if !state.filter.is_empty() => state.filter.clear(),
                    Pane::Runs => state.dirty = false,
                }
            }
            Vec::new()
        }
        Command::FocusNext => {
            state.focus = match state.focus {
                Pane::Runs => Pane::Jobs,
                Pane::Jobs => Pane::Log,
                Pane::Log => Pane::Runs,
            };
            Vec::new()
        }
        Command::FocusPrev => {
            state.focus = match state.focus {
                Pane::Runs => Pane::Log,
                Pane::Jobs => Pane::Runs,
                Pane::Log => Pane::Jobs,
            };
            Vec::new()
        }
        Command::Open if state.screen == Screen::Approvals => {
            let Some((run, job)) = state.waiting_gates().get(state.approvals_cursor).map(|(r, j)| (r.id, j.key.clone())) else {
                return Vec::new();
            };
            state.screen = Screen::Pipelines;
            state.focus = Pane::Log;
            state.filter.clear();
            let mut fx = select_run(state, run);
            fx.extend(select_job(state, job));
            fx
        }
        Command::Open if state.screen == Screen::Overview => open_release(state, Screen::Pipelines),
        Command::Open if state.screen == Screen::Argo => super::argo::open(state),
        Command::ScreenArgo => super::argo::show(state),
        Command::Rollout(_) | Command::ArgoRestart | Command::ArgoTerminate if state.screen == Screen::Argo => {
            // Undo has no operation yet: it opens the revision picker.
            let result = match super::argo::op_for(state, cmd) {
                Some(op) => op.map(Some),
                None => super::argo::start_undo(state).map(|_| None),
            };
            match result {
                Ok(Some(op)) => request(state, op),
                Ok(None) => Vec::new(),
                Err(e) => {
                    state.toast_error(e);
                    Vec::new()
                }
            }
        }
        Command::ArgoRestart | Command::ArgoTerminate => {
            state.toast_info("restart and terminate are for Argo Rollouts (7)");
            Vec::new()
        }
        Command::ReleaseFindings => open_release(state, Screen::Findings),
        Command::ReleaseApproval => open_release_approval(state),
        Command::Open => {
            match state.focus {
                Pane::Runs if state.selected_run.is_some() => state.focus = Pane::Jobs,
                Pane::Jobs if state.selected_job.is_some() => state.focus = Pane::Log,
                _ => {}
            }
            Vec::new()
        }
        Command::Up
        | Command::Down
        | Command::PageUp
        | Command::PageDown
        | Command::Top
        | Command::Bottom
        | Command::Left
        | Command::Right => navigate(state, cmd),
        Command::Trigger => {
            let pipeline = state.current_run().map(|r| r.record.pipeline.clone()).or_else(|| state.fallback_pipeline.clone());
            request_trigger(state, pipeline)
        }
        Command::Cancel | Command::Retry => {
            let Some(run) = state.selected_run else {
                state.toast_error("no run selected");
                return Vec::new();
            };
            let op = if cmd == Command::Cancel { Operation::Cancel { run } } else { Operation::Retry { run } };
            request(state, op)
        }
        Command::Approve | Command::Reject => {
            let approve = cmd == Command::Approve;
            let gate = match state.screen {
                Screen::Approvals => state.waiting_gates().get(state.approvals_cursor).map(|(r, j)| (r.id, j.key.clone())),
                _ => state.current_run().and_then(|run| {
                    let selected = state.current_job().filter(|j| j.status == JobStatus::Waiting).map(|j| j.key.clone());
                    selected.or_else(|| run.record.waiting_gates().next().map(|j| j.key.clone())).map(|k| (run.record.id, k))
                }),
            };
            let Some((run, job)) = gate else {
                state.toast_error(match state.selected_run {
                    Some(id) if state.screen == Screen::Pipelines => format!("run #{id} has no gate waiting for a decision"),
                    _ => "no gate is waiting for a decision".to_string(),
                });
                return Vec::new();
            };
            request(state, Operation::Gate { run, job, approve })
        }
        Command::ScreenPipelines | Command::ScreenApprovals | Command::ScreenAudit | Command::ScreenFindings => {
            state.screen = match cmd {
                Command::ScreenApprovals => Screen::Approvals,
                Command::ScreenAudit => Screen::Audit,
                Command::ScreenFindings => Screen::Findings,
                _ => Screen::Pipelines,
            };
            match state.screen {
                Screen::Audit => load_audit(state).into_iter().collect(),
                Screen::Findings => {
                    state.findings_view.cursor = 0;
                    state.selected_run.and_then(|id| ensure_evidence(state, id, true)).into_iter().collect()
                }
                Screen::Approvals => {
                    let ids: Vec<RunId> = state.waiting_gates().iter().map(|(r, _)| r.id).collect();
                    ids.into_iter().filter_map(|id| ensure_evidence(state, id, false)).collect()
                }
                Screen::Pipelines | Screen::Canary | Screen::Overview | Screen::Argo => Vec::new(),
            }
        }
        Command::ScreenCanary => {
            state.screen = Screen::Canary;
            canary_refresh(state).into_iter().collect()
        }
        Command::ScreenOverview => {
            state.screen = Screen::Overview;
            overview_refresh(state)
        }
        Command::Rollout(action) => match rollout_op(state, action) {
            Ok(op) => request(state, op),
            Err(e) => {
                state.toast_error(e);
                Vec::new()
            }
        },
        Command::AcceptRisk => {
            let Some(run) = state.selected_run else { return Vec::new() };
            let Some(f) = selected_finding(state).cloned() else {
                state.toast_error("select a finding first (3 shows the findings of the selected run)");
                return Vec::new();
            };
            let file = state.acceptances.path.clone().unwrap_or_else(|| std::path::PathBuf::from("risk-acceptances.toml"));
            request(
                state,
                Operation::AcceptRisk {
                    run,
                    id: f.id.clone(),
                    package: f.package.clone(),
                    target: f.target.clone(),
                    severity: f.severity,
                    expires: None,
                    file,
                },
            )
        }
        Command::InjectFault => {
            let next = state.canary.demo.map(|d| d.pending.unwrap_or(d.fault).next()).unwrap_or_default();
            inject(state, next)
        }
        Command::BreakGlass => {
            state.dirty = false;
            Vec::new()
        }
        Command::LogFollow => {
            state.log.follow = !state.log.follow;
            if state.log.follow {
                state.log.new_lines = 0;
            } else {
                state.log.top = current_top(state);
            }
            Vec::new()
        }
        Command::LogWrap => {
            state.log.wrap = !state.log.wrap;
            state.log.hscroll = 0;
            Vec::new()
        }
        Command::LogTimestamps => {
            state.log.timestamps = !state.log.timestamps;
            Vec::new()
        }
        Command::LogNextMatch | Command::LogPrevMatch => {
            step_match(state, cmd == Command::LogNextMatch);
            Vec::new()
        }
        Command::LogFirstError => {
            let found = state.current_log().and_then(|l| l.store.first_error(l.store.first_seq()));
            match found {
                Some(seq) => jump_to(state, seq),
                None => state.toast_info("no line that looks like an error in this log"),
            }
            Vec::new()
        }
    }
}

fn request_trigger(state: &mut State, pipeline: Option<String>) -> Vec<Effect> {
    let Some(pipeline) = pipeline else {
        if state.pipelines.is_empty() {
            state.toast_error("no pipeline is configured; see config.example.toml");
        } else {
            open_input(state, InputKind::Command, "run ");
        }
        return Vec::new();
    };
    if !state.pipelines.contains(&pipeline) {
        state.toast_error(format!("no pipeline named `{pipeline}` (configured: {})", state.pipelines.join(", ")));
        return Vec::new();
    }
    request(state, Operation::Trigger { pipeline })
}

/// Describes the target as the user sees it now.
fn describe(state: &State, op: &Operation) -> Result<ops::Target, String> {
    let (run, envs) = match op {
        Operation::StartRollout { name, .. } | Operation::Rollout { name, .. } => {
            let spec = state.rollouts.specs.iter().find(|s| &s.name == name).ok_or_else(|| format!("no rollout named `{name}`"))?;
            let rec = state.rollouts.records.get(name).ok_or_else(|| format!("{name}: its state has not been read yet"))?;
            return ops::describe_rollout(op, rec, spec);
        }
        Operation::Argo { namespace, name, .. } => {
            let key = format!("{namespace}/{name}");
            let r = state.argo.rollouts.get(&key).ok_or_else(|| format!("{key} is not in the watched list any more"))?;
            let revisions = state.argo.detail.as_ref().filter(|d| d.key == key).map(|d| d.revisions.as_slice()).unwrap_or_default();
            return ops::describe_argo(op, r, revisions, state.argo.environment(), state.now);
        }
        Operation::Trigger { pipeline } => (None, state.pipeline_envs.get(pipeline).cloned().unwrap_or_default()),
        Operation::Cancel { run } | Operation::Retry { run } | Operation::Gate { run, .. } | Operation::AcceptRisk { run, .. } => {
            (state.run(*run).map(|r| &r.record), Vec::new())
        }
    };
    ops::describe(op, run, &envs)
}

fn verdict(state: &State, op: &Operation, target: &ops::Target, break_glass: bool) -> Verdict {
    state.policy.evaluate(&Request {
        kind: op.kind(),
        environments: target.environments.clone(),
        actor: &state.identity.actor,
        run_triggered_by: target.triggered_by.as_deref(),
        now: state.now,
        break_glass,
        security: match op {
            Operation::Gate { run, .. } => state.run(*run).and_then(|r| r.evidence.as_ref()),
            Operation::Rollout { name, .. } => {
                state.rollouts.records.get(name).and_then(|r| r.run).and_then(|id| state.run(id)).and_then(|r| r.evidence.as_ref())
            }
            _ => None,
        },
    })
}

/// The single entry point for a change: policy first, then the confirmation it asks for.
fn request(state: &mut State, op: Operation) -> Vec<Effect> {
    if state.in_flight.contains(&op.key()) {
        state.toast_info(format!("{} is already in progress", op.key()));
        return Vec::new();
    }
    let target = match describe(state, &op) {
        Ok(t) => t,
        Err(e) => {
            state.toast_error(e);
            return Vec::new();
        }
    };
    let title = confirm_title(&op, &target);
    match verdict(state, &op, &target, false) {
        Verdict::Refused { rule, message, break_glass_possible: true } => {
            let lines = target.effect.clone();
            let mut c = Confirm::new(title, lines, ConfirmOp::Op(op), Tier::Typed, Some(target), vec![format!("refused by {rule}")]);
            c.frozen = Some(message);
            state.overlay = Some(Overlay::Confirm(Box::new(c)));
            Vec::new()
        }
        Verdict::Refused { rule, message, .. } => refuse(state, &op, &target, &format!("{message} [{rule}]")),
        Verdict::Allowed { tier: Tier::None, .. } => execute(state, op, target, Tier::None, String::new(), false),
        Verdict::Allowed { tier, notes, .. } => {
            let needs_expiry = matches!(op, Operation::AcceptRisk { .. });
            let mut c = Confirm::new(
                title,
                target.effect.clone(),
                ConfirmOp::Op(op),
                tier.max(if needs_expiry { Tier::Typed } else { Tier::None }),
                Some(target),
                notes,
            );
            if needs_expiry {
                let default = state
                    .now
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date()
                    .checked_add(jiff::Span::new().days(30))
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                c.expiry = Some(single_line(&default));
            }
            state.overlay = Some(Overlay::Confirm(Box::new(c)));
            Vec::new()
        }
    }
}

/// Starts a pipeline on the user's behalf without a dialog (the demo's opening move); the policy
/// still decides and the journal still records it.
pub fn start_without_dialog(state: &mut State, pipeline: &str) -> Vec<Effect> {
    let op = Operation::Trigger { pipeline: pipeline.to_string() };
    let Ok(target) = describe(state, &op) else { return Vec::new() };
    match verdict(state, &op, &target, false) {
        Verdict::Allowed { tier, .. } if tier < Tier::Typed => execute(state, op, target, tier, "demo start".into(), false),
        _ => request(state, op),
    }
}

/// What pressing a change key would do now, without doing it: `Err(reason)` when the policy (or
/// the state of the selection) would refuse. Render uses it to grey keys with the reason.
/// Whether a key of the current context means anything on this screen (the footer lists only
/// those): fault injection only in the demo, restart and terminate only for Argo Rollouts, the
/// release jumps only for NGINX rollouts.
pub fn offered(state: &State, cmd: Command) -> bool {
    match cmd {
        Command::InjectFault => state.canary.demo.is_some(),
        Command::ArgoRestart | Command::ArgoTerminate => state.screen == Screen::Argo,
        Command::ReleaseFindings | Command::ReleaseApproval => state.screen != Screen::Argo,
        _ => true,
    }
}

pub fn preview(state: &State, cmd: Command) -> Result<(), String> {
    let op = match cmd {
        Command::Trigger => match state.current_run().map(|r| r.record.pipeline.clone()).or_else(|| state.fallback_pipeline.clone()) {
            Some(pipeline) => Operation::Trigger { pipeline },
            None => return Ok(()),
        },
        Command::Cancel | Command::Retry => {
            let Some(run) = state.selected_run else { return Ok(()) };
            if cmd == Command::Cancel { Operation::Cancel { run } } else { Operation::Retry { run } }
        }
        Command::Approve | Command::Reject => {
            let gate = match state.screen {
                Screen::Approvals => state.waiting_gates().get(state.approvals_cursor).map(|(r, j)| (r.id, j.key.clone())),
                _ => state.current_run().and_then(|r| r.record.waiting_gates().next().map(|j| (r.record.id, j.key.clone()))),
            };
            let Some((run, job)) = gate else { return Err("no gate is waiting".into()) };
            Operation::Gate { run, job, approve: cmd == Command::Approve }
        }
        // Greyed in the footer with the reason when the rollout's state, the API server's access
        // review or the policy refuses it.
        Command::Rollout(_) | Command::ArgoRestart | Command::ArgoTerminate if state.screen == Screen::Argo => {
            match super::argo::op_for(state, cmd) {
                Some(op) => op?,
                None => return Ok(()),
            }
        }
        Command::Rollout(action) => rollout_op(state, action)?,
        _ => return Ok(()),
    };
    let target = describe(state, &op)?;
    match verdict(state, &op, &target, false) {
        Verdict::Refused { message, break_glass_possible: false, .. } => Err(message),
        _ => Ok(()),
    }
}

fn confirm_title(op: &Operation, target: &ops::Target) -> String {
    match op {
        Operation::Trigger { pipeline } => format!("Run pipeline `{pipeline}`?"),
        Operation::Cancel { run } => format!("Cancel run #{run}?"),
        Operation::Retry { run } => format!("Retry run #{run}?"),
        Operation::Gate { approve: true, .. } => format!("Approve gate `{}`?", target.name),
        Operation::Gate { approve: false, .. } => format!("Reject gate `{}`?", target.name),
        Operation::AcceptRisk { id, .. } => format!("Accept the risk of {id}?"),
        Operation::StartRollout { name, version, .. } => format!("Roll out {version} on `{name}`?"),
        Operation::Rollout { name, action, .. } => format!("{} `{name}`?", capitalised(action.name())),
        Operation::Argo { namespace, name, action, .. } => format!("{} `{namespace}/{name}`?", capitalised(action.verb())),
    }
}

fn refuse(state: &mut State, op: &Operation, target: &ops::Target, why: &str) -> Vec<Effect> {
    state.toast_error(format!("refused: {why}"));
    let draft = ops::refusal(op, &state.identity, &target.name, &target.environments, target.parameters.clone(), why);
    vec![Effect::Journal(Box::new(draft))]
}

fn execute(state: &mut State, op: Operation, target: ops::Target, tier: Tier, reason: String, break_glass: bool) -> Vec<Effect> {
    state.in_flight.insert(op.key());
    let approved = Approved { op, identity: state.identity.clone(), via: "tui".into(), target, reason, break_glass, tier };
    vec![Effect::Execute(Box::new(approved))]
}

/// The user confirmed. Check the target is still what they saw and the policy still agrees, then
/// act once.
fn confirmed(state: &mut State, c: Confirm) -> Vec<Effect> {
    let reason = c.reason_text();
    let typed = c.typed_name();
    let expiry = c.expiry_date().and_then(Result::ok);
    let op = match c.op {
        ConfirmOp::Quit { .. } => {
            state.quit = true;
            return vec![Effect::Quit];
        }
        ConfirmOp::Op(Operation::AcceptRisk { run, id, package, target, severity, file, .. }) => {
            Operation::AcceptRisk { run, id, package, target, severity, expires: expiry, file }
        }
        ConfirmOp::Op(op) => op,
    };
    if state.in_flight.contains(&op.key()) {
        state.toast_info(format!("{} is already in progress", op.key()));
        return Vec::new();
    }
    let seen = c.target.clone();
    let target = match describe(state, &op) {
        Ok(t) => t,
        Err(e) => {
            let t = seen.unwrap_or_else(|| ops::Target {
                name: op.key(),
                environments: vec![],
                triggered_by: None,
                parameters: serde_json::json!({}),
                effect: vec![],
            });
            return refuse(state, &op, &t, &format!("stale: {e}; nothing was done"));
        }
    };
    match verdict(state, &op, &target, c.break_glass) {
        Verdict::Allowed { tier, break_glass_used, .. } => {
            if tier == Tier::Typed && (reason.is_empty() || typed != target.name) {
                // The policy tightened while the dialog was open: ask again at the new tier.
                let title = confirm_title(&op, &target);
                let mut again = Confirm::new(
                    title,
                    target.effect.clone(),
                    ConfirmOp::Op(op),
                    tier,
                    Some(target),
                    vec!["the policy now requires a typed confirmation".into()],
                );
                again.break_glass = c.break_glass;
                state.overlay = Some(Overlay::Confirm(Box::new(again)));
                return Vec::new();
            }
            execute(state, op, target, tier, reason, break_glass_used)
        }
        Verdict::Refused { rule, message, .. } => refuse(state, &op, &target, &format!("{message} [{rule}]")),
    }
}

pub(super) fn load_audit(state: &mut State) -> Option<Effect> {
    let request = state.request_id();
    state.pending_audit = Some(request);
    state.audit.loading = true;
    Some(Effect::LoadAudit { request })
}

/// Reloads the journal when a screen shows it (after something was written): the audit screen,
/// and the timeline of an opened Argo Rollout.
fn refresh_audit(state: &mut State) -> Option<Effect> {
    if state.screen == Screen::Audit || (state.screen == Screen::Argo && state.argo.detail.is_some()) { load_audit(state) } else { None }
}

/// Moves a list cursor of `len` items.
pub(super) fn step(cursor: usize, len: usize, cmd: Command) -> usize {
    let last = len.saturating_sub(1);
    match cmd {
        Command::Up => cursor.saturating_sub(1),
        Command::Down => (cursor + 1).min(last),
        Command::PageUp => cursor.saturating_sub(10),
        Command::PageDown => (cursor + 10).min(last),
        Command::Top => 0,
        Command::Bottom => last,
        _ => cursor.min(last),
    }
}

fn navigate(state: &mut State, cmd: Command) -> Vec<Effect> {
    match state.screen {
        Screen::Approvals => {
            let n = state.waiting_gates().len();
            state.approvals_cursor = step(state.approvals_cursor, n, cmd);
            return Vec::new();
        }
        Screen::Audit => {
            let n = state.audit.visible().len();
            state.audit.cursor = step(state.audit.cursor, n, cmd);
            return Vec::new();
        }
        Screen::Findings => {
            let n = visible_findings(state).len();
            state.findings_view.cursor = step(state.findings_view.cursor, n, cmd);
            return Vec::new();
        }
        Screen::Canary => {
            match cmd {
                Command::Left | Command::Right => {
                    let n = super::state::CANARY_WINDOWS.len();
                    state.canary.window =
                        if cmd == Command::Left { (state.canary.window + n - 1) % n } else { (state.canary.window + 1) % n };
                    // A new window: ask again now, and drop answers for the old one.
                    for d in state.canary.data.values_mut() {
                        d.asked_at = None;
                        d.pending = None;
                    }
                }
                _ => state.canary.selected = step(state.canary.selected, state.canary.services.len(), cmd),
            }
            return canary_refresh(state).into_iter().collect();
        }
        Screen::Argo => return super::argo::navigate(state, cmd),
        Screen::Overview => {
            state.rollouts.cursor = step(state.rollouts.cursor, state.rollouts.specs.len(), cmd);
            return overview_refresh(state);
        }
        Screen::Pipelines => {}
    }
    match state.focus {
        Pane::Runs => {
            let ids: Vec<RunId> = state.visible_runs().iter().map(|r| r.record.id).collect();
            if ids.is_empty() {
                return Vec::new();
            }
            let cur = state.selected_run.and_then(|s| ids.iter().position(|i| *i == s)).unwrap_or(0);
            let page = 10;
            let next = match cmd {
                Command::Up => cur.saturating_sub(1),
                Command::Down => (cur + 1).min(ids.len() - 1),
                Command::PageUp => cur.saturating_sub(page),
                Command::PageDown => (cur + page).min(ids.len() - 1),
                Command::Top => 0,
                Command::Bottom => ids.len() - 1,
                Command::Right => {
                    state.focus = Pane::Jobs;
                    return Vec::new();
                }
                _ => cur,
            };
            select_run(state, ids[next])
        }
        Pane::Jobs => {
            let Some(run) = state.current_run() else {
                return Vec::new();
            };
            let rec = &run.record;
            let columns: Vec<Vec<String>> = rec
                .stages
                .iter()
                .map(|s| rec.jobs_of(&s.name).map(|j| j.key.clone()).collect())
                .filter(|c: &Vec<String>| !c.is_empty())
                .collect();
            if columns.is_empty() {
                return Vec::new();
            }
            let (mut col, mut row) = state
                .selected_job
                .as_ref()
                .and_then(|k| columns.iter().enumerate().find_map(|(c, jobs)| jobs.iter().position(|j| j == k).map(|r| (c, r))))
                .unwrap_or((0, 0));
            match cmd {
                Command::Left => col = col.saturating_sub(1),
                Command::Right => col = (col + 1).min(columns.len() - 1),
                Command::Up => row = row.saturating_sub(1),
                Command::Down => row += 1,
                Command::Top | Command::PageUp => (col, row) = (0, 0),
                Command::Bottom | Command::PageDown => (col, row) = (columns.len() - 1, usize::MAX),
                _ => {}
            }
            let row = row.min(columns[col].len() - 1);
            let key = columns[col][row].clone();
            select_job(state, key)
        }
        Pane::Log => {
            let rows = layout::log_rows(state) as u64;
            match cmd {
                Command::Up => scroll_up(state, 1),
                Command::Down => scroll_down(state, 1),
                Command::PageUp => scroll_up(state, rows.saturating_sub(1).max(1)),
                Command::PageDown => scroll_down(state, rows.saturating_sub(1).max(1)),
                Command::Top => {
                    let first = state.current_log().map(|l| l.store.first_seq()).unwrap_or(0);
                    state.log.follow = false;
                    state.log.top = first;
                }
                Command::Bottom => {
                    state.log.follow = true;
                    state.log.new_lines = 0;
                }
                Command::Left if !state.log.wrap => state.log.hscroll = state.log.hscroll.saturating_sub(8),
                Command::Right if !state.log.wrap => state.log.hscroll += 8,
                _ => {}
            }
            Vec::new()
        }
    }
}

/// The sequence number of the top visible log line.
pub fn current_top(state: &State) -> u64 {
    let Some(log) = state.current_log() else {
        return 0;
    };
    let rows = layout::log_rows(state) as u64;
    let (first, end) = (log.store.first_seq(), log.store.end_seq());
    let bottom_top = end.saturating_sub(rows).max(first);
    if state.log.follow { bottom_top } else { state.log.top.clamp(first, bottom_top) }
}

fn scroll_up(state: &mut State, n: u64) {
    let top = current_top(state);
    let first = state.current_log().map(|l| l.store.first_seq()).unwrap_or(0);
    state.log.top = top.saturating_sub(n).max(first);
    state.log.follow = false;
}

fn scroll_down(state: &mut State, n: u64) {
    if state.log.follow {
        return;
    }
    let Some(log) = state.current_log() else {
        return;
    };
    let rows = layout::log_rows(state) as u64;
    let bottom_top = log.store.end_seq().saturating_sub(rows).max(log.store.first_seq());
    let top = current_top(state) + n;
    if top >= bottom_top {
        state.log.follow = true;
        state.log.new_lines = 0;
    } else {
        state.log.top = top;
    }
}

fn jump_to(state: &mut State, seq: u64) {
    let rows = layout::log_rows(state) as u64;
    let first = state.current_log().map(|l| l.store.first_seq()).unwrap_or(0);
    state.log.follow = false;
    state.log.top = seq.saturating_sub(rows / 3).max(first);
}

fn search(state: &mut State, query: &str) {
    if query.is_empty() {
        state.log.search = None;
        return;
    }
    let top = current_top(state);
    let Some(log) = state.current_log() else {
        state.toast_error("no log to search; select a job first");
        return;
    };
    let matches = log.store.find_all(query);
    let current = matches.iter().position(|m| *m >= top).or(if matches.is_empty() { None } else { Some(0) });
    let target = current.map(|i| matches[i]);
    if matches.is_empty() {
        state.toast_info(format!("no line matches `{query}`"));
    }
    state.log.search = Some(Search { query: query.to_string(), matches, current });
    if let Some(seq) = target {
        jump_to(state, seq);
    }
}

fn step_match(state: &mut State, forward: bool) {
    let Some(s) = state.log.search.as_mut() else {
        state.toast_info("no search yet: press / in the log to search");
        return;
    };
    if s.matches.is_empty() {
        let q = s.query.clone();
        state.toast_info(format!("no line matches `{q}`"));
        return;
    }
    let n = s.matches.len();
    let next = match (s.current, forward) {
        (None, _) => 0,
        (Some(i), true) => (i + 1) % n,
        (Some(i), false) => (i + n - 1) % n,
    };
    s.current = Some(next);
    let seq = s.matches[next];
    jump_to(state, seq);
}

/// Elapsed or total duration of a job for display.
pub fn job_duration(job: &crate::domain::JobRecord, now: Timestamp) -> Option<String> {
    crate::util::elapsed(job.started_at, job.finished_at, now).map(format_duration)
}

/// Demo only: asks the demo canary to change its behaviour.
fn inject(state: &mut State, fault: crate::demo::fault::Fault) -> Vec<Effect> {
    let Some(d) = state.canary.demo.as_mut() else {
        state.toast_error("faults can only be injected into the demo's canary (flightdeck demo)");
        return Vec::new();
    };
    d.pending = Some(fault);
    state.dirty = true;
    vec![Effect::InjectFault(fault)]
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// The rollout operation a key asks for, on the selected rollout, with what the user sees now.
fn rollout_op(state: &State, action: crate::rollout::RolloutAction) -> Result<Operation, String> {
    let (spec, rec) = state.rollouts.selected().ok_or("no rollout is selected (6 shows the releases)")?;
    let rec = rec.ok_or_else(|| format!("{}: its state has not been read yet", spec.name))?;
    Ok(Operation::Rollout { name: spec.name.clone(), action, seen: Some(crate::rollout::Seen::of(rec)) })
}

/// Opens the run behind the selected rollout on `screen` (its jobs, or its findings).
fn open_release(state: &mut State, screen: Screen) -> Vec<Effect> {
    let Some((spec, _)) = state.rollouts.selected() else { return Vec::new() };
    let Some(run) = state.release_run(spec) else {
        let msg = format!("no pipeline run deploys to {} yet", spec.environment.as_deref().unwrap_or(&spec.name));
        state.toast_info(msg);
        return Vec::new();
    };
    state.filter.clear();
    let mut fx = select_run(state, run);
    state.screen = screen;
    if screen == Screen::Findings {
        state.findings_view.cursor = 0;
        fx.extend(ensure_evidence(state, run, true));
    } else {
        state.focus = Pane::Jobs;
    }
    fx
}

/// Opens the approvals inbox on the gate waiting for the selected rollout's environment (the
/// rollout's own run first).
fn open_release_approval(state: &mut State) -> Vec<Effect> {
    let Some((spec, _)) = state.rollouts.selected() else { return Vec::new() };
    let env = spec.environment.clone();
    let run = state.release_run(spec);
    let gates = state.waiting_gates();
    let for_env = |j: &crate::domain::JobRecord| env.is_none() || j.gate.as_ref().and_then(|g| g.environment.clone()) == env;
    let found = gates.iter().position(|(r, j)| Some(r.id) == run && for_env(j)).or_else(|| gates.iter().position(|(_, j)| for_env(j)));
    let ids: Vec<RunId> = gates.iter().map(|(r, _)| r.id).collect();
    let Some(i) = found else {
        state.toast_info(format!("nothing is waiting for approval in {}", env.as_deref().unwrap_or("this environment")));
        return Vec::new();
    };
    state.approvals_cursor = i;
    state.screen = Screen::Approvals;
    ids.into_iter().filter_map(|id| ensure_evidence(state, id, false)).collect()
}

/// What the selected rollout's row and keys need: its canary's numbers, and the security findings
/// of the run that started it (promotions are judged by them).
fn overview_refresh(state: &mut State) -> Vec<Effect> {
    let mut effects: Vec<Effect> = canary_refresh(state).into_iter().collect();
    if let Some(run) = state.rollouts.selected().and_then(|(_, rec)| rec?.run) {
        effects.extend(ensure_evidence(state, run, false));
    }
    effects
}
