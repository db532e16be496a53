//! Effects are plain values describing I/O. The runner executes each on its own tokio task with a
//! timeout and sends the result back as an `Action`; the UI task never waits for them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use crate::audit::{Draft, Journal};
use crate::ci::CiProvider;
use crate::domain::RunId;
use crate::ops::Approved;
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
    /// An authorised, confirmed change: journal intent, act, journal outcome.
    Execute(Box<Approved>),
    /// Record a refused attempt in the journal.
    Journal(Box<Draft>),
    LoadFindings {
        run: RunId,
    },
    LoadAcceptances,
    /// Analyse a service's canary over the last `window` seconds.
    Analyse {
        request: u64,
        service: String,
        window: i64,
    },
    LoadAudit {
        request: u64,
    },
    LoadTheme {
        name: String,
    },
    /// Demo only: change what the canary does (slow, erroring, healthy).
    InjectFault(crate::demo::fault::Fault),
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
    pub journal: Journal,
    /// The risk acceptances file.
    pub acceptances: PathBuf,
    /// Analysed services with their Prometheus source.
    pub canary: Arc<std::collections::BTreeMap<String, (crate::metrics::Source, crate::metrics::ServiceSpec)>>,
    /// The demo canary's fault control, when running the demo.
    pub fault_url: Option<String>,
    /// NGINX canaries, when any are configured.
    pub rollouts: Option<crate::rollout::Controller>,
}

impl EffectRunner {
    pub fn run(&self, effect: Effect) {
        let ci = self.ci.clone();
        let tx = self.actions.clone();
        let config_dir = self.config_dir.clone();
        let depth = self.depth;
        let journal = self.journal.clone();
        let acceptances = self.acceptances.clone();
        let canary = self.canary.clone();
        let fault_url = self.fault_url.clone();
        let rollouts = self.rollouts.clone();
        tokio::spawn(async move {
            let action = match effect {
                Effect::LoadRuns { request } => Action::RunsLoaded { request, result: timed(ci.list_runs()).await },
                Effect::LoadLog { request, run, job } => {
                    let result = timed(ci.read_log(run, job.clone())).await;
                    Action::LogLoaded { request, run, job, result }
                }
                Effect::Execute(approved) => {
                    let op = approved.op.key();
                    let is_rollout =
                        matches!(approved.op, crate::ops::Operation::Rollout { .. } | crate::ops::Operation::StartRollout { .. });
                    let work = async {
                        match (&rollouts, is_rollout) {
                            (Some(c), true) => crate::ops::execute_rollout(c, &journal, *approved).await,
                            (None, true) => Err("no rollout is configured".to_string()),
                            _ => crate::ops::execute(ci.as_ref(), &journal, *approved).await,
                        }
                    };
                    let result = match tokio::time::timeout(EFFECT_TIMEOUT, work).await {
                        Ok(r) => r,
                        Err(_) => Err(format!("no answer within {}s; check the run and the audit journal", EFFECT_TIMEOUT.as_secs())),
                    };
                    Action::OpDone { op, result }
                }
                Effect::Journal(draft) => {
                    let j = journal.clone();
                    let result = tokio::task::spawn_blocking(move || j.append(*draft).map(|_| ()).map_err(|e| e.to_string()))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    Action::Journaled(result)
                }
                Effect::LoadFindings { run } => {
                    let result = timed(ci.evidence(run)).await;
                    Action::FindingsLoaded { run, result }
                }
                Effect::Analyse { request, service, window } => {
                    let Some((source, spec)) = canary.get(&service).cloned() else { return };
                    let step = spec.analysis.interval.as_secs().max(1) as i64;
                    let history = (window / step).clamp(1, 2000) as usize;
                    let end = jiff::Timestamp::now().as_second() / step * step;
                    let result = crate::metrics::analyse_with_history(&source, &spec, end, history).await;
                    Action::CanaryLoaded { request, service, result: Box::new(result) }
                }
                Effect::LoadAcceptances => {
                    let result = tokio::task::spawn_blocking(move || crate::findings::Acceptances::load(&acceptances))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    Action::AcceptancesLoaded(result)
                }
                Effect::LoadAudit { request } => {
                    let j = journal.clone();
                    let result = tokio::task::spawn_blocking(move || j.read().map_err(|e| e.to_string()))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    Action::AuditLoaded { request, result }
                }
                Effect::LoadTheme { name } => {
                    let result =
                        tokio::task::spawn_blocking(move || ThemeSpec::load(&name, config_dir.as_deref()).map(|s| Theme::new(&s, depth)))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                    Action::ThemeLoaded(result)
                }
                Effect::InjectFault(fault) => {
                    let Some(url) = fault_url else {
                        let _ = tx.send(Action::FaultInjected(Err("faults can only be injected in the demo".into())));
                        return;
                    };
                    let url = format!("{url}/{fault}");
                    let result = match crate::demo::http::call("POST", &url, Duration::from_secs(5)).await {
                        Ok((200, _)) => Ok(fault),
                        Ok((status, body)) => Err(format!("the demo canary answered {status}: {}", body.trim())),
                        Err(e) => Err(format!("cannot reach the demo canary at {url}: {e}")),
                    };
                    Action::FaultInjected(result)
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
