//! Gates of a run executing here: a decision applies once, only if the journal backs it, and a
//! gate that waits past its deadline times out, journaled.

use super::execute::meta_line;
use super::*;

/// A decision takes effect only if the journal holds its intent (written by the one path that
/// decides: policy, confirmation, journal): a request file written by hand decides nothing.
pub(super) fn backed_by_journal(inner: &Inner, rec: &RunRecord, job: &str, d: &GateDecision) -> Result<(), CiError> {
    let action = if d.approved { "gate.approve" } else { "gate.reject" };
    let run = rec.id.text();
    let pending =
        inner.journal.pending_intents().map_err(|e| CiError::Other(format!("the journal cannot be read to check the decision: {e}")))?;
    let backed = pending.iter().any(|r| {
        r.action == action
            && r.actor == d.by
            && r.parameters["run"].as_str() == Some(run.as_str())
            && r.parameters["gate"].as_str() == Some(job)
    });
    if backed {
        Ok(())
    } else {
        Err(CiError::Other(format!(
            "a decision on gate `{job}` by {} has no record in the journal, so it was refused (decisions go through flightdeck approve/reject)",
            d.by
        )))
    }
}

/// Says, in the gate's log, the journal and to whoever listens, that a decision nobody journaled
/// was refused.
pub(super) fn refuse_unjournaled(inner: &Inner, rec: &RunRecord, job: &str, d: &GateDecision, e: &CiError) {
    meta_line(inner, rec, job, e.to_string());
    let draft = crate::audit::Draft {
        actor: d.by.clone(),
        origin: "control file".into(),
        environment: rec.job(job).and_then(|j| j.gate.as_ref()?.environment.clone()),
        target: job.to_string(),
        action: if d.approved { "gate.approve" } else { "gate.reject" }.into(),
        parameters: serde_json::json!({ "run": rec.id, "pipeline": rec.pipeline, "gate": job }),
        reason: d.comment.clone(),
        phase: Some(crate::audit::Phase::Refused),
        result: "refused".into(),
        error: Some(e.to_string()),
        ..Default::default()
    };
    journal_refusal(inner, &rec.id, draft, e);
}

/// Journals a refusal of a request from another process, and says so to whoever listens.
pub(super) fn journal_refusal(inner: &Inner, run: &RunRef, draft: crate::audit::Draft, e: &CiError) {
    let journaled = inner.journal.append(draft).err().map(|j| format!(" (and it could not be journaled: {j})")).unwrap_or_default();
    let _ = inner.events.send(RunEvent::Problem { run: Some(run.clone()), message: format!("{e}{journaled}") });
}

pub(super) fn apply_gate(inner: &Inner, rec: &mut RunRecord, job: &str, decision: GateDecision) -> Result<(), CiError> {
    already_decided(rec, job)?;
    check_gate_waiting(rec, job)?;
    let approved = decision.approved;
    let text = match (approved, decision.comment.is_empty()) {
        (true, true) => format!("approved by {}", decision.by),
        (true, false) => format!("approved by {}: {}", decision.by, decision.comment),
        (false, true) => format!("rejected by {}", decision.by),
        (false, false) => format!("rejected by {}: {}", decision.by, decision.comment),
    };
    if let Some(j) = rec.job_mut(job) {
        j.status = if approved { JobStatus::Success } else { JobStatus::Failed };
        j.finished_at = Some(Timestamp::now());
        j.error = if approved { None } else { Some(text.clone()) };
        if let Some(g) = j.gate.as_mut() {
            g.decision = Some(decision);
        }
    }
    meta_line(inner, rec, job, text);
    Ok(())
}

/// Exactly one decision per gate: the second is told who decided, and when.
pub(super) fn already_decided(rec: &RunRecord, job: &str) -> Result<(), CiError> {
    match rec.job(job).and_then(|j| j.gate.as_ref()?.decision.as_ref()) {
        Some(d) => Err(CiError::AlreadyDecided(Box::new(crate::ci::DecidedGate {
            run: rec.id.clone(),
            gate: job.to_string(),
            verdict: if d.approved { "approved" } else { "rejected" }.into(),
            by: d.by.clone(),
            at: d.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }))),
        None => Ok(()),
    }
}

pub(super) fn expire_gates(inner: &Inner, rec: &mut RunRecord) {
    let now = Timestamp::now();
    let expired: Vec<String> = rec
        .jobs
        .iter()
        .filter(|j| j.status == JobStatus::Waiting && j.gate.as_ref().and_then(|g| g.deadline).is_some_and(|d| d <= now))
        .map(|j| j.key.clone())
        .collect();
    for key in expired {
        if let Some(j) = rec.job_mut(&key) {
            j.status = JobStatus::TimedOut;
            j.finished_at = Some(now);
            j.error = Some("no decision before the gate's timeout".into());
        }
        meta_line(inner, rec, &key, "the gate timed out without a decision".into());
        let env = rec.job(&key).and_then(|j| j.gate.as_ref()?.environment.clone());
        let draft = crate::audit::Draft {
            actor: "flightdeck".into(),
            origin: "local".into(),
            environment: env,
            target: key.clone(),
            action: "gate.timeout".into(),
            parameters: serde_json::json!({ "run": rec.id, "pipeline": rec.pipeline, "gate": key }),
            reason: "no decision before the gate's timeout".into(),
            phase: Some(crate::audit::Phase::Event),
            result: "recorded".into(),
            ..Default::default()
        };
        if let Err(e) = inner.journal.append(draft) {
            let _ = inner
                .events
                .send(RunEvent::Problem { run: Some(rec.id.clone()), message: format!("the gate timeout could not be journaled: {e}") });
        }
    }
}
