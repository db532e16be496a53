//! What the supervisor executes for its clients, and only that: a queued run whose trigger or retry
//! the journal holds as an intent still waiting for its outcome. A run file edited by hand, or a
//! request replayed later, executes nothing.

use super::*;
use crate::audit::Phase;

impl LocalRunner {
    /// Executes a run a client created and journaled, here, its jobs starting from the client's
    /// environment (as they would in the client's shell).
    pub async fn execute_requested(&self, id: &RunRef, env: Vec<(String, String)>) -> Result<(), CiError> {
        let (runner, rid) = (self.clone(), id.clone());
        // Checked under the run's lock, so nothing (a second request, a recovery) changes it
        // between the check and the start.
        let (rec, lock) = tokio::task::spawn_blocking(move || -> Result<_, CiError> {
            let lock = runner.take(&rid)?;
            let rec = runner.inner.store.load(&rid)?;
            if rec.status != RunStatus::Queued {
                return Err(CiError::WrongState {
                    run: rid,
                    status: rec.status.label().into(),
                    what: "only a queued run can be executed".into(),
                });
            }
            if let Err(e) = backed_by_journal(&runner.inner, &rec) {
                refuse(&runner.inner, &rec, &e);
                return Err(e);
            }
            Ok((rec, lock))
        })
        .await
        .map_err(|e| CiError::Other(e.to_string()))??;
        self.start_locked(rec, lock, (!env.is_empty()).then(|| Arc::new(env)))
    }

    /// Runs executing in this process.
    pub fn active_runs(&self) -> Vec<RunRef> {
        self.inner.active.lock().map(|a| a.keys().cloned().collect()).unwrap_or_default()
    }

    /// Cancels every run this process executes, each journaled with why (the supervisor stopped).
    pub fn cancel_all_journaled(&self, why: &str) -> usize {
        let runs = self.cancel_all();
        for id in &runs {
            let draft = crate::audit::Draft {
                actor: "flightdeck".into(),
                origin: "supervisor".into(),
                target: id.text(),
                action: "run.cancel".into(),
                parameters: serde_json::json!({ "run": id }),
                reason: why.to_string(),
                phase: Some(Phase::Event),
                result: "recorded".into(),
                ..Default::default()
            };
            if let Err(e) = self.inner.journal.append(draft) {
                let _ = self
                    .inner
                    .events
                    .send(RunEvent::Problem { run: Some(id.clone()), message: format!("the cancellation could not be journaled: {e}") });
            }
        }
        runs.len()
    }
}

/// The intent that asked for this run: a retry names the run and its last retrier; a trigger names
/// the pipeline and who triggered it.
fn backed_by_journal(inner: &Inner, rec: &RunRecord) -> Result<(), CiError> {
    let pending =
        inner.journal.pending_intents().map_err(|e| CiError::Other(format!("the journal cannot be read to check the request: {e}")))?;
    let run = rec.id.text();
    let retrier = rec.retried_by.last();
    let backed = pending.iter().any(|r| match retrier {
        Some(by) => r.action == "run.retry" && &r.actor == by && r.parameters["run"].as_str() == Some(run.as_str()),
        None => {
            r.action == "run.trigger" && r.actor == rec.trigger.actor && r.parameters["pipeline"].as_str() == Some(rec.pipeline.as_str())
        }
    });
    if backed {
        Ok(())
    } else {
        Err(CiError::Other(format!(
            "run #{} has no pending request in the journal, so it was not executed (runs start through flightdeck run/retry)",
            rec.id
        )))
    }
}

fn refuse(inner: &Inner, rec: &RunRecord, e: &CiError) {
    let draft = crate::audit::Draft {
        actor: rec.retried_by.last().unwrap_or(&rec.trigger.actor).clone(),
        origin: "supervisor request".into(),
        target: rec.pipeline.clone(),
        action: if rec.retried_by.is_empty() { "run.trigger" } else { "run.retry" }.into(),
        parameters: serde_json::json!({ "run": rec.id, "pipeline": rec.pipeline }),
        phase: Some(Phase::Refused),
        result: "refused".into(),
        error: Some(e.to_string()),
        ..Default::default()
    };
    super::gates::journal_refusal(inner, &rec.id, draft, e);
}
