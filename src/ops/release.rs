//! Changes to rollouts, whichever provider runs them: described by the provider's pure plan
//! against what the user saw, judged by the evidence of the run that built the release, and
//! executed through the provider between the journal's intent and outcome records.

use serde_json::json;

use super::{Approved, Operation, Report, Target, journaled};
use crate::audit::Journal;
use crate::delivery::{By, Detail, PlanError, Release, RolloutAction, RolloutProvider};

/// Describes `action` on `release` as the user sees it (with the opened detail, when it is this
/// release's), or says why it makes no sense now or why the backend would refuse it.
pub fn describe_release(
    provider: &dyn RolloutProvider,
    release: &Release,
    detail: Option<&Detail>,
    action: &RolloutAction,
    now: jiff::Timestamp,
) -> Result<Target, PlanError> {
    let plan = provider.plan(release, detail, action, now)?;
    if let Some(why) = plan.denied {
        return Err(PlanError::Invalid(why));
    }
    let mut effect = plan.effect;
    let mut environments: Vec<String> = release.environment.clone().into_iter().collect();
    for env in plan.reaches {
        if !environments.contains(&env) {
            environments.push(env);
        }
    }
    let mut evidence_hint = None;
    let name = release.reference.short();
    if action.is_promotion() {
        match &release.run {
            Some(run) => effect.push(format!("Judged by the security findings of run {}, which built this release.", run.text())),
            None => {
                effect.push(format!("No pipeline run is linked to `{name}`, so its security findings cannot be judged."));
                let command = if *action == RolloutAction::Approve { "rollout approve" } else { "promote" };
                evidence_hint = Some(format!(
                    "no pipeline run is linked to {name}: {}, \
                     or name the run whose findings judge it: `flightdeck {command} {} --evidence RUN`",
                    plan.run_link.as_deref().unwrap_or("deploy it from a flightdeck stage (which records the run)"),
                    release.reference.text()
                ));
            }
        }
    }
    let mut parameters = plan.parameters;
    if let serde_json::Value::Object(m) = &mut parameters {
        m.insert("ref".into(), json!(release.reference.text()));
    }
    Ok(Target { name, environments, triggered_by: Vec::new(), parameters, effect, evidence_hint })
}

/// Journals the intent, acts through the provider, journals the outcome.
pub async fn execute_release(provider: &dyn RolloutProvider, journal: &Journal, a: Approved) -> Result<Report, String> {
    let act = async {
        let Operation::Rollout { target, action, seen } = &a.op else { return Err("not a rollout operation".to_string()) };
        let by = By { actor: a.identity.actor.clone(), reason: a.reason.clone() };
        provider.execute(target.clone(), action.clone(), seen.clone(), by).await.map(|m| (m, None)).map_err(|e| e.to_string())
    };
    journaled(journal, a.clone(), act).await
}
