//! Changes to the outside world, shared by the cockpit and the CLI: what an operation is, what it
//! touches (for policy and the confirmation dialog), and how it is executed — audit intent first
//! (fsync'd), then the action, then the outcome.

use serde_json::json;

use crate::audit::{Draft, Journal, Phase};
use crate::ci::CiProvider;
use crate::domain::{GateDecision, JobStatus, RunRecord, RunRef, Trigger};
use crate::identity::Identity;
use crate::policy::{ActionKind, Tier};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Trigger {
        pipeline: String,
    },
    Cancel {
        run: RunRef,
    },
    Retry {
        run: RunRef,
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
    /// Start rolling out `version` through a rollout's steps.
    StartRollout {
        name: String,
        version: String,
        /// What the stable servers run, when the caller knows it.
        stable_version: Option<String>,
        /// The pipeline run handing over, if any.
        run: Option<RunRef>,
    },
    /// A person's action on a rollout, with what they saw (refused if it moved on).
    Rollout {
        name: String,
        action: crate::rollout::RolloutAction,
        seen: Option<crate::rollout::Seen>,
    },
    /// An action on an Argo Rollout in a Kubernetes context, with what the person saw.
    Argo {
        context: String,
        namespace: String,
        name: String,
        action: crate::argo::ArgoAction,
        seen: Option<crate::argo::Seen>,
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
            Operation::StartRollout { .. } => ActionKind::Trigger,
            Operation::Rollout { action, .. } => action.policy_kind(),
            Operation::Argo { action, .. } => {
                use crate::argo::ArgoAction as A;
                match action {
                    A::Promote => ActionKind::Promote,
                    A::PromoteFull => ActionKind::PromoteFull,
                    A::Pause => ActionKind::Pause,
                    A::Resume => ActionKind::Resume,
                    A::Abort => ActionKind::Abort,
                    A::Retry => ActionKind::RolloutRetry,
                    A::Restart => ActionKind::Restart,
                    A::Undo { .. } => ActionKind::Undo,
                    A::TerminateAnalysis { .. } => ActionKind::TerminateAnalysis,
                    // A new version going out, as when a pipeline starts an NGINX canary.
                    A::SetImage { .. } => ActionKind::Trigger,
                }
            }
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
            Operation::AcceptRisk { .. } => "risk.accept",
            Operation::StartRollout { .. } => "rollout.start",
            Operation::Rollout { action, .. } => action.audit_action(),
            Operation::Argo { action, .. } => action.audit_action(),
        }
    }

    /// Identity of the operation: a second one with the same key is refused while one is in flight.
    pub fn key(&self) -> String {
        match self {
            Operation::Trigger { pipeline } => format!("run {pipeline}"),
            Operation::Cancel { run } => format!("cancel #{run}"),
            Operation::Retry { run } => format!("retry #{run}"),
            Operation::Gate { run, job, approve } => format!("{} gate {job} of #{run}", if *approve { "approve" } else { "reject" }),
            Operation::AcceptRisk { id, package, .. } => {
                format!("accept {id}{}", package.as_ref().map(|p| format!(" in {p}")).unwrap_or_default())
            }
            // One change per rollout at a time, whatever it is.
            Operation::StartRollout { name, .. } | Operation::Rollout { name, .. } => format!("rollout {name}"),
            Operation::Argo { context, namespace, name, .. } => format!("rollout {context}/{namespace}/{name}"),
        }
    }
}

/// What an operation touches, as the user sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What a typed confirmation must match exactly.
    pub name: String,
    pub environments: Vec<String>,
    pub triggered_by: Option<String>,
    pub parameters: serde_json::Value,
    /// The exact effect, one sentence per line.
    pub effect: Vec<String>,
    /// When the security gate would have nothing to judge this by: how to supply the evidence.
    pub evidence_hint: Option<String>,
}

impl Target {
    /// Why the policy refused it, in one message for the cockpit and the command line: the rule's
    /// words, and, when the security gate refused for want of evidence, how to supply some.
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
        Operation::StartRollout { name, .. } | Operation::Rollout { name, .. } | Operation::Argo { name, .. } => {
            Err(format!("rollout {name}: describe it with its record (describe_rollout, describe_argo)"))
        }
        Operation::Trigger { pipeline } => Ok(Target {
            name: pipeline.clone(),
            environments: pipeline_envs.to_vec(),
            triggered_by: None,
            parameters: json!({ "pipeline": pipeline }),
            effect: vec![format!(
                "Starts a new run of `{pipeline}`{}.",
                if pipeline_envs.is_empty() { String::new() } else { format!(", which deploys to {}", pipeline_envs.join(", ")) }
            )],
            evidence_hint: None,
        }),
        Operation::Cancel { run: id } | Operation::Retry { run: id } => {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
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
                    triggered_by: Some(rec.trigger.actor.clone()),
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
                    triggered_by: Some(rec.trigger.actor.clone()),
                    parameters: base,
                    effect: vec![format!("Runs again in run #{id} of `{}`: {}.", rec.pipeline, again.join(", "))],
                    evidence_hint: None,
                })
            }
        }
        Operation::AcceptRisk { run: id, id: finding, package, target, severity, expires, file } => {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
            let until = expires.map(|d| d.to_string()).unwrap_or_else(|| "the expiry you give".into());
            Ok(Target {
                name: finding.clone(),
                environments: run_environments(rec),
                triggered_by: None,
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
                    format!("The security gate stops counting it until then. Written to {}.", file.display()),
                ],
                evidence_hint: None,
            })
        }
        Operation::Gate { run: id, job, approve } => {
            let rec = run.ok_or_else(|| format!("run #{id} is not known"))?;
            let j = rec.job(job).ok_or_else(|| format!("run #{id} has no gate `{job}`"))?;
            if j.status != JobStatus::Waiting {
                return Err(format!("gate `{job}` of run #{id} is not waiting (it is {})", j.status.label()));
            }
            let env = j.gate.as_ref().and_then(|g| g.environment.clone());
            let next: Vec<&str> = rec.stages.iter().filter(|s| s.needs.contains(&j.stage)).map(|s| s.name.as_str()).collect();
            let evidence: Vec<String> =
                rec.jobs.iter().filter(|o| o.status.is_terminal()).map(|o| format!("{} {}", o.status.glyph(), o.key)).collect();
            Ok(Target {
                name: job.clone(),
                environments: env.clone().into_iter().collect(),
                triggered_by: Some(rec.trigger.actor.clone()),
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
                ],
                evidence_hint: None,
            })
        }
    }
}

/// Describes a rollout operation against the rollout as the user sees it, or says why it makes no
/// sense now (nothing is sent then).
pub fn describe_rollout(op: &Operation, rec: &crate::rollout::Record, spec: &crate::rollout::RolloutSpec) -> Result<Target, String> {
    use crate::rollout::{RolloutAction as A, Step};
    let environments: Vec<String> = spec.environment.clone().into_iter().collect();
    let at = |i: usize| spec.steps.get(i).map(Step::describe).unwrap_or_else(|| "the end (100 %)".into());
    let now = format!(
        "`{}` is {} at step {}/{} ({}), canary {} % ({} → {}).",
        spec.name,
        rec.phase.label(),
        (rec.step + 1).min(spec.steps.len()),
        spec.steps.len(),
        at(rec.step),
        rec.weight,
        rec.stable_version.as_deref().unwrap_or("stable"),
        rec.version.as_deref().unwrap_or("-"),
    );
    let (parameters, effect) = match op {
        Operation::StartRollout { version, stable_version, run, .. } => {
            if matches!(rec.phase, crate::rollout::Phase::Progressing | crate::rollout::Phase::Paused) {
                return Err(format!(
                    "{} is already rolling out {}; promote or abort it first",
                    spec.name,
                    rec.version.as_deref().unwrap_or("a version")
                ));
            }
            (
                json!({ "rollout": spec.name, "version": version, "stable_version": stable_version, "run": run }),
                vec![format!(
                    "Starts rolling out {version} on `{}` (stable: {}): {}.",
                    spec.name,
                    stable_version.as_deref().or(rec.stable_version.as_deref()).unwrap_or("unknown version"),
                    spec.steps.iter().map(Step::describe).collect::<Vec<_>>().join(" → ")
                )],
            )
        }
        Operation::Rollout { action, .. } => {
            crate::rollout::controller::check(*action, rec, spec).map_err(|e| e.to_string())?;
            let next = match action {
                A::Promote => format!("Promote: goes on past {} to the next step.", at(rec.step)),
                A::PromoteFull => {
                    "Full promotion: the canary gets 100 % of the traffic now, skipping every remaining step and analysis.".into()
                }
                A::Pause => "Pause: the rollout stays at its current weight until resumed.".into(),
                A::Resume => "Resume: lifts the manual pause; the steps go on from where they were.".into(),
                A::Abort => "Abort: all traffic goes back to the stable servers (canary 0 %).".into(),
                A::Retry => "Retry: starts the steps again from the first one.".into(),
                A::Undo => "Undo: the stable servers get 100 % of the traffic back.".into(),
            };
            (
                json!({ "rollout": spec.name, "revision": rec.revision, "step": rec.step, "phase": rec.phase.label(), "weight": rec.weight, "version": rec.version }),
                vec![now, next, format!("NGINX: upstream `{}` in {}.", spec.nginx.upstream, spec.nginx.include.display())],
            )
        }
        _ => return Err("not a rollout operation".into()),
    };
    Ok(Target { name: spec.name.clone(), environments, triggered_by: None, parameters, effect, evidence_hint: None })
}

/// Journals the intent, applies a rollout operation through the controller, journals the outcome.
pub async fn execute_rollout(controller: &crate::rollout::Controller, journal: &Journal, a: Approved) -> Result<Report, String> {
    let act = async {
        match &a.op {
            Operation::StartRollout { name, version, stable_version, run } => controller
                .start(name, version, stable_version.as_deref(), run.clone(), &a.identity.actor)
                .await
                .map(|r| (format!("{name}: {}", r.message()), None)),
            Operation::Rollout { name, action, seen } => {
                controller.act(name, *action, *seen, &a.identity.actor).await.map(|r| (format!("{name}: {}", r.message()), None))
            }
            _ => Err(crate::rollout::RolloutError::Refused("not a rollout operation".into())),
        }
        .map_err(|e| e.to_string())
    };
    journaled(journal, a.clone(), act).await
}

/// Describes an action on an Argo Rollout as it is now: its state, and the exact requests that
/// would be sent (or why the action makes no sense now).
pub fn describe_argo(
    op: &Operation,
    r: &crate::argo::Rollout,
    revisions: &[crate::argo::model::ReplicaSet],
    environment: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Target, String> {
    let Operation::Argo { context, action, .. } = op else { return Err("not an Argo Rollouts operation".into()) };
    let requests = crate::argo::actions::plan(r, action, revisions, now)?;
    let st = crate::argo::status::state(r, now);
    let mut effect = vec![format!(
        "`{}` in {context} is {}, step {}, canary weight {} % (desired {} %).",
        r.key(),
        st.describe(),
        crate::argo::status::step_text(r).unwrap_or_else(|| "-".into()),
        crate::argo::status::actual_weight(r),
        crate::argo::status::set_weight(r)
    )];
    effect.extend(requests.iter().map(crate::argo::actions::Request::describe));
    let mut evidence_hint = None;
    if matches!(action, crate::argo::ArgoAction::Promote | crate::argo::ArgoAction::PromoteFull) {
        match r.release_run() {
            Some(run) => effect.push(format!("Judged by the security findings of run {}, which built this release.", run.text())),
            None => {
                effect.push(format!(
                    "No pipeline run is linked to `{}` ({} annotation), so its security findings cannot be judged.",
                    r.key(),
                    crate::argo::model::RELEASE_RUN
                ));
                evidence_hint = Some(format!(
                    "no pipeline run is linked to {key}: deploy it from a flightdeck stage (`rollout = \"{key}\"` records the run), \
                     or name the run whose findings judge it: `flightdeck promote {key} --evidence RUN`",
                    key = r.key()
                ));
            }
        }
    }
    Ok(Target {
        name: r.key(),
        environments: environment.map(|e| vec![e.to_string()]).unwrap_or_default(),
        triggered_by: None,
        parameters: json!({
            "context": context, "namespace": r.metadata.namespace, "rollout": r.metadata.name, "action": action,
            "resource_version": r.metadata.resource_version, "step": r.step_index(), "state": st.label(),
        }),
        effect,
        evidence_hint,
    })
}

/// Journals the intent, acts on the Argo Rollout, journals the outcome.
pub async fn execute_argo(
    cluster: &crate::argo::client::Cluster,
    journal: &Journal,
    a: Approved,
    record_event: bool,
) -> Result<Report, String> {
    let act = async {
        let Operation::Argo { namespace, name, action, seen, .. } = &a.op else { return Err("not an Argo Rollouts operation".to_string()) };
        let by = crate::argo::client::By { actor: a.identity.actor.clone(), reason: a.reason.clone(), record_event };
        let outcome =
            crate::argo::client::execute(cluster, namespace, name, action, seen.as_ref(), &by).await.map_err(|e| e.to_string())?;
        let mut msg = format!("{namespace}/{name}: {} sent ({})", action.verb(), outcome.sent.join("; "));
        if let Some(e) = outcome.event_error {
            msg.push_str(&format!("; the Kubernetes Event could not be recorded: {e}"));
        }
        Ok((msg, None))
    };
    journaled(journal, a.clone(), act).await
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
pub async fn execute(ci: &dyn CiProvider, journal: &Journal, a: Approved) -> Result<Report, String> {
    let trigger = Trigger { actor: a.identity.actor.clone(), via: a.via.clone() };
    let act = async {
        match &a.op {
            Operation::Trigger { pipeline } => {
                ci.trigger(pipeline.clone(), trigger).await.map(|id| (format!("started run #{id} of `{pipeline}`"), Some(id)))
            }
            Operation::Cancel { run } => ci.cancel(run.clone()).await.map(|_| (format!("cancelling run #{run}"), None)),
            Operation::Retry { run } => {
                ci.retry(run.clone(), trigger).await.map(|_| (format!("retrying the failed jobs of run #{run}"), None))
            }
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
                        .map(|_| (format!("accepted the risk of {id} until {expires}"), None))
                }
            },
            Operation::StartRollout { .. } | Operation::Rollout { .. } | Operation::Argo { .. } => {
                Err(crate::ci::CiError::Other("rollout operations go through the rollout controller".into()))
            }
        }
        .map_err(|e| e.to_string())
    };
    journaled(journal, a.clone(), act).await
}

async fn journaled(
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
