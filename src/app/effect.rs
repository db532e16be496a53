//! Effects are plain values describing I/O. The runner executes each on its own tokio task with a
//! timeout and sends the result back as an `Action`; the UI task never waits for them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use crate::ci::CiProvider;
use crate::domain::{GateDecision, RunId, Trigger};
use crate::ui::theme::{ColorDepth, Theme, ThemeSpec};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    LoadRuns {
        request: u64,
    },
    LoadLog {
        request: u64,
        run: RunId,
        job: String,
    },
    Trigger {
        pipeline: String,
        trigger: Trigger,
    },
    Cancel {
        run: RunId,
    },
    Retry {
        run: RunId,
        trigger: Trigger,
    },
    DecideGate {
        run: RunId,
        job: String,
        decision: GateDecision,
    },
    LoadTheme {
        name: String,
    },
    /// Leave the event loop (the loop cancels local runs and restores the terminal).
    Quit,
}

/// Longest any single effect may take before it is reported as failed.
const EFFECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct EffectRunner {
    pub ci: Arc<dyn CiProvider>,
    pub actions: UnboundedSender<Action>,
    pub config_dir: Option<PathBuf>,
    pub depth: ColorDepth,
}

impl EffectRunner {
    pub fn run(&self, effect: Effect) {
        let ci = self.ci.clone();
        let tx = self.actions.clone();
        let config_dir = self.config_dir.clone();
        let depth = self.depth;
        tokio::spawn(async move {
            let action = match effect {
                Effect::LoadRuns { request } => Action::RunsLoaded { request, result: timed(ci.list_runs()).await },
                Effect::LoadLog { request, run, job } => {
                    let result = timed(ci.read_log(run, job.clone())).await;
                    Action::LogLoaded { request, run, job, result }
                }
                Effect::Trigger { pipeline, trigger } => {
                    let result = timed(ci.trigger(pipeline.clone(), trigger)).await;
                    Action::Triggered { pipeline, result }
                }
                Effect::Cancel { run } => {
                    let op = format!("cancel #{run}");
                    let result = timed(ci.cancel(run)).await.map(|_| format!("cancelling run #{run}"));
                    Action::OpDone { op, result }
                }
                Effect::Retry { run, trigger } => {
                    let op = format!("retry #{run}");
                    let result = timed(ci.retry(run, trigger)).await.map(|_| format!("retrying the failed jobs of run #{run}"));
                    Action::OpDone { op, result }
                }
                Effect::DecideGate { run, job, decision } => {
                    let op = format!("gate #{run}/{job}");
                    let verb = if decision.approved { "approved" } else { "rejected" };
                    let result =
                        timed(ci.decide_gate(run, job.clone(), decision)).await.map(|_| format!("{verb} gate `{job}` of run #{run}"));
                    Action::OpDone { op, result }
                }
                Effect::LoadTheme { name } => {
                    let result =
                        tokio::task::spawn_blocking(move || ThemeSpec::load(&name, config_dir.as_deref()).map(|s| Theme::new(&s, depth)))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                    Action::ThemeLoaded(result)
                }
                Effect::Quit => return,
            };
            let _ = tx.send(action);
        });
    }
}

async fn timed<T, E: std::fmt::Display>(fut: impl std::future::Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(EFFECT_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {}s", EFFECT_TIMEOUT.as_secs())),
    }
}
