//! Following Cloud Build: the newest builds of each region listed, those in progress read again
//! and their logs read on from where the last read ended, each line given to its step. Fast while
//! a build is in progress, slow otherwise; finished builds are not read again.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::logging::{Cursor, in_cloud_logging};
use super::model::Build;
use super::{CloudBuildProvider, logs};
use crate::ci::CiProvider;
use crate::ci::{RunEvent, RunQuery};
use crate::domain::{RunRecord, RunRef};

/// How many of the newest builds are followed.
const FOLLOWED: usize = 20;

pub async fn poll(p: CloudBuildProvider, stop: CancellationToken) {
    let mut seen: HashMap<RunRef, RunRecord> = HashMap::new();
    let mut read_to: HashMap<RunRef, ReadTo> = HashMap::new();
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
                // A build seen finished from the start is not followed: its log is read when opened.
                let followed = seen.contains_key(&rec.id) || !terminal;
                let at = read_to.entry(rec.id.clone()).or_default();
                if followed && !at.done {
                    match read_on(&p, &build, at, terminal).await {
                        Ok(lines) => {
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
                        }
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

/// Where a build's log has been read to (in its log object, or among its Cloud Logging entries),
/// and whether it is read to its end.
#[derive(Default)]
struct ReadTo {
    offset: u64,
    cursor: Cursor,
    done: bool,
}

/// The build's lines since the last read, each with its step; `at` moves past them. A log not
/// written yet (a queued build) is no lines.
async fn read_on(
    p: &CloudBuildProvider,
    build: &Build,
    at: &mut ReadTo,
    terminal: bool,
) -> Result<Vec<(Option<usize>, crate::logstore::RawLine)>, crate::ci::CiError> {
    if in_cloud_logging(build) {
        let (lines, cursor) = p.log_entries(build, &at.cursor).await?;
        // Entries can arrive a little after the build ends: read once more after it finished.
        at.done = terminal && lines.is_empty();
        at.cursor = cursor;
        return Ok(lines);
    }
    let Some((bucket, object)) = build.logs_bucket.as_deref().and_then(|b| logs::object(b, &build.id)) else {
        return Ok(Vec::new());
    };
    let url = logs::media_url(&p.inner.settings.storage_endpoint, &bucket, &object);
    match p.inner.session.bytes_from(&url, at.offset).await {
        Ok(bytes) => {
            let (lines, used) = logs::lines(&bytes, terminal);
            at.offset += used as u64;
            at.done = terminal;
            Ok(lines)
        }
        Err(crate::gcp::GcpError::Api { status: 404, .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}
