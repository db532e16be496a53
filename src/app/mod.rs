//! The model of the cockpit: `State` (the one owner of what is shown), `Action`s in, `update` (the
//! only place state changes), `Effect`s out as plain values. No terminal and no I/O here: the
//! runtime in `cockpit` executes effects and draws with `ui`.

pub mod action;
pub mod command;
pub mod effect;
pub mod layout;
mod log_state;
pub mod releases;
pub mod selectors;
pub mod state;
pub mod update;

use crate::config::Config;
use crate::identity::Identity;
use crate::theme::Theme;
use state::State;

/// Builds the initial state from the configuration; `releases` are the rollout providers, whose
/// pure plans the confirmation dialog shows.
pub fn initial_state(config: &Config, identity: Identity, theme: Theme, read_only: bool, releases: crate::delivery::Registry) -> State {
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
    state.releases.providers = releases;
    if !config.rollouts.is_empty() {
        // With rollouts configured, the release overview is the first screen.
        state.screen = state::Screen::Overview;
    }
    state.pipeline_envs = config.pipelines.iter().map(|(n, p)| (n.clone(), p.environments.clone())).collect();
    state.log.wrap = config.ui.wrap;
    state.log.timestamps = config.ui.timestamps;
    state.notifications.configured = !config.notify.is_empty();
    state
}
