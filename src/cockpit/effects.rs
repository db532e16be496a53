//! Runs `Effect`s: each on its own tokio task with a timeout, its result sent back as an `Action`.
//! The UI task never waits for them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::releases::ReleaseRuntime;
use crate::app::action::Action;
use crate::app::effect::Effect;
use crate::audit::Journal;
use crate::ci::CiProvider;
use crate::theme::{ColorDepth, Theme, ThemeSpec};

/// Longest any single effect may take before it is reported as failed.
const EFFECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct EffectRunner {
    pub ci: Arc<crate::ci::Registry>,
    pub actions: UnboundedSender<Action>,
    pub config_dir: Option<PathBuf>,
    pub depth: ColorDepth,
    pub journal: Journal,
    /// The risk acceptances file.
    pub acceptances: PathBuf,
    /// Analysed services with their Prometheus source.
    pub canary: Arc<std::collections::BTreeMap<String, (crate::metrics::Backend, crate::metrics::ServiceSpec)>>,
    /// A canary that offers faults (the demo's).
    pub faults: Option<Arc<dyn crate::metrics::inject::FaultInjector>>,
    /// Every rollout provider.
    pub releases: Arc<ReleaseRuntime>,
    /// With notifications configured: the configuration and data directory whose supervisor
    /// delivers them (told whenever the cockpit journals something).
    pub notify: Option<(Arc<crate::config::Config>, PathBuf)>,
    /// Job logs on disk, indexed, and the search of one under way.
    pub log_files: Arc<super::logfiles::LogFiles>,
    /// Effects only the event loop may carry out, since it owns the terminal (the clipboard).
    pub terminal: Option<UnboundedSender<Effect>>,
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
        let faults = self.faults.clone();
        let releases = self.releases.clone();
        let notify = self.notify.clone();
        let outbox_dir = self.notify.as_ref().map(|(_, d)| d.clone());
        let log_files = self.log_files.clone();
        let terminal = self.terminal.clone();
        if let Effect::Clipboard(_) | Effect::HandOver { .. } = &effect {
            if let Some(t) = &self.terminal {
                let _ = t.send(effect);
            }
            return;
        }
        // Followed in the order asked: run as tasks, a quick `esc` then `7` could stop the
        // follower after the new one started, and the opened release would never be read.
        if let Effect::FollowRelease { reference } = effect {
            releases.follow(reference, tx);
            return;
        }
        // The supervisor delivers what the journal now holds (it starts if it is not running).
        let tell_supervisor = move || {
            if let Some((config, data_dir)) = notify.clone() {
                tokio::task::spawn_blocking(move || crate::supervisor::poke_notifier(&config, &data_dir));
            }
        };
        tokio::spawn(async move {
            let action = match effect {
                Effect::LoadRuns { request } => load_runs(&ci, &tx, request).await,
                Effect::LoadTriggerForm { pipeline } => {
                    let result = timed(ci.trigger_form(&pipeline)).await;
                    Action::TriggerFormLoaded { pipeline, result }
                }
                Effect::LoadRun { run } => match timed(ci.run(run.clone())).await {
                    Ok(rec) => Action::Run(crate::ci::RunEvent::Updated(Box::new(rec))),
                    Err(e) => Action::Run(crate::ci::RunEvent::Problem { run: Some(run), message: e }),
                },
                Effect::LoadLog { request, run, job } => {
                    // A log on disk is read at its end, through its index, whatever its size.
                    if let Some(path) = ci.log_file(run.clone(), job.clone()).await {
                        let read =
                            tokio::task::spawn_blocking(move || log_files.window(&path, None, crate::app::update::LOG_WINDOW, 0)).await;
                        let (from, result) = match read {
                            Ok(Ok((from, window))) => (from, Ok(window)),
                            Ok(Err(e)) => (0, Err(e)),
                            Err(e) => (0, Err(e.to_string())),
                        };
                        Action::LogWindowLoaded { request: Some(request), run, job, from, result }
                    } else {
                        let result = timed(ci.read_log(run.clone(), job.clone())).await;
                        Action::LogLoaded { request, run, job, result }
                    }
                }
                Effect::LoadLogWindow { run, job, from, count, sections } => {
                    let result = match ci.log_file(run.clone(), job.clone()).await {
                        Some(path) => tokio::task::spawn_blocking(move || log_files.window(&path, Some(from), count, sections))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                            .map(|(_, window)| window),
                        None => Err("this provider keeps no copy of the log on disk; only its last lines are shown".into()),
                    };
                    Action::LogWindowLoaded { request: None, run, job, from, result }
                }
                Effect::SearchLog { request, run, job, query, regex } => {
                    let Some(path) = ci.log_file(run, job).await else {
                        return;
                    };
                    let pattern = if regex {
                        match crate::logstore::index::Pattern::regex(&query) {
                            Ok(p) => p,
                            Err(e) => {
                                let _ = tx.send(Action::Failed(format!("not a regular expression: {e}")));
                                return;
                            }
                        }
                    } else {
                        crate::logstore::index::Pattern::literal(&query)
                    };
                    let tx = tx.clone();
                    let _ = tokio::task::spawn_blocking(move || log_files.search(&path, request, pattern, &tx)).await;
                    return;
                }
                Effect::LoadLogLines { run, job, lines, for_filter } => {
                    let read = match ci.log_file(run.clone(), job.clone()).await {
                        Some(path) => {
                            tokio::task::spawn_blocking(move || log_files.lines(&path, &lines)).await.unwrap_or_else(|e| Err(e.to_string()))
                        }
                        None => Err("this log is not on disk".into()),
                    };
                    match read {
                        Ok(lines) => Action::LogLinesLoaded { run, job, lines, for_filter },
                        Err(e) => {
                            let _ = tx.send(Action::Failed(e));
                            Action::LogLinesLoaded { run, job, lines: Vec::new(), for_filter }
                        }
                    }
                }
                Effect::LoadLogSections { run, job } => {
                    let sections = match ci.log_file(run.clone(), job.clone()).await {
                        Some(path) => tokio::task::spawn_blocking(move || log_files.sections(&path)).await.ok().and_then(Result::ok),
                        None => None,
                    };
                    Action::LogSectionsLoaded { run, job, sections }
                }
                Effect::ReadLogForCopy { run, job, from, count } => {
                    let result = match ci.log_file(run, job).await {
                        Some(path) => tokio::task::spawn_blocking(move || log_files.window(&path, Some(from), count, u64::MAX))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                            .map(|(_, w)| w.lines.iter().map(|l| crate::logstore::sanitize::plain_line(&l.bytes)).collect()),
                        None => Err("this log is not on disk".into()),
                    };
                    Action::LogReadForCopy { from, result }
                }
                Effect::FindLogTime { run, job, ts_ms } => {
                    let found = match ci.log_file(run, job).await {
                        Some(path) => tokio::task::spawn_blocking(move || log_files.line_at(&path, ts_ms))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string())),
                        None => Err("this log is not on disk".into()),
                    };
                    Action::LogJump(found)
                }
                Effect::Clipboard(_) | Effect::HandOver { .. } => return,
                Effect::OpenLog { run, job, line, editor } => {
                    use crate::app::effect::Outside;
                    let to = match ci.log_file(run.clone(), job.clone()).await {
                        // A pager reads the log as it is written to it; an editor needs a file.
                        Some(log) if !editor => Ok(Outside::Pager { log }),
                        Some(path) => tokio::task::spawn_blocking(move || log_files.plain_copy(&path))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                            .map(|copy| Outside::Editor { copy }),
                        None => Err("this log is not on disk; only what is on screen can be shown".into()),
                    };
                    match (to, &terminal) {
                        (Ok(to), Some(t)) => {
                            let _ = t.send(Effect::HandOver { to, line });
                            return;
                        }
                        (Ok(Outside::Editor { copy }), None) => {
                            let _ = std::fs::remove_file(copy);
                            return;
                        }
                        (Ok(_), None) => return,
                        (Err(e), _) => Action::Failed(e),
                    }
                }
                Effect::CancelSearch { request } => {
                    log_files.cancel(request);
                    return;
                }
                Effect::Execute(approved) => {
                    let op = approved.op.key();
                    let work = async {
                        match approved.op {
                            crate::ops::Operation::Rollout { .. } => {
                                crate::ops::execute_release(&releases.providers, &journal, *approved).await
                            }
                            _ => crate::ops::execute(ci.as_ref(), &journal, *approved).await,
                        }
                    };
                    let result = match tokio::time::timeout(EFFECT_TIMEOUT, work).await {
                        Ok(r) => r,
                        Err(_) => Err(format!("no answer within {}s; check the run and the audit journal", EFFECT_TIMEOUT.as_secs())),
                    };
                    tell_supervisor();
                    Action::OpDone { op, result }
                }
                Effect::Journal(draft) => {
                    let j = journal.clone();
                    let result = tokio::task::spawn_blocking(move || j.append(*draft).map(|_| ()).map_err(|e| e.to_string()))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    tell_supervisor();
                    Action::Journaled(result)
                }
                Effect::CheckNotifications => {
                    let Some(data_dir) = outbox_dir else { return };
                    let failed = tokio::task::spawn_blocking(move || crate::notify::Outbox::in_data_dir(&data_dir).failed_count())
                        .await
                        .unwrap_or(0);
                    Action::NotificationsChecked(failed)
                }
                Effect::LoadFindings { run } => {
                    let result = timed(ci.evidence(run.clone())).await;
                    Action::FindingsLoaded { run, result }
                }
                Effect::Analyse { request, service, window, measured_on } => {
                    let Some((source, mut spec)) = canary.get(&service).cloned() else { return };
                    // CloudWatch measures the sides the release names (its current target groups).
                    if let (crate::metrics::Backend::CloudWatch(_), Some(on)) = (&source, measured_on) {
                        (spec.canary, spec.stable) = (on.canary, on.stable);
                    }
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
                Effect::InjectFault(name) => {
                    let result = match &faults {
                        Some(f) => f.inject(&name).await.map(|()| name),
                        None => Err("faults can only be injected into a canary that offers them, like the demo's".into()),
                    };
                    Action::FaultInjected(result)
                }
                Effect::WatchReleases => {
                    releases.watch(tx);
                    return;
                }
                Effect::Rescope { change } => {
                    use crate::delivery::RolloutProvider;
                    match releases.providers.rescope(&change) {
                        Ok(()) => return,
                        Err(e) => Action::Failed(e.to_string()),
                    }
                }
                Effect::FollowRelease { .. } => return,
                Effect::Quit => return,
            };
            let _ = tx.send(action);
        });
    }
}

/// The whole history (the runs list filters and scrolls it in memory), each provider's as it comes:
/// the local history does not wait for a remote service. The first answer settles the request;
/// the others follow as more runs.
async fn load_runs(ci: &crate::ci::Registry, tx: &UnboundedSender<Action>, request: u64) -> Action {
    use futures::StreamExt;
    let mut lists: futures::stream::FuturesUnordered<_> = ci
        .providers()
        .iter()
        .map(|p| async move {
            let name = p.name().to_string();
            (name, timed(p.list_runs(crate::ci::RunQuery::default())).await.map(|page| page.runs))
        })
        .collect();
    let mut answer = None;
    while let Some((name, result)) = lists.next().await {
        let result = result.map_err(|e| format!("{name}: {e}"));
        match answer.take() {
            None => answer = Some(Action::RunsLoaded { request, result }),
            Some(earlier) => {
                let _ = tx.send(earlier);
                answer = Some(Action::MoreRunsLoaded { result });
            }
        }
    }
    answer.unwrap_or(Action::RunsLoaded { request, result: Ok(Vec::new()) })
}

async fn timed<T, E: std::fmt::Display>(fut: impl std::future::Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(EFFECT_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {}s", EFFECT_TIMEOUT.as_secs())),
    }
}
