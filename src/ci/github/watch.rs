//! Following a GitHub provider's runs: each repository's newest runs looked at with conditional
//! requests, fast while something is in progress and slowly otherwise; finished runs are not looked
//! at again. A job's log is fetched as soon as that job completes.

use std::collections::{HashMap, HashSet};

use tokio_util::sync::CancellationToken;

use super::GithubProvider;
use crate::ci::RunEvent;
use crate::domain::{JobStatus, RunRecord, RunRef};

/// How many of each repository's newest runs are followed.
const FOLLOWED: usize = 20;

pub async fn poll(gh: GithubProvider, stop: CancellationToken) {
    let mut seen: HashMap<RunRef, RunRecord> = HashMap::new();
    let mut logs_sent: HashSet<(RunRef, String)> = HashSet::new();
    let mut warned_at: Option<u64> = None;
    for repo in gh.inner.settings.repos.clone() {
        if let Err(e) = gh.workflows(&repo).await {
            let _ = gh.inner.events.send(RunEvent::Problem { run: None, message: format!("GitHub {repo}: {e}") });
        }
    }
    loop {
        let mut busy = false;
        for repo in gh.inner.settings.repos.clone() {
            let runs = match gh.repo_runs(&repo, None, FOLLOWED, &Default::default()).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = gh.inner.events.send(RunEvent::Problem { run: None, message: format!("GitHub {repo}: {e}") });
                    continue;
                }
            };
            for listed in runs {
                let before = seen.get(&listed.id).map(|r| r.status);
                if listed.status.is_terminal() && before.is_none_or(|b| b.is_terminal()) {
                    // Finished before we looked, or already read whole: the list says enough, and
                    // its jobs and logs are read when someone opens it.
                    if before.is_none() {
                        let _ = gh.inner.events.send(RunEvent::Updated(Box::new(listed.clone())));
                        seen.insert(listed.id.clone(), listed);
                    }
                    continue;
                }
                busy |= !listed.status.is_terminal();
                let Some((_, id)) = super::split_id(&listed.id.id) else { continue };
                let (rec, jobs) = match gh.full_run(&repo, id).await {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = gh.inner.events.send(RunEvent::Problem { run: Some(listed.id.clone()), message: e.to_string() });
                        continue;
                    }
                };
                // Each job's log once it is complete, even while the rest of the run goes on.
                for (record, job) in rec.jobs.iter().zip(&jobs) {
                    let done = record.status.is_terminal() && record.status != JobStatus::Skipped;
                    let key = (rec.id.clone(), record.key.clone());
                    if done && !logs_sent.contains(&key) {
                        match gh.job_log(&repo, job).await {
                            Ok(lines) => {
                                let _ = gh.inner.events.send(RunEvent::Log { run: rec.id.clone(), job: record.key.clone(), lines });
                                logs_sent.insert(key);
                            }
                            Err(e) => {
                                // Said once; opening the job asks again.
                                let _ = gh.inner.events.send(RunEvent::Problem { run: Some(rec.id.clone()), message: e.to_string() });
                                logs_sent.insert(key);
                            }
                        }
                    }
                }
                if seen.get(&rec.id) != Some(&rec) {
                    let _ = gh.inner.events.send(RunEvent::Updated(Box::new(rec.clone())));
                    seen.insert(rec.id.clone(), rec);
                }
            }
        }
        // Said when the budget runs low, then each time what is left halves; not at every poll.
        let budget = gh.budget();
        if let (Some(low), Some(left)) = (budget.low(), budget.remaining)
            && warned_at.is_none_or(|w| left * 2 <= w)
        {
            let _ = gh.inner.events.send(RunEvent::Problem { run: None, message: low });
            warned_at = Some(left.max(1));
        }
        let pause = if busy { gh.inner.settings.active_poll } else { gh.inner.settings.idle_poll };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
