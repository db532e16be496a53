//! The runtime: one task owns `State`, turns terminal events, worker results and signals into
//! `Action`s, reduces them with `app::update`, hands `Effect`s to the runner, and draws with `ui`
//! only when something changed.

pub mod effects;
mod input;
pub mod logfiles;
mod releases;
pub mod terminal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::Event;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::action::Action;
use crate::app::effect::Effect;
use crate::app::state::{self, State};
use crate::app::{initial_state, update};
use crate::ci::CiProvider;
use crate::config::Config;
use crate::theme::{ColorChoice, Theme};
use effects::EffectRunner;
pub use releases::ReleaseRuntime;

/// At most this many frames per second, however much is happening.
const FRAME_INTERVAL: Duration = Duration::from_millis(16);

#[derive(Clone, Default)]
pub struct TuiOptions {
    pub read_only: bool,
    pub color: ColorChoice,
    pub config_dir: Option<PathBuf>,
    /// Start a run of this pipeline right away (the demo does).
    pub start_pipeline: Option<String>,
    /// Set by the demo: its canary's faults, and what it could not start.
    pub demo: Option<DemoLink>,
    /// The screen to open on (`--screen`).
    pub start_screen: Option<state::Screen>,
    /// The kubeconfig context to open on (`--context`).
    pub kube_context: Option<String>,
}

#[derive(Clone)]
pub struct DemoLink {
    pub faults: Arc<dyn crate::metrics::inject::FaultInjector>,
    pub notices: Vec<String>,
}

/// 0, or 128 + the signal that ended the cockpit, as shells report it.
pub fn exit_code(signal: Option<i32>) -> std::process::ExitCode {
    match signal {
        Some(n) => std::process::ExitCode::from(128u8.saturating_add(u8::try_from(n).unwrap_or(0))),
        None => std::process::ExitCode::SUCCESS,
    }
}

/// Runs the cockpit until the user quits (None) or a signal ends it (Some(signal number): the
/// process then exits with 128 + it, as a shell expects).
pub async fn run_tui(config: Arc<Config>, data_dir: PathBuf, opts: TuiOptions) -> anyhow::Result<Option<i32>> {
    let (action_tx, mut action_rx) = unbounded_channel::<Action>();
    let (run_tx, mut run_rx) = unbounded_channel();
    let ci = crate::providers::ci(&config, &data_dir, run_tx, crate::providers::Open::Lazily)?;
    let identity = crate::identity::of(&config.people, config.path.as_deref(), &data_dir)?;
    let depth = opts.color.depth();
    let releases = crate::providers::releases(&config, &data_dir, false);
    let mut state = initial_state(&config, identity.clone(), Theme::new(&config.theme, depth), opts.read_only, releases.clone());
    // Every provider's pipelines (a GitHub provider's configured workflows too).
    state.pipelines = ci.registry.pipelines();
    let journal = crate::audit::Journal::in_data_dir(&data_dir);
    let releases = Arc::new(ReleaseRuntime::new(releases));
    let (terminal_tx, mut terminal_rx) = tokio::sync::mpsc::unbounded_channel();
    let effects = EffectRunner {
        ci: Arc::new(ci.registry.clone()),
        actions: action_tx.clone(),
        config_dir: opts.config_dir.clone(),
        depth,
        journal,
        acceptances: config.findings.acceptances.clone(),
        canary: Arc::new(config.canary_services()),
        faults: opts.demo.as_ref().map(|d| d.faults.clone()),
        releases: releases.clone(),
        notify: (!config.notify.is_empty()).then(|| (config.clone(), data_dir.clone())),
        log_files: Default::default(),
        terminal: Some(terminal_tx),
    };
    // NGINX canaries are moved on by their provider's feed: it runs from the start, whatever
    // screen is shown.
    if !config.rollouts.is_empty() {
        state.releases.watching = true;
        releases.watch(action_tx.clone());
    }
    if let Some(demo) = &opts.demo {
        state.canary.faults = crate::metrics::inject::FaultControl::new(demo.faults.faults());
        // The demo's history starts now: the shortest window shows it best.
        state.canary.window = 0;
        for notice in &demo.notices {
            state.toast_error(notice.clone());
        }
    }

    let request = state.request_id();
    state.pending_runs = Some(request);
    effects.run(Effect::LoadRuns { request });
    for effect in update::open_on(&mut state, opts.start_screen, opts.kube_context.clone()) {
        effects.run(effect);
    }
    let stop_watch = CancellationToken::new();
    ci.registry.watch(stop_watch.clone());
    if let Some(p) = &opts.start_pipeline {
        // The demo starts its pipeline as if the user had pressed `r` and confirmed, and shows it.
        state.screen = state::Screen::Pipelines;
        for effect in update::start_without_dialog(&mut state, p) {
            effects.run(effect);
        }
    }

    // Whatever ends the loop (quit, signal, a terminal that went away), runs and canaries go on:
    // the supervisor executes them, not this process.
    let outcome = event_loop(&mut state, &effects, &mut action_rx, &mut run_rx, &mut terminal_rx).await;
    stop_watch.cancel();
    releases.stop.cancel();
    outcome
}

async fn event_loop(
    state: &mut State,
    effects: &EffectRunner,
    action_rx: &mut tokio::sync::mpsc::UnboundedReceiver<Action>,
    run_rx: &mut tokio::sync::mpsc::UnboundedReceiver<crate::ci::RunEvent>,
    terminal_rx: &mut tokio::sync::mpsc::UnboundedReceiver<Effect>,
) -> anyhow::Result<Option<i32>> {
    let mut signalled = None;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    let mut guard = terminal::enter()?;
    let size = guard.terminal.size()?;
    state.size = (size.width, size.height);
    guard.draw(|f| crate::ui::render(f, state))?;
    state.dirty = false;
    let mut last_draw = Instant::now();

    let mut input = input::Input::start();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Notifications given up are looked for on a slow clock of their own (an idle cockpit stays
    // idle between two looks).
    let mut outbox_clock = tokio::time::interval(Duration::from_secs(15));
    outbox_clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let notifying = state.notifications.configured;

    let dispatch = |state: &mut State, action: Action| {
        for effect in update::update(state, action) {
            if effect != Effect::Quit {
                effects.run(effect);
            }
        }
    };

    loop {
        let wants_clock = state.needs_clock();
        let draw_at = last_draw + FRAME_INTERVAL;
        // A keypress is answered at once, not at the next frame's turn: the frame cap is for what
        // streams in (a flood of log lines), not for the person typing.
        let mut typed = false;
        tokio::select! {
            // In this order (`biased`): keys, signals and hand-overs, the frame due, the clocks,
            // and only then what streams in — a flood of log lines never makes the person wait,
            // and a branch always ready cannot starve those before it.
            biased;
            ev = input.events.recv() => match ev {
                Some(Ok(ev)) => if let Some(a) = translate(ev) {
                    // The clock only ticks while something moves; a keypress may decide a change
                    // under a time-bound policy, so it carries the current time.
                    state.now = jiff::Timestamp::now().max(state.now);
                    dispatch(state, a);
                    typed = true;
                },
                Some(Err(e)) => { tracing::error!("terminal input failed: {e}"); break; }
                None => break,
            },
            _ = sigterm.recv() => { signalled = Some(libc::SIGTERM); dispatch(state, Action::Terminate) }
            _ = sighup.recv() => { signalled = Some(libc::SIGHUP); dispatch(state, Action::Terminate) }
            _ = sigint.recv() => { signalled = Some(libc::SIGINT); dispatch(state, Action::Terminate) }
            Some(request) = terminal_rx.recv() => match request {
                Effect::Clipboard(text) => guard.copy_to_clipboard(&text),
                Effect::HandOver { to, line } => {
                    // Nothing of flightdeck reads the terminal while the other program has it.
                    input.pause();
                    let ran = guard.hand_over(&to, line);
                    input.resume();
                    if let crate::app::effect::Outside::Editor { copy } = &to {
                        let _ = std::fs::remove_file(copy);
                    }
                    if let Err(e) = ran {
                        state.toast_error(e);
                    }
                    state.dirty = true;
                }
                _ => {}
            },
            _ = tokio::time::sleep_until(draw_at), if state.dirty => {}
            _ = clock.tick(), if wants_clock => dispatch(state, Action::Tick(jiff::Timestamp::now())),
            _ = outbox_clock.tick(), if notifying => dispatch(state, Action::NotificationsDue),
            Some(a) = action_rx.recv() => dispatch(state, a),
            Some(ev) = run_rx.recv() => dispatch(state, Action::Run(ev)),
        }
        // Drain what else is waiting, for at most half a frame, then draw once (after a keypress,
        // draw first): the next keypress is looked at before the rest of a backlog.
        if !typed {
            let until = Instant::now() + FRAME_INTERVAL / 2;
            while Instant::now() < until
                && let Ok(a) = action_rx.try_recv()
            {
                dispatch(state, a);
            }
            while Instant::now() < until
                && let Ok(ev) = run_rx.try_recv()
            {
                dispatch(state, Action::Run(ev));
            }
        }
        if state.quit {
            break;
        }
        if state.dirty && (typed || last_draw.elapsed() >= FRAME_INTERVAL) {
            guard.draw(|f| crate::ui::render(f, state))?;
            state.dirty = false;
            last_draw = Instant::now();
        }
    }
    Ok(signalled)
}

fn translate(ev: Event) -> Option<Action> {
    match ev {
        Event::Key(k) => Some(Action::Key(k)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        Event::Paste(p) => Some(Action::Paste(p)),
        _ => None,
    }
}
