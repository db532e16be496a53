//! Deciding a gate is reviewing a deployment: GitHub's own protection rules decide who may, and
//! GitHub is the compare-and-set (an environment no longer waiting cannot be reviewed again).

use reqwest::Method;
use serde_json::json;

use super::GithubProvider;
use super::api::GhError;
use super::model::{Approval, PendingDeployment};
use crate::ci::{CiError, DecidedGate};
use crate::domain::{GateDecision, RunRef};

/// The environment a gate key names (`environment production`, or just `production`).
fn environment_of(job: &str) -> &str {
    job.strip_prefix("environment ").unwrap_or(job)
}

pub async fn decide(gh: &GithubProvider, repo: &str, id: u64, run: &RunRef, job: &str, decision: &GateDecision) -> Result<(), CiError> {
    let api = &gh.inner.api;
    if job == super::convert::FIRST_TIMER_GATE {
        if !decision.approved {
            return Err(CiError::Other(
                "GitHub has no rejection for a first-time contributor's run: it never runs unless approved; cancel it to close it".into(),
            ));
        }
        api.call(Method::POST, &format!("/repos/{repo}/actions/runs/{id}/approve"), None).await?;
        return Ok(());
    }
    let env = environment_of(job);
    let pending: Vec<PendingDeployment> = api.get(&format!("/repos/{repo}/actions/runs/{id}/pending_deployments")).await?;
    let Some(waiting) = pending.iter().find(|d| d.environment.name == env) else {
        return Err(already_decided(gh, repo, id, run, env).await);
    };
    if !waiting.current_user_can_approve {
        let reviewers: Vec<String> = waiting.reviewers.iter().map(|r| r.describe()).collect();
        return Err(CiError::Other(format!(
            "GitHub says this token's user may not review `{env}` (required reviewers: {})",
            if reviewers.is_empty() { "none listed".into() } else { reviewers.join(", ") }
        )));
    }
    let comment = if decision.comment.trim().is_empty() {
        format!("{} via flightdeck", decision.by)
    } else {
        format!("{} via flightdeck: {}", decision.by, decision.comment.trim())
    };
    let body = json!({
        "environment_ids": [waiting.environment.id],
        "state": if decision.approved { "approved" } else { "rejected" },
        "comment": comment,
    });
    match api.call(Method::POST, &format!("/repos/{repo}/actions/runs/{id}/pending_deployments"), Some(&body)).await {
        Ok(_) => Ok(()),
        // Someone reviewed it between our look and our review.
        Err(GhError::Refused(422, _)) => Err(already_decided(gh, repo, id, run, env).await),
        Err(e) => Err(e.into()),
    }
}

/// Why an environment is not waiting: the review someone gave, or that none is waiting.
async fn already_decided(gh: &GithubProvider, repo: &str, id: u64, run: &RunRef, env: &str) -> CiError {
    let approvals: Vec<Approval> = match gh.inner.api.get(&format!("/repos/{repo}/actions/runs/{id}/approvals")).await {
        Ok(a) => a,
        Err(e) => return e.into(),
    };
    match approvals.iter().rev().find(|a| a.environments.iter().any(|e| e.name == env)) {
        Some(a) => CiError::AlreadyDecided(Box::new(DecidedGate {
            run: run.clone(),
            gate: super::gate_key(env),
            verdict: a.state.clone(),
            by: format!("github:{}", a.user.login),
            at: "GitHub".into(),
        })),
        None => CiError::WrongState {
            run: run.clone(),
            status: "not waiting".into(),
            what: format!("no review of environment `{env}` is waiting"),
        },
    }
}
