//! The model of the cockpit: `State` (the one owner of what is shown), `Action`s in, `update` (the
//! only place state changes), `Effect`s out as plain values. No terminal and no I/O here: the
//! runtime in `cockpit` executes effects and draws with `ui`.

pub mod action;
pub mod argo_view;
pub mod command;
pub mod effect;
pub mod layout;
pub mod releases;
pub mod selectors;
pub mod state;
pub mod update;

use crate::config::Config;
use crate::identity::Identity;
use crate::theme::Theme;
use state::State;

/// Builds the initial state from the configuration.
pub fn initial_state(config: &Config, identity: Identity, theme: Theme, read_only: bool) -> State {
    let mut state = State::new(
        identity,
        config.keymap.clone(),
        theme,
        config.pipelines.keys().cloned().collect(),
        config.fallback_pipeline().map(str::to_string),
        config.logs,
    );
    state.read_only = read_only;
    state.policy = config.policy.clone();
    state.policy.read_only = read_only;
    state.acceptances.path = Some(config.findings.acceptances.clone());
    state.canary.services = config.services.iter().map(|(n, (_, s))| (n.clone(), s.analysis.interval.as_secs().max(1) as i64)).collect();
    state.canary.window = 1;
    state.rollouts.specs = config.rollouts.values().cloned().collect();
    if let Some(k) = &config.kubernetes {
        state.argo.enabled = true;
        state.argo.context = k.context.clone().unwrap_or_default();
        state.argo.namespace = k.namespace.clone();
        state.argo.environments = k.environments.clone();
        state.argo.services = k.services.clone();
    }
    if !state.rollouts.specs.is_empty() {
        // With rollouts configured, the release overview is the first screen.
        state.screen = state::Screen::Overview;
    }
    state.pipeline_envs = config.pipelines.iter().map(|(n, p)| (n.clone(), p.environments.clone())).collect();
    state.log.wrap = config.ui.wrap;
    state.log.timestamps = config.ui.timestamps;
    state
}
