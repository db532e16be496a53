//! Changes to the outside world, shared by the cockpit and the CLI: what an operation is, what it
//! touches (for policy and the confirmation dialog), and how it is executed — audit intent first
//! (fsync'd), then the action, then the outcome.

mod release;

pub use release::{describe_release, execute_release};

use serde_json::json;

use crate::audit::{Draft, Journal, Phase};
use crate::ci::CiProvider;
use crate::domain::{GateDecision, JobStatus, RunRecord, RunRef, Trigger};
use crate::identity::Identity;
use crate::policy::{ActionKind, Tier};

/// What a trigger names besides the pipeline: a branch, tag or commit, and the workflow's inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TriggerWith {
    pub git_ref: Option<String>,
    pub inputs: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Trigger {
        pipeline: String,
        /// The ref and inputs to run it with, where the CI service takes them.
        with: TriggerWith,
    },
    Cancel {
        run: RunRef,
        /// The CI service's forced cancel (GitHub's `force-cancel`), for a run stuck cancelling.
        force: bool,
    },
    Retry {
        run: RunRef,
        scope: crate::ci::RetryScope,
    },
    Gate {
        run: RunRef,
        job: String,
        approve: bool,
    },
    /// Accept a finding's risk until `expires` (set from the dialog or `--expires`), written to the
    /// acceptances file.
    AcceptRisk {
        run: RunRef,
        id: String,
        package: Option<String>,
        target: Option<String>,
        severity: crate::findings::Severity,
        expires: Option<jiff::civil::Date>,
        file: std::path::PathBuf,
    },
    /// An action on a rollout of any provider, with what the person saw (refused if it moved on).
    Rollout {
        target: crate::domain::RolloutRef,
        action: crate::delivery::RolloutAction,
        seen: Option<crate::delivery::Seen>,
    },
}

impl Operation {
    pub fn kind(&self) -> ActionKind {
        match self {
            Operation::Trigger { .. } => ActionKind::Trigger,
            Operation::Cancel { .. } => ActionKind::Cancel,
            Operation::Retry { .. } => ActionKind::Retry,
            Operation::Gate { approve: true, .. } => ActionKind::Approve,
            Operation::Gate { approve: false, .. } => ActionKind::Reject,
            Operation::AcceptRisk { .. } => ActionKind::AcceptRisk,
            Operation::Rollout { action, .. } => action.policy_kind(),
        }
    }

    /// The journal's name for it.
    pub fn action(&self) -> &'static str {
        match self {
            Operation::Trigger { .. } => "run.trigger",
            Operation::Cancel { .. } => "run.cancel",
            Operation::Retry { .. } => "run.retry",
            Operation::Gate { approve: true, .. } => "gate.approve",
            Operation::Gate { approve: false, .. } => "gate.reject",
            Operation::AcceptRisk { id, .. } if id.starts_with(crate::findings::RULE_PREFIX) => "gate.except",
            Operation::AcceptRisk { .. } => "risk.accept",
            Operation::Rollout { action, .. } => action.audit_action(),
        }
    }

    /// Identity of the operation: a second one with the same key is refused while one is in flight.
    pub fn key(&self) -> String {
        match self {
            Operation::Trigger { pipeline, .. } => format!("run {pipeline}"),
            Operation::Cancel { run, .. } => format!("cancel #{run}"),
            Operation::Retry { run, .. } => format!("retry #{run}"),
            Operation::Gate { run, job, approve } => format!("{} gate {job} of #{run}", if *approve { "approve" } else { "reject" }),
            Operation::AcceptRisk { id, package, .. } => {
                format!("accept {id}{}", package.as_ref().map(|p| format!(" in {p}")).unwrap_or_default())
            }
            // One change per rollout at a time, whatever it is.
            Operation::Rollout { target, .. } => format!("rollout {}", target.text()),
        }
    }
}

/// What an operation touches, as the user sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What a typed confirmation must match exactly.
    pub name: String,
    pub environments: Vec<String>,
    /// Everyone who started an attempt of the run it concerns (four-eyes keeps them from
    /// approving it).
    pub triggered_by: Vec<String>,
    pub parameters: serde_json::Value,
    /// The exact effect, one sentence per line.
    pub effect: Vec<String>,
    /// When the release gate would have nothing to judge this by: how to supply the evidence.
    pub evidence_hint: Option<String>,
}

impl Target {
    /// Why the policy refused it, in one message for the cockpit and the command line: the rule's
    /// words, and, when the release gate refused for want of evidence, how to supply some.
    pub fn explain_refusal(&self, rule: &str, message: &str) -> String {
        match &self.evidence_hint {
            Some(hint) if rule.ends_with(".security") => format!("{message} [{rule}]; {hint}"),
            _ => format!("{message} [{rule}]"),
        }
    }
}

/// Describes an operation against the run it concerns (None for a trigger), or says why it makes
/// no sense in the run's current state.
pub fn describe(op: &Operation, run: Option<&RunRecord>, pipeline_envs: &[String]) -> Result<Target, String> {
    match op {
        Operation::Rollout { target, .. } => Err(format!("rollout {target}: describe it with its release (describe_release)")),
        Operation::Trigger { pipeline, with } => Ok(Target {
            name: pipeline.clone(),
            environments: pipeline_envs.to_vec(),
            triggered_by: Vec::new(),
            parameters: match (&with.git_ref, with.inputs.is_empty()) {
                (None, true) => json!({ "pipeline": pipeline }),
                _ => json!({ "pipeline": pipeline, "ref": with.git_ref, "inputs": with.inputs }),
            },
            effect: vec![format!(
                "Starts a new run of `{pipeline}`{}{}{}.",
                with.git_ref.as_ref().map(|r| format!(" on {r}")).unwrap_or_default(),
                if with.inputs.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", with.inputs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
                },
                if pipeline_envs.is_empty() { String::new() } else { format!(", which deploys to {}", pipeline_envs.join(", ")) }
            )],
            evidence_hint: None,
        }),
        Operation::Cancel { run: id, .. } | Operation::Retry { run: id, .. } => {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
            let verb = if matches!(op, Operation::Cancel { .. }) { "cancel" } else { "retry" };
            if let Some(why) = rec.refused.get(verb) {
                return Err(why.clone());
            }
            let envs = run_environments(rec);
            let base = json!({ "run": id, "pipeline": rec.pipeline });
            let name = format!("{}#{id}", rec.pipeline);
            if let Operation::Cancel { .. } = op {
                if rec.status.is_terminal() {
                    return Err(format!("run #{id} is {}; there is nothing to cancel", rec.status.label()));
                }
                let running: Vec<&str> = rec.jobs.iter().filter(|j| j.status == JobStatus::Running).map(|j| j.key.as_str()).collect();
                Ok(Target {
                    name,
                    environments: envs,
                    triggered_by: rec.started_by(),
                    parameters: base,
                    effect: vec![
                        format!("Cancels run #{id} of `{}` ({}), started by {}.", rec.pipeline, rec.status.label(), rec.trigger.actor),
                        if running.is_empty() {
                            "No job is running; pending jobs and gates will not start.".into()
                        } else {
                            format!("Ends the process groups of: {}.", running.join(", "))
                        },
                    ],
                    evidence_hint: None,
                })
            } else {
                if !rec.status.is_terminal() {
                    return Err(format!("run #{id} is still {}; retry it when it has finished", rec.status.label()));
                }
                let again: Vec<&str> = rec.jobs.iter().filter(|j| j.status.is_retryable()).map(|j| j.key.as_str()).collect();
                if again.is_empty() {
                    return Err(format!("run #{id} has no failed, cancelled or skipped job to retry"));
                }
                Ok(Target {
                    name,
                    environments: envs,
                    triggered_by: rec.started_by(),
                    parameters: base,
                    effect: vec![format!("Runs again in run #{id} of `{}`: {}.", rec.pipeline, again.join(", "))],
                    evidence_hint: None,
                })
            }
        }
        Operation::AcceptRisk { run: id, id: rule, target: Some(environment), expires, file, .. }
            if rule.starts_with(crate::findings::RULE_PREFIX) =>
        {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
            let until = expires.map(|d| d.to_string()).unwrap_or_else(|| "the expiry you give".into());
            let name = rule.trim_start_matches(crate::findings::RULE_PREFIX);
            Ok(Target {
                name: rule.clone(),
                environments: vec![environment.clone()],
                triggered_by: Vec::new(),
                parameters: json!({
                    "run": id, "pipeline": rec.pipeline, "rule": name, "environment": environment,
                    "expires": expires.map(|d| d.to_string()), "file": file.display().to_string(),
                }),
                effect: vec![
                    format!(
                        "Excepts the release gate's {name} rule in {environment} until {until}: while it fails, the gate lets it through, saying who excepted it and why."
                    ),
                    format!("Written to {}, beside the risk acceptances.", file.display()),
                ],
                evidence_hint: None,
            })
        }
        Operation::AcceptRisk { run: id, id: finding, package, target, severity, expires, file } => {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
            let until = expires.map(|d| d.to_string()).unwrap_or_else(|| "the expiry you give".into());
            Ok(Target {
                name: finding.clone(),
                environments: run_environments(rec),
                triggered_by: Vec::new(),
                parameters: json!({
                    "run": id, "pipeline": rec.pipeline, "finding": finding, "severity": severity.label(),
                    "package": package, "target": target, "expires": expires.map(|d| d.to_string()),
                    "file": file.display().to_string(),
                }),
                effect: vec![
                    format!(
                        "Accepts the risk of {finding} ({}){} until {until}.",
                        severity.label(),
                        package.as_ref().map(|p| format!(" in {p}")).unwrap_or_default()
                    ),
                    format!("The release gate stops counting it until then. Written to {}.", file.display()),
                ],
                evidence_hint: None,
            })
        }
        Operation::Gate { run: id, job, approve } => {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
            let j = rec.job(job).ok_or_else(|| format!("run #{id} has no gate `{job}`"))?;
            if j.status != JobStatus::Waiting {
                if let Some(d) = j.gate.as_ref().and_then(|g| g.decision.as_ref()) {
                    let verdict = if d.approved { "approved" } else { "rejected" };
                    return Err(format!(
                        "gate `{job}` of run #{id} was already {verdict} by {} at {}",
                        d.by,
                        d.at.strftime("%Y-%m-%d %H:%M:%S UTC")
                    ));
                }
                return Err(format!("gate `{job}` of run #{id} is not waiting (it is {})", j.status.label()));
            }
            let env = j.gate.as_ref().and_then(|g| g.environment.clone());
            let next: Vec<&str> = rec.stages.iter().filter(|s| s.needs.contains(&j.stage)).map(|s| s.name.as_str()).collect();
            let evidence: Vec<String> =
                rec.jobs.iter().filter(|o| o.status.is_terminal()).map(|o| format!("{} {}", o.status.glyph(), o.key)).collect();
            Ok(Target {
                name: job.clone(),
                environments: env.clone().into_iter().collect(),
                triggered_by: rec.started_by(),
                parameters: json!({ "run": id, "pipeline": rec.pipeline, "gate": job }),
                effect: vec![
                    format!(
                        "Gate `{job}` of run #{id} (`{}`), environment {}, started by {}.",
                        rec.pipeline,
                        env.as_deref().unwrap_or("-"),
                        rec.trigger.actor
                    ),
                    format!("Evidence: {}.", if evidence.is_empty() { "no job has finished".into() } else { evidence.join("  ") }),
                    if *approve {
                        if next.is_empty() {
                            "Approving completes the gate.".into()
                        } else {
                            format!("Approving lets {} start.", next.join(", "))
                        }
                    } else {
                        "Rejecting fails the gate; everything after it is skipped.".into()
                    },
                ]
                .into_iter()
                // What the CI service says about the gate (a GitHub environment's reviewers).
                .chain(j.error.clone())
                .collect(),
                evidence_hint: None,
            })
        }
    }
}

/// Every environment a run's stages target.
pub fn run_environments(rec: &RunRecord) -> Vec<String> {
    let mut envs: Vec<String> = rec.stages.iter().filter_map(|s| s.environment.clone()).collect();
    envs.sort();
    envs.dedup();
    envs
}

/// An operation the policy allowed and the user confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approved {
    pub op: Operation,
    pub identity: Identity,
    /// Where the change came from (`tui`, `cli`).
    pub via: String,
    pub target: Target,
    pub reason: String,
    pub break_glass: bool,
    /// The confirmation that really happened (None when nobody was asked).
    pub tier: Tier,
}

impl Approved {
    fn draft(&self, phase: Phase, result: &str) -> Draft {
        Draft {
            actor: self.identity.actor.clone(),
            origin: self.identity.origin.clone(),
            environment: (!self.target.environments.is_empty()).then(|| self.target.environments.join(",")),
            target: self.target.name.clone(),
            action: self.op.action().into(),
            parameters: {
                let mut p = self.target.parameters.clone();
                if let serde_json::Value::Object(m) = &mut p {
                    m.insert("confirmation".into(), json!(self.tier.name()));
                    m.insert("via".into(), json!(self.via));
                }
                p
            },
            reason: self.reason.clone(),
            phase: Some(phase),
            result: result.into(),
            error: None,
            intent: None,
            break_glass: self.break_glass,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub message: String,
    /// The run a trigger created.
    pub new_run: Option<RunRef>,
    /// The action happened but something about it needs attention (e.g. the outcome record).
    pub warning: Option<String>,
}

async fn append(journal: &Journal, draft: Draft) -> Result<crate::audit::AuditRecord, String> {
    let j = journal.clone();
    tokio::task::spawn_blocking(move || j.append(draft)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
}

/// Journals the intent (and stops if that fails), acts, journals the outcome.
pub async fn execute(ci: &dyn CiProvider, journal: &Journal, mut a: Approved) -> Result<Report, String> {
    // Where the CI service authenticates the user, who it knows them as goes beside the account.
    let subject = match &a.op {
        Operation::Trigger { pipeline, .. } => Some(pipeline.clone()),
        Operation::Cancel { run, .. } | Operation::Retry { run, .. } | Operation::Gate { run, .. } => Some(run.text()),
        _ => None,
    };
    if let Some(subject) = subject
        && let Some((service, user)) = ci.authenticated(&subject).await
        && let serde_json::Value::Object(m) = &mut a.target.parameters
    {
        m.insert(format!("{service}_user"), json!(user));
    }
    let trigger = Trigger { actor: a.identity.actor.clone(), via: a.via.clone(), ..Default::default() };
    let act = async {
        match &a.op {
            Operation::Trigger { pipeline, with } => {
                let trigger = Trigger { git_ref: with.git_ref.clone(), inputs: with.inputs.clone(), ..trigger.clone() };
                ci.trigger(pipeline.clone(), trigger).await.map(|id| (format!("started run #{id} of `{pipeline}`"), Some(id)))
            }
            Operation::Cancel { run, force: false } => ci.cancel(run.clone()).await.map(|_| (format!("cancelling run #{run}"), None)),
            Operation::Cancel { run, force: true } => {
                ci.force_cancel(run.clone()).await.map(|_| (format!("force-cancelling run #{run}"), None))
            }
            Operation::Retry { run, scope } => ci
                .retry_scoped(run.clone(), trigger, scope.clone())
                .await
                .map(|_| (format!("retrying {} of run #{run}", scope.describe()), None)),
            Operation::Gate { run, job, approve } => {
                let decision = GateDecision {
                    approved: *approve,
                    by: a.identity.actor.clone(),
                    at: jiff::Timestamp::now(),
                    comment: a.reason.clone(),
                };
                ci.decide_gate(run.clone(), job.clone(), decision)
                    .await
                    .map(|_| (format!("{} gate `{job}` of run #{run}", if *approve { "approved" } else { "rejected" }), None))
            }
            Operation::AcceptRisk { id, package, target, expires, file, .. } => match expires {
                None => Err(crate::ci::CiError::Other("an expiry date is required".into())),
                Some(expires) => {
                    let entry = crate::findings::Acceptance {
                        id: id.clone(),
                        package: package.clone(),
                        target: target.clone(),
                        reason: a.reason.clone(),
                        by: a.identity.actor.clone(),
                        expires: *expires,
                    };
                    let file = file.clone();
                    tokio::task::spawn_blocking(move || crate::findings::Acceptances::append(&file, &entry))
                        .await
                        .map_err(|e| crate::ci::CiError::Other(e.to_string()))
                        .and_then(|r| r.map_err(crate::ci::CiError::Other))
                        .map(|_| match id.strip_prefix(crate::findings::RULE_PREFIX) {
                            Some(rule) => (format!("excepted the {rule} rule until {expires}"), None),
                            None => (format!("accepted the risk of {id} until {expires}"), None),
                        })
                }
            },
            Operation::Rollout { .. } => Err(crate::ci::CiError::Other("rollout operations go through the rollout providers".into())),
        }
        .map_err(|e| e.to_string())
    };
    journaled(journal, a.clone(), act).await
}

pub(crate) async fn journaled(
    journal: &Journal,
    a: Approved,
    act: impl std::future::Future<Output = Result<(String, Option<RunRef>), String>>,
) -> Result<Report, String> {
    let intent = append(journal, a.draft(Phase::Intent, "pending")).await.map_err(|e| format!("not done: {e}"))?;
    let result = act.await;
    let mut outcome = a.draft(Phase::Outcome, if result.is_ok() { "success" } else { "failure" });
    outcome.intent = Some(intent.seq);
    outcome.error = result.as_ref().err().cloned();
    if let (Ok((_, Some(id))), serde_json::Value::Object(m)) = (&result, &mut outcome.parameters) {
        m.insert("run".into(), json!(id));
    }
    let journaled = append(journal, outcome).await;
    match result {
        Ok((message, new_run)) => {
            Ok(Report { message, new_run, warning: journaled.err().map(|e| format!("the outcome could not be journaled: {e}")) })
        }
        Err(e) => Err(match journaled {
            Ok(_) => e,
            Err(j) => format!("{e} (and the outcome could not be journaled: {j})"),
        }),
    }
}

/// Records a refusal (policy or stale state) so attempted actions are evidence too.
pub fn refusal(
    op: &Operation,
    identity: &Identity,
    target_name: &str,
    environments: &[String],
    parameters: serde_json::Value,
    why: &str,
) -> Draft {
    Draft {
        actor: identity.actor.clone(),
        origin: identity.origin.clone(),
        environment: (!environments.is_empty()).then(|| environments.join(",")),
        target: target_name.to_string(),
        action: op.action().into(),
        parameters,
        reason: String::new(),
        phase: Some(Phase::Refused),
        result: "refused".into(),
        error: Some(why.to_string()),
        intent: None,
        break_glass: false,
    }
}
