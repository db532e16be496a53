//! Following Cloud Build: the newest builds of each region listed, those in progress read again
//! and their logs read on from where the last read ended, each line given to its step. Fast while
//! a build is in progress, slow otherwise; finished builds are not read again.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::{CloudBuildProvider, logs};
use crate::ci::CiProvider;
use crate::ci::{RunEvent, RunQuery};
use crate::domain::{RunRecord, RunRef};

/// How many of the newest builds are followed.
const FOLLOWED: usize = 20;

pub async fn poll(p: CloudBuildProvider, stop: CancellationToken) {
    let mut seen: HashMap<RunRef, RunRecord> = HashMap::new();
    // Where each build's log has been read to, and whether it is read to its end.
    let mut read_to: HashMap<RunRef, (u64, bool)> = HashMap::new();
    let send = |e: RunEvent| {
        let _ = p.inner.events.send(e);
    };
    loop {
        let mut busy = false;
        let triggers = p.triggers().await.unwrap_or_default();
        for region in p.inner.settings.regions.clone() {
            let query = RunQuery { limit: FOLLOWED, ..RunQuery::default() };
            let page = match p.builds(&region, &super::CloudBuildProvider::filter(&query, None), FOLLOWED, None).await {
                Ok(page) => page,
                Err(e) => {
                    send(RunEvent::Problem { run: None, message: format!("Cloud Build {region}: {e}") });
                    continue;
                }
            };
            for build in page.builds {
                let rec = p.record(&build, &triggers);
                if !p.pipelines().contains(&rec.pipeline) {
                    continue;
                }
                let terminal = rec.status.is_terminal();
                busy |= !terminal;
                let (offset, done) = read_to.get(&rec.id).copied().unwrap_or((0, false));
                // A build seen finished from the start is not followed: its log is read when opened.
                let followed = seen.contains_key(&rec.id) || !terminal;
                if followed
                    && !done
                    && let Some((bucket, object)) = build.logs_bucket.as_deref().and_then(|b| logs::object(b, &build.id))
                {
                    let url = logs::media_url(&p.inner.settings.storage_endpoint, &bucket, &object);
                    match p.inner.session.bytes_from(&url, offset).await {
                        Ok(bytes) => {
                            let (lines, used) = logs::lines(&bytes, terminal);
                            let mut by_step: Vec<(String, Vec<crate::logstore::RawLine>)> = Vec::new();
                            for (step, line) in lines {
                                let Some(step) = step else { continue };
                                let key = super::convert::step_key(&build, step);
                                match by_step.last_mut() {
                                    Some((k, v)) if *k == key => v.push(line),
                                    _ => by_step.push((key, vec![line])),
                                }
                            }
                            for (job, lines) in by_step {
                                send(RunEvent::Log { run: rec.id.clone(), job, lines });
                            }
                            read_to.insert(rec.id.clone(), (offset + used as u64, terminal));
                        }
                        // Not written yet (a queued build).
                        Err(crate::gcp::GcpError::Api { status: 404, .. }) => {}
                        Err(e) => {
                            send(RunEvent::Problem { run: Some(rec.id.clone()), message: format!("the log of {}: {e}", rec.id.text()) })
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
