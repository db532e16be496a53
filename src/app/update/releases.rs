//! The release overview and the canary: which analysis to ask for, the jumps from a release to its
//! run, and fault injection where a canary offers it.

use super::*;

/// Asks for the selected service's analysis when its data cadence says it is due (never once per
/// frame: at most once per interval, and never while an answer is outstanding).
pub(crate) fn canary_refresh(state: &mut State) -> Option<Effect> {
    let ((service, every), measured_on) = match state.screen {
        // The service alone: measured where the most pressing release it judges says, if one does.
        Screen::Canary => {
            let (name, every) = state.canary.services.get(state.canary.selected)?.clone();
            let on = state.releases().into_iter().filter(|r| r.service.as_ref() == Some(&name)).find_map(|r| r.measured_on.clone());
            ((name, every), on)
        }
        // The overview shows the selected rollout's error delta.
        // The selected release, when a service judges its canary.
        Screen::Overview | Screen::Release => {
            let release = state.selected_release()?;
            let name = release.service.clone()?;
            (state.canary.services.iter().find(|(s, _)| *s == name)?.clone(), release.measured_on.clone())
        }
        _ => return None,
    };
    let window = crate::app::state::CANARY_WINDOWS[state.canary.window % crate::app::state::CANARY_WINDOWS.len()].1;
    let now = state.now;
    let request = state.next_request;
    let d = state.canary.data.entry(service.clone()).or_default();
    let due = d.asked_at.is_none_or(|t| now.as_second() - t.as_second() >= every) || d.asked_on != measured_on;
    if !due || d.pending.is_some() {
        return None;
    }
    d.asked_at = Some(now);
    d.asked_on = measured_on.clone();
    d.pending = Some(request);
    state.next_request += 1;
    Some(Effect::Analyse { request, service, window, measured_on })
}

/// Asks a canary that offers faults (the demo's) to behave as its fault number `index`.
pub(crate) fn inject(state: &mut State, index: usize) -> Vec<Effect> {
    let Some(d) = state.canary.faults.as_mut() else {
        state.toast_error("faults can only be injected into a canary that offers them, like the demo's (flightdeck demo)");
        return Vec::new();
    };
    let Some(fault) = d.faults.get(index) else { return Vec::new() };
    let name = fault.name.clone();
    d.pending = Some(index);
    state.dirty = true;
    vec![Effect::InjectFault(name)]
}

/// The release the jump keys act on: (its name, the environment it deploys to, the pipeline run
/// behind it when known here).
fn selected_release(state: &State) -> Option<(String, Option<String>, Option<RunRef>)> {
    let r = state.selected_release()?;
    Some((r.reference.short(), r.environment.clone(), state.release_run(r)))
}

/// Opens the run behind the selected rollout on `screen` (its jobs, or its findings).
pub(crate) fn open_release(state: &mut State, screen: Screen) -> Vec<Effect> {
    let Some((name, env, run)) = selected_release(state) else { return Vec::new() };
    let Some(run) = run else {
        let msg = match env {
            Some(env) => format!("no pipeline run deploys to {env} yet, and none is linked to {name}"),
            None => format!("no pipeline run is linked to {name} (deploy it from a flightdeck stage to link one)"),
        };
        state.toast_info(msg);
        return Vec::new();
    };
    state.filter.clear();
    let mut fx = select_run(state, run.clone());
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
pub(crate) fn open_release_approval(state: &mut State) -> Vec<Effect> {
    let Some((_, env, run)) = selected_release(state) else { return Vec::new() };
    let gates = state.waiting_gates();
    let for_env = |j: &crate::domain::JobRecord| env.is_none() || j.gate.as_ref().and_then(|g| g.environment.clone()) == env;
    let found =
        gates.iter().position(|(r, j)| Some(r.id.clone()) == run && for_env(j)).or_else(|| gates.iter().position(|(_, j)| for_env(j)));
    let ids: Vec<RunRef> = gates.iter().map(|(r, _)| r.id.clone()).collect();
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
pub(crate) fn overview_refresh(state: &mut State) -> Vec<Effect> {
    let mut effects: Vec<Effect> = canary_refresh(state).into_iter().collect();
    let run = state.selected_release().and_then(|r| r.run.clone());
    // The selected release's steps and timeline are shown under the list.
    if state.screen == Screen::Overview {
        effects.extend(super::release::open(state));
    }
    if let Some(run) = run {
        effects.extend(ensure_evidence(state, run, false));
    }
    effects
}
