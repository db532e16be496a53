//! Drives the real reducer and effect runner against the real local runner, without a terminal:
//! keys in, effects executed, results fed back until the state says what the test waits for.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flightdeck::app::action::Action;
use flightdeck::app::effect::Effect;
use flightdeck::app::state::State;
use flightdeck::app::update::update;
use flightdeck::ci::local::LocalRunner;
use flightdeck::ci::{CiProvider, Registry, RunEvent};
use flightdeck::cockpit::effects::EffectRunner;
use flightdeck::identity::Identity;
use flightdeck::theme::{ColorDepth, Theme};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

pub struct Cockpit {
    pub state: State,
    pub runner: LocalRunner,
    effects: EffectRunner,
    actions: UnboundedReceiver<Action>,
    runs: UnboundedReceiver<RunEvent>,
    pub dir: tempfile::TempDir,
    pub quit_requested: bool,
}

impl Cockpit {
    pub fn new(config: &str, w: u16, h: u16) -> Cockpit {
        Cockpit::with_providers(config, w, h, |_| Vec::new())
    }

    /// A cockpit whose CI registry holds the local runner and the providers `extra` builds (on
    /// the channel they report on).
    pub fn with_providers(
        config: &str,
        w: u16,
        h: u16,
        extra: impl FnOnce(UnboundedSender<RunEvent>) -> Vec<Arc<dyn CiProvider>>,
    ) -> Cockpit {
        Cockpit::with_all_providers(config, w, h, extra, Vec::new())
    }

    /// A cockpit with extra CI providers and extra rollout providers beside the configured ones.
    pub fn with_all_providers(
        config: &str,
        w: u16,
        h: u16,
        extra: impl FnOnce(UnboundedSender<RunEvent>) -> Vec<Arc<dyn CiProvider>>,
        extra_rollouts: Vec<Arc<dyn flightdeck::delivery::RolloutProvider>>,
    ) -> Cockpit {
        let dir = tempfile::tempdir().unwrap();
        let config = super::config_in(dir.path(), config);
        let (run_tx, runs) = unbounded_channel();
        let runner = LocalRunner::new(config.clone(), &dir.path().join("data"), run_tx.clone()).unwrap();
        let mut providers: Vec<Arc<dyn CiProvider>> = vec![Arc::new(runner.clone())];
        providers.extend(extra(run_tx));
        let (action_tx, actions) = unbounded_channel();
        let journal = flightdeck::audit::Journal::in_data_dir(&dir.path().join("data"));
        let mut rollout_providers = flightdeck::providers::releases(&config, &dir.path().join("data"), false).providers().to_vec();
        rollout_providers.extend(extra_rollouts);
        let releases = flightdeck::delivery::Registry::new(rollout_providers);
        let effects = EffectRunner {
            ci: Arc::new(Registry::new(providers)),
            actions: action_tx,
            config_dir: None,
            depth: ColorDepth::None,
            journal,
            acceptances: config.findings.acceptances.clone(),
            canary: Arc::new(config.canary_services()),
            faults: None,
            releases: Arc::new(flightdeck::cockpit::ReleaseRuntime::new(releases.clone())),
            notify: None,
            log_files: Default::default(),
            terminal: None,
        };
        let identity = Identity { actor: "alice@ops".into(), origin: "local".into(), display: None, backends: Default::default() };
        let mut state = flightdeck::app::initial_state(&config, identity, Theme::mono(), false, releases);
        state.size = (w, h);
        let mut c = Cockpit { state, runner, effects, actions, runs, dir, quit_requested: false };
        let request = c.state.request_id();
        c.state.pending_runs = Some(request);
        c.run_effects(vec![Effect::LoadRuns { request }]);
        c
    }

    fn run_effects(&mut self, effects: Vec<Effect>) {
        for e in effects {
            if e == Effect::Quit {
                self.quit_requested = true;
            } else {
                self.effects.run(e);
            }
        }
    }

    pub fn dispatch(&mut self, action: Action) {
        let fx = update(&mut self.state, action);
        self.run_effects(fx);
    }

    /// Presses keys: plain characters, or `<enter>`, `<esc>`, `<tab>`, `<up>`, `<down>`, `<left>`,
    /// `<right>`, `<pgup>`, `<pgdn>`.
    pub fn press(&mut self, keys: &str) {
        let mut rest = keys;
        while !rest.is_empty() {
            let (code, used) = if rest.starts_with('<')
                && let Some(end) = rest.find('>')
            {
                let code = match &rest[1..end] {
                    "enter" => KeyCode::Enter,
                    "esc" => KeyCode::Esc,
                    "tab" => KeyCode::Tab,
                    "up" => KeyCode::Up,
                    "down" => KeyCode::Down,
                    "left" => KeyCode::Left,
                    "right" => KeyCode::Right,
                    "pgup" => KeyCode::PageUp,
                    "pgdn" => KeyCode::PageDown,
                    other => panic!("unknown key <{other}>"),
                };
                (code, end + 1)
            } else {
                let c = rest.chars().next().unwrap();
                (KeyCode::Char(c), c.len_utf8())
            };
            self.dispatch(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
            rest = &rest[used..];
        }
    }

    /// Feeds worker results into the reducer until `done` holds.
    pub async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.state) {
            tokio::select! {
                Some(a) = self.actions.recv() => self.dispatch(a),
                Some(ev) = self.runs.recv() => self.dispatch(Action::Run(ev)),
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for: {what}\n{}", self.screen()),
            }
        }
    }

    /// Feeds results for a while (for effects the state does not track, e.g. journal writes).
    pub async fn pump(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                Some(a) = self.actions.recv() => self.dispatch(a),
                Some(ev) = self.runs.recv() => self.dispatch(Action::Run(ev)),
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    pub fn screen(&self) -> String {
        super::fixtures::screen(&self.state)
    }
}
