//! The reducer's part for Argo Rollouts: watch updates into state, the opened rollout, the undo
//! revision picker, context and namespace switches, and the operation a key asks for.

use crate::app::action::ArgoMsg;
use crate::app::effect::Effect;
use crate::app::state::{ArgoConnection, ArgoDetail, Screen, State};
use crate::argo::client::WatchUpdate;
use crate::argo::{ArgoAction, Seen};
use crate::keymap::Command;
use crate::ops::Operation;

/// The watch to (re)start for the current context and namespace.
fn watch(state: &mut State) -> Effect {
    state.argo.watching = true;
    state.argo.connection = ArgoConnection::Connecting;
    let context = (!state.argo.context.is_empty()).then(|| state.argo.context.clone());
    Effect::ArgoWatch { context, namespace: state.argo.namespace.clone() }
}

/// Key 7: the screen, and the watch on the first visit.
pub fn show(state: &mut State) -> Vec<Effect> {
    state.screen = Screen::Argo;
    start_watching(state).into_iter().collect()
}

/// The watch, when a cluster is configured and nothing watches it yet (the Kubernetes screen and
/// the releases list both show what it reports).
pub fn start_watching(state: &mut State) -> Option<Effect> {
    (state.argo.enabled && !state.argo.watching).then(|| watch(state))
}

/// `:ctx NAME` and `:ns NAME|all`.
pub fn switch(state: &mut State, context: Option<String>, namespace: Option<Option<String>>) -> Vec<Effect> {
    if !state.argo.enabled {
        state.toast_error("no Kubernetes is configured: add [kubernetes] to the config (see config.example.toml)");
        return Vec::new();
    }
    if let Some(c) = context {
        if !state.argo.contexts.is_empty() && !state.argo.contexts.contains(&c) {
            state.toast_error(format!("no context `{c}` in the kubeconfig (Tab lists them)"));
            return Vec::new();
        }
        state.argo.context = c;
    }
    if let Some(ns) = namespace {
        state.argo.namespace = ns;
    }
    state.argo.rollouts.clear();
    state.argo.detail = None;
    state.argo.picker = None;
    state.argo.selected = None;
    state.argo.last_update = None;
    state.screen = Screen::Argo;
    state.dirty = true;
    vec![watch(state)]
}

pub fn on_msg(state: &mut State, msg: ArgoMsg) -> Vec<Effect> {
    let now = state.now;
    let a = &mut state.argo;
    match msg {
        ArgoMsg::Connected { context, contexts } => {
            a.context = context;
            a.contexts = contexts;
        }
        ArgoMsg::Watch(update) => {
            a.last_update = Some(now);
            match update {
                WatchUpdate::Reset(all) => {
                    a.rollouts = all.into_iter().map(|r| (r.key(), r)).collect();
                    a.connection = ArgoConnection::Live;
                    // The first row stays selected when the order changes later.
                    if a.selected.is_none() {
                        a.selected = a.ordered(now).first().map(|r| r.key());
                    }
                }
                WatchUpdate::Apply(r) => {
                    a.connection = ArgoConnection::Live;
                    a.rollouts.insert(r.key(), *r);
                }
                WatchUpdate::Delete(key) => {
                    a.rollouts.remove(&key);
                }
                WatchUpdate::Error(e) => a.connection = ArgoConnection::Retrying(e),
            }
        }
        ArgoMsg::Detail(d) => {
            // Re-reads that find nothing new leave the screen alone.
            if a.detail.as_ref().is_none_or(|open| open.key != d.key || *open == *d) {
                return Vec::new();
            }
            a.detail = Some(*d);
        }
        ArgoMsg::Failed(e) => {
            a.connection = ArgoConnection::Retrying(e.clone());
            state.toast_error(format!("Kubernetes: {e}"));
        }
    }
    state.dirty = true;
    Vec::new()
}

/// Enter: open the selected rollout (revisions, analysis runs, events, what you may do).
pub fn open(state: &mut State) -> Vec<Effect> {
    let Some(r) = state.argo.selected(state.now) else { return Vec::new() };
    let key = r.key();
    let release_run = r.release_run();
    state.argo.selected = Some(key.clone());
    state.argo.detail = Some(ArgoDetail { key: key.clone(), ..ArgoDetail::default() });
    // Its canary's numbers when a service judges it, and the journal for its timeline (read
    // once; after an action the journal is read again anyway).
    let mut fx = vec![Effect::ArgoDetail { key: Some(key) }];
    fx.extend(super::canary_refresh(state));
    if state.audit.records.is_empty() && state.pending_audit.is_none() {
        fx.extend(super::load_audit(state));
    }
    // The findings of the run behind it judge its promotions.
    if let Some(run) = release_run {
        fx.extend(super::ensure_evidence(state, run, false));
    }
    fx
}

pub fn navigate(state: &mut State, cmd: Command) -> Vec<Effect> {
    let now = state.now;
    let ordered = state.argo.ordered(now);
    let cur = state.argo.cursor(&ordered);
    let next = super::step(cur, ordered.len(), cmd);
    let key = ordered.get(next).map(|r| r.key());
    state.argo.selected = key;
    // The detail follows the selection when it is open.
    if state.argo.detail.is_some() && next != cur { open(state) } else { Vec::new() }
}

/// The operation a rollout key asks for on the selected Argo Rollout, with what the user sees.
pub fn op(state: &State, action: ArgoAction) -> Result<Operation, String> {
    let r = state.argo.selected(state.now).ok_or("no Argo Rollout is selected")?;
    op_on(state, r, action)
}

/// The operation on rollout `r` (the one selected here or on the releases list).
fn op_on(state: &State, r: &crate::argo::Rollout, action: ArgoAction) -> Result<Operation, String> {
    let op = Operation::Argo {
        context: state.argo.context.clone(),
        namespace: r.metadata.namespace.clone(),
        name: r.metadata.name.clone(),
        action: action.clone(),
        seen: Some(Seen::of(r, state.now)),
    };
    // Know before you press: what the API server said this user may do.
    if let Some(d) = state.argo.detail.as_ref().filter(|d| d.key == r.key())
        && let Some(p) = &d.permissions
    {
        let plan = crate::argo::actions::plan(r, &action, &d.revisions, state.now)?;
        if let Some(why) = p.denies(&plan) {
            return Err(why);
        }
    }
    Ok(op)
}

/// The operation a rollout key asks for on the Argo screen (None for undo: it opens the revision
/// picker first), or why it cannot be done.
pub fn op_for(state: &State, cmd: Command) -> Option<Result<Operation, String>> {
    let r = match state.argo.selected(state.now) {
        Some(r) => r,
        None => return Some(Err("no Argo Rollout is selected".into())),
    };
    op_for_rollout(state, r, cmd)
}

/// `op_for` on rollout `r`.
pub fn op_for_rollout(state: &State, r: &crate::argo::Rollout, cmd: Command) -> Option<Result<Operation, String>> {
    use crate::rollout::RolloutAction as R;
    let action = match cmd {
        Command::Rollout(R::Promote) => ArgoAction::Promote,
        Command::Rollout(R::PromoteFull) => ArgoAction::PromoteFull,
        Command::Rollout(R::Pause) => ArgoAction::Pause,
        Command::Rollout(R::Resume) => ArgoAction::Resume,
        Command::Rollout(R::Abort) => ArgoAction::Abort,
        Command::Rollout(R::Retry) => ArgoAction::Retry,
        Command::ArgoRestart => ArgoAction::Restart,
        Command::ArgoTerminate => match running_analysis(r) {
            Ok(run) => ArgoAction::TerminateAnalysis { run },
            Err(e) => return Some(Err(e)),
        },
        _ => return None,
    };
    Some(op_on(state, r, action))
}

/// The running analysis of rollout `r`, to terminate.
fn running_analysis(r: &crate::argo::Rollout) -> Result<String, String> {
    let c = &r.status.canary;
    [&c.current_step_analysis_run_status, &c.current_background_analysis_run_status]
        .into_iter()
        .flatten()
        .find(|a| matches!(a.status.as_str(), "Running" | "Pending" | ""))
        .map(|a| a.name.clone())
        .ok_or_else(|| format!("{} has no running analysis", r.key()))
}

/// U: the revision picker (the revisions must have been read: Enter opens the rollout).
pub fn start_undo(state: &mut State) -> Result<(), String> {
    let r = state.argo.selected(state.now).ok_or("no Argo Rollout is selected")?;
    let d =
        state.argo.detail.as_ref().filter(|d| d.key == r.key() && d.loaded).ok_or("open the rollout first (Enter) to see its revisions")?;
    if d.revisions.len() < 2 {
        return Err(format!("{} has no earlier revision to go back to", r.key()));
    }
    state.argo.picker = Some(1);
    Ok(())
}

/// Keys while the revision picker is open; Enter asks to undo to the chosen revision.
pub fn picker_key(state: &mut State, cmd: Option<Command>) -> Option<Result<Operation, String>> {
    let i = state.argo.picker?;
    let n = state.argo.detail.as_ref().map(|d| d.revisions.len()).unwrap_or(0);
    match cmd {
        Some(Command::PickerClose | Command::Back) => state.argo.picker = None,
        Some(Command::Up) => state.argo.picker = Some(i.saturating_sub(1)),
        Some(Command::Down) => state.argo.picker = Some((i + 1).min(n.saturating_sub(1))),
        Some(Command::PickerChoose) => {
            state.argo.picker = None;
            let revision = state.argo.detail.as_ref().and_then(|d| d.revisions.get(i)).map(|rs| rs.revision());
            return Some(op(state, ArgoAction::Undo { to_revision: revision }));
        }
        _ => {}
    }
    None
}
