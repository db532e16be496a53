//! Following CodePipeline: each pipeline's newest executions listed, those in progress read whole,
//! and each CodeBuild action's log followed forward while its build runs. Fast while something is
//! in progress, slow otherwise; finished executions are not read again.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::CodePipelineProvider;
use crate::ci::RunEvent;
use crate::domain::{RunRecord, RunRef};

/// How many of each pipeline's newest executions are followed.
const FOLLOWED: usize = 20;

/// Where each followed build's log has been read to, and whether it is finished.
struct Followed {
    token: Option<String>,
    done: bool,
}

pub async fn poll(p: CodePipelineProvider, stop: CancellationToken) {
    let mut seen: HashMap<RunRef, RunRecord> = HashMap::new();
    let mut logs: HashMap<(RunRef, String), Followed> = HashMap::new();
    let send = |e: RunEvent| {
        let _ = p.inner.events.send(e);
    };
    loop {
        let mut busy = false;
        for pipeline in p.inner.settings.pipelines.clone() {
            let listed = match p.executions(&pipeline, FOLLOWED, None, false).await {
                Ok((r, _)) => r,
                Err(e) => {
                    send(RunEvent::Problem { run: None, message: format!("CodePipeline {pipeline}: {e}") });
                    continue;
                }
            };
            for run in listed {
                let before = seen.get(&run.id).map(|r| r.status);
                if run.status.is_terminal() && before.is_none_or(|b| b.is_terminal()) {
                    if before.is_none() {
                        send(RunEvent::Updated(Box::new(run.clone())));
                        seen.insert(run.id.clone(), run);
                    }
                    continue;
                }
                busy |= !run.status.is_terminal();
                let Some((_, execution)) = super::split_id(&run.id.id) else { continue };
                let (rec, actions) = match p.full_run(&pipeline, execution).await {
                    Ok(r) => r,
                    Err(e) => {
                        send(RunEvent::Problem { run: Some(run.id.clone()), message: e.to_string() });
                        continue;
                    }
                };
                if let Ok(declaration) = p.declaration(&pipeline).await {
                    let keys = super::convert::job_keys(&declaration);
                    for stage in &declaration.stages {
                        for action in &stage.actions {
                            let Some(build) = super::logs::build_id(action, &actions, &stage.name) else { continue };
                            let Some(job) = keys.get(&(stage.name.clone(), action.name.clone())).cloned() else { continue };
                            let followed =
                                logs.entry((rec.id.clone(), format!("{job}\u{0}{build}"))).or_insert(Followed { token: None, done: false });
                            if followed.done {
                                continue;
                            }
                            match super::logs::tail(&p, &build, followed.token.clone()).await {
                                Ok((lines, token, complete)) => {
                                    let idle = lines.is_empty();
                                    if !idle {
                                        send(RunEvent::Log { run: rec.id.clone(), job: job.clone(), lines });
                                    }
                                    followed.token = token;
                                    // Finished and read to the end.
                                    followed.done = complete && idle;
                                    busy |= !followed.done;
                                }
                                Err(e) => {
                                    send(RunEvent::Problem { run: Some(rec.id.clone()), message: e.to_string() });
                                    followed.done = true;
                                }
                            }
                        }
                    }
                }
                if seen.get(&rec.id) != Some(&rec) {
                    send(RunEvent::Updated(Box::new(rec.clone())));
                    seen.insert(rec.id.clone(), rec);
                }
            }
        }
        let pause = if busy { p.inner.settings.active_poll } else { p.inner.settings.idle_poll };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
