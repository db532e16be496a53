//! The release overview and the canary: which analysis to ask for, the jumps from a release to its
//! run, and fault injection where a canary offers it.

use super::*;

/// Asks for the selected service's analysis when its data cadence says it is due (never once per
/// frame: at most once per interval, and never while an answer is outstanding).
pub(crate) fn canary_refresh(state: &mut State) -> Option<Effect> {
    let (service, every) = match state.screen {
        Screen::Canary => state.canary.services.get(state.canary.selected)?.clone(),
        // The overview shows the selected rollout's error delta.
        Screen::Overview => {
            let name = match state.selected_release()? {
                crate::app::releases::Release::Nginx(spec, _) => spec.service.clone()?,
                crate::app::releases::Release::Argo(r) => state.argo.services.get(&r.key())?.clone(),
            };
            state.canary.services.iter().find(|(s, _)| *s == name)?.clone()
        }
        // The opened Argo Rollout, when a service judges its canary.
        Screen::Argo => {
            let name = state.argo.services.get(&state.argo.detail.as_ref()?.key)?;
            state.canary.services.iter().find(|(s, _)| s == name)?.clone()
        }
        _ => return None,
    };
    let window = crate::app::state::CANARY_WINDOWS[state.canary.window % crate::app::state::CANARY_WINDOWS.len()].1;
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

/// The rollout operation a key asks for, on the selected rollout, with what the user sees now.
pub(crate) fn rollout_op(state: &State, action: crate::rollout::RolloutAction) -> Result<Operation, String> {
    let (spec, rec) = state.selected_nginx().ok_or("no rollout is selected (6 shows the releases)")?;
    let rec = rec.ok_or_else(|| format!("{}: its state has not been read yet", spec.name))?;
    Ok(Operation::Rollout { name: spec.name.clone(), action, seen: Some(crate::rollout::Seen::of(rec)) })
}

/// The release the jump keys act on: the selected rollout of the screen in view, as (its name,
/// the environment it deploys to, the pipeline run behind it when known here).
fn selected_release(state: &State) -> Option<(String, Option<String>, Option<RunRef>)> {
    if let Some(r) =
        selected_argo_release(state).or_else(|| if state.screen == Screen::Argo { state.argo.selected(state.now) } else { None })
    {
        let run = r.release_run().filter(|id| state.run(id).is_some());
        return Some((r.key(), state.argo.environment().map(str::to_string), run));
    }
    let (spec, _) = state.selected_nginx()?;
    Some((spec.name.clone(), spec.environment.clone(), state.release_run(spec)))
}

/// Opens the run behind the selected rollout on `screen` (its jobs, or its findings).
pub(crate) fn open_release(state: &mut State, screen: Screen) -> Vec<Effect> {
    let Some((name, env, run)) = selected_release(state) else { return Vec::new() };
    let Some(run) = run else {
        let msg = if state.screen == Screen::Argo {
            format!("no pipeline run is linked to {name} (deploy it from a flightdeck stage to link one)")
        } else {
            format!("no pipeline run deploys to {} yet", env.as_deref().unwrap_or(&name))
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
    let run = match state.selected_release() {
        Some(crate::app::releases::Release::Nginx(_, rec)) => rec.and_then(|r| r.run.clone()),
        Some(crate::app::releases::Release::Argo(r)) => r.release_run(),
        None => None,
    };
    if let Some(run) = run {
        effects.extend(ensure_evidence(state, run, false));
    }
    effects
}
