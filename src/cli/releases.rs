//! Rollouts of every provider from the command line (`rollouts`, `rollout get|start|follow`,
//! `promote`, `pause`, `resume`, `abort`, `retry`, `undo`, `restart`, `terminate-analysis`),
//! through the same providers, plans, policy, confirmation and journal as the cockpit.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

use super::changes::{Caller, Confirmation, authorise};
use crate::audit::Journal;
use crate::delivery::{Detail, Health, PlanError, Registry, Release, RolloutAction, RolloutProvider, StepState};
use crate::domain::{RolloutRef, RunRef};
use crate::logstore::sanitize::plain;
use crate::ops::{self, Operation};

/// Where to look for Argo Rollouts.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeTarget {
    /// kubeconfig context (default: the configured one, then the kubeconfig's current context)
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Namespace (default: the configured one, else all)
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// All namespaces
    #[arg(long = "all-namespaces", short = 'A')]
    pub all_namespaces: bool,
}

impl KubeTarget {
    /// Whether anything here asks for Kubernetes.
    pub fn given(&self) -> bool {
        self.context.is_some() || self.namespace.is_some() || self.all_namespaces
    }
}

#[derive(Subcommand, Debug)]
pub enum RolloutCmd {
    /// One rollout: state, step, weight, versions, steps, revisions, analysis and its timeline
    Get {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        kube: KubeTarget,
    },
    /// Follow a rollout until it is Healthy on its new version (exit 0) or aborted, degraded or
    /// undone (exit 1); with --image, deploy that image first (a pipeline stage's
    /// `rollout = "NS/NAME"` runs this)
    Follow {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// The image to deploy: IMAGE for every container, or CONTAINER=IMAGE
        #[arg(long, value_name = "[CONTAINER=]IMAGE")]
        image: Option<String>,
        /// The pipeline run that built the image (set for you inside a pipeline stage): recorded
        /// with the rollout, so its promotions are judged by that run's security findings
        #[arg(long, env = "FLIGHTDECK_RUN", value_name = "RUN", requires = "image")]
        run: Option<RunRef>,
        #[command(flatten)]
        kube: KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Start rolling out a version through the rollout's steps
    Start {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// The version (for an Argo Rollout, the image)
        #[arg(long)]
        version: String,
        /// The version the stable servers run (kept from the last rollout when not given)
        #[arg(long, value_name = "VERSION")]
        stable_version: Option<String>,
        /// The pipeline run handing over (set for you inside a pipeline stage); promotions are
        /// judged by its security findings
        #[arg(long, env = "FLIGHTDECK_RUN", value_name = "RUN")]
        run: Option<RunRef>,
        /// Stay until the rollout ends; exit 0 when fully promoted, 1 when aborted or degraded
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        kube: KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Let a rollout waiting for approval go ahead (Cloud Deploy: rollouts.approve); judged by the
    /// release gate like a promotion
    Approve {
        /// The rollout: clouddeploy:PIPELINE/TARGET
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// Judge the approval by this pipeline run's security findings; recorded in the journal
        #[arg(long, value_name = "RUN")]
        evidence: Option<RunRef>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Refuse a rollout waiting for approval: it never starts
    Reject {
        /// The rollout: clouddeploy:PIPELINE/TARGET
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Stop a rollout under way where it is (Cloud Deploy: rollouts.cancel)
    Cancel {
        /// The rollout: clouddeploy:PIPELINE/TARGET
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Let a rollout go on past its failed job, as if it had passed (Cloud Deploy: rollouts.ignoreJob)
    IgnoreJob {
        /// The rollout: clouddeploy:PIPELINE/TARGET
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        confirm: Confirmation,
    },
}

/// The rollout providers for a command, pointed where `kube` asks.
fn registry(who: &Caller<'_>, kube: &KubeTarget, reference: Option<&RolloutRef>) -> anyhow::Result<Registry> {
    // An Argo reference or Kubernetes flags bring the Argo provider even without [kubernetes].
    let wants_kube = kube.given() || reference.is_some_and(|r| r.argo_scope().is_some());
    let reg = crate::providers::releases(who.config, who.data_dir, wants_kube);
    if reg.is_empty() {
        bail!("no rollout is configured; add [rollouts.NAME] (NGINX) or [kubernetes] (Argo Rollouts); see `flightdeck config example`");
    }
    if let Some(c) = &kube.context {
        reg.rescope(&format!("context={c}"))?;
    }
    if kube.all_namespaces {
        reg.rescope("namespace=all")?;
    } else if let Some(ns) = &kube.namespace {
        reg.rescope(&format!("namespace={ns}"))?;
    }
    Ok(reg)
}

/// The rollout a command names, and the providers to reach it.
fn locate(who: &Caller<'_>, kube: &KubeTarget, text: &str) -> anyhow::Result<(Registry, RolloutRef)> {
    let mut r: RolloutRef = text.parse()?;
    if let (Some(("", namespace)), Some(context)) = (r.argo_scope(), &kube.context) {
        r = RolloutRef::argo(context.clone(), namespace, &r.name);
    }
    let reg = registry(who, kube, Some(&r))?;
    let r = reg.resolve(r)?;
    Ok((reg, r))
}

/// Where release `name` says its canary and stable are measured, if it knows.
pub async fn measured_on(who: &Caller<'_>, name: &str) -> anyhow::Result<Option<crate::delivery::MeasuredOn>> {
    let (reg, r) = locate(who, &KubeTarget::default(), name)?;
    Ok(reg.get(r).await?.measured_on)
}

/// A release as JSON, with the fields the screens show; the step counts from 1 everywhere.
pub fn json_row(r: &Release) -> Value {
    json!({
        "ref": r.reference.text(), "provider": r.reference.provider, "name": r.reference.short(), "kind": r.kind,
        "environment": r.environment, "health": r.health, "state": r.state, "message": r.message,
        "step": r.step.map(|s| s.0), "steps": r.step.map(|s| s.1),
        "weight": r.weight, "desired_weight": r.desired_weight,
        "version": r.version, "stable_version": r.stable_version, "run": r.run, "analysis_run": r.analysis_run,
        "pause_until": r.pause_until.map(|t| t.to_string()), "service": r.service,
        "measured_on": r.measured_on.as_ref().map(|m| json!({"canary": m.canary, "stable": m.stable})),
    })
}

fn detail_json(d: &Detail) -> Value {
    json!({
        "about": d.about, "error": d.error,
        "steps": d.steps.iter().map(|s| json!({"step": s.label, "state": format!("{:?}", s.state).to_lowercase()})).collect::<Vec<_>>(),
        "revisions": d.revisions.iter().map(|r| json!({"revision": r.number, "label": r.label, "current": r.current})).collect::<Vec<_>>(),
        "sections": d.sections.iter().map(|s| json!({"title": s.title, "lines": s.lines})).collect::<Vec<_>>(),
        "timeline": d.timeline.iter().map(|t| json!({"at": t.at.map(|a| a.to_string()), "text": t.text})).collect::<Vec<_>>(),
        "denied": d.permissions.as_ref().map(|p| p.denied.clone()),
        "allowed_with_note": d.permissions.as_ref().map(|p| p.notes.clone()),
        "owns": d.related.iter().map(|r| r.short()).collect::<Vec<_>>(),
    })
}

/// How wide the table's text columns are: as wide as what they hold (within reason).
#[derive(Clone, Copy)]
pub struct Widths {
    env: usize,
    state: usize,
}

impl Widths {
    pub const DEFAULT: Widths = Widths { env: 8, state: 40 };

    pub fn of(rows: &[Release], now: jiff::Timestamp) -> Widths {
        let widest = |f: &dyn Fn(&Release) -> usize, least: usize, most: usize| rows.iter().map(f).max().unwrap_or(0).clamp(least, most);
        Widths {
            env: widest(&|r| r.environment.as_deref().map_or(1, |e| e.chars().count()), 3, 16),
            state: widest(&|r| r.state_at(now).chars().count(), 5, 60),
        }
    }
}

/// One release on one line; names, versions and messages come from outside, so it is made plain.
pub fn line(r: &Release, now: jiff::Timestamp, w: Widths) -> String {
    plain(&format!(
        "{:<30} {:<6} {:<ew$} {:<sw$} {:>5} {:>6}  {}{}",
        r.reference.short(),
        r.reference.provider,
        r.environment.as_deref().unwrap_or("-"),
        r.state_at(now),
        r.step_text(),
        r.weight.map(|w| format!("{w} %")).unwrap_or_else(|| "-".into()),
        r.version_text(),
        r.message.as_deref().map(|m| format!("  {m}")).unwrap_or_default(),
        ew = w.env,
        sw = w.state,
    ))
}

pub async fn list(who: &Caller<'_>, kube: &KubeTarget, json: bool) -> anyhow::Result<ExitCode> {
    let reg = registry(who, kube, None)?;
    let rows = reg.list().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows.iter().map(json_row).collect::<Vec<_>>())?);
    } else {
        let now = jiff::Timestamp::now();
        let w = Widths::of(&rows, now);
        println!(
            "{:<30} {:<6} {:<ew$} {:<sw$} {:>5} {:>6}  VERSION",
            "ROLLOUT",
            "BY",
            "ENV",
            "STATE",
            "STEP",
            "CANARY",
            ew = w.env,
            sw = w.state
        );
        for r in &rows {
            println!("{}", line(r, now, w));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn get(who: &Caller<'_>, kube: &KubeTarget, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (reg, r) = locate(who, kube, name)?;
    let release = reg.get(r.clone()).await?;
    let detail = reg.detail(r).await?;
    if json {
        let mut v = json_row(&release);
        v["detail"] = detail_json(&detail);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = jiff::Timestamp::now();
    println!("{}", line(&release, now, Widths::of(std::slice::from_ref(&release), now)));
    for a in &detail.about {
        println!("{}", plain(a));
    }
    for (i, s) in detail.steps.iter().enumerate() {
        let mark = match s.state {
            StepState::Current => "▶",
            StepState::Done => "✓",
            StepState::Todo => " ",
        };
        println!("  {mark} {}. {}", i + 1, plain(&s.label));
    }
    for rev in &detail.revisions {
        println!("  revision {:<3} {}{}", rev.number, plain(&rev.label), if rev.current { "  (running now)" } else { "" });
    }
    // A section of one line stays on its title's; a longer one (a resource tree) is a block.
    for s in &detail.sections {
        match s.lines.as_slice() {
            [one] => println!("{}: {}", plain(&s.title), plain(one)),
            lines => {
                println!("{}:", plain(&s.title));
                for l in lines {
                    println!("  {}", plain(l));
                }
            }
        }
    }
    for (verb, note) in detail.permissions.iter().flat_map(|p| &p.notes) {
        println!("{verb}: {}", plain(note));
    }
    for t in detail.timeline.iter().rev().take(15).rev() {
        let at = t.at.map(|a| a.strftime("%H:%M:%S").to_string()).unwrap_or_default();
        println!("  {at:>8}  {}", plain(&t.text));
    }
    if let Some(e) = &detail.error {
        eprintln!("warning: {}", plain(e));
    }
    Ok(ExitCode::SUCCESS)
}

/// Acts on a rollout: the provider's plan against what it is now, what the backend would refuse
/// this user, the policy (judging a promotion by `evidence`, else by the run that built the
/// release), the confirmation, the journal, then the provider.
pub async fn act(
    who: &Caller<'_>,
    kube: &KubeTarget,
    name: &str,
    action: RolloutAction,
    evidence: Option<RunRef>,
    flags: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let (reg, r) = locate(who, kube, name)?;
    let report = change(who, &reg, &r, action, evidence, flags).await?;
    super::changes::tell(flags, &report, serde_json::json!({ "rollout": r.text() }), true);
    Ok(ExitCode::SUCCESS)
}

async fn change(
    who: &Caller<'_>,
    reg: &Registry,
    r: &RolloutRef,
    action: RolloutAction,
    evidence: Option<RunRef>,
    flags: &Confirmation,
) -> anyhow::Result<ops::Report> {
    let journal = Journal::in_data_dir(who.data_dir);
    let now = jiff::Timestamp::now();
    let release = reg.get(r.clone()).await?;
    let detail = if matches!(action, RolloutAction::Undo { .. }) { Some(reg.detail(r.clone()).await?) } else { None };
    let op = Operation::Rollout { target: r.clone(), action: action.clone(), seen: Some(release.seen.clone()) };
    let mut target = ops::describe_release(reg, &release, detail.as_ref(), &action, now).map_err(|e| match e {
        PlanError::NothingToDo(why) => anyhow::Error::new(super::exit::NothingToDo(why)),
        PlanError::Invalid(why) => anyhow::Error::msg(why),
    })?;
    // Know before sending: the backend says whether this user may.
    let permissions = reg.permissions(r.clone()).await?;
    if let (Some((backend, user)), Value::Object(p)) = (&permissions.authenticated, &mut target.parameters) {
        p.insert(format!("{backend}_user"), user.clone().into());
    }
    if let Some(why) = permissions.denies(&action) {
        let draft = ops::refusal(&op, who.identity, &target.name, &target.environments, target.parameters.clone(), why);
        let journaled = journal.append(draft).err().map(|e| format!(" (the refusal could not be journaled: {e})")).unwrap_or_default();
        bail!("refused: {why}{journaled}");
    }
    let evidence = match evidence {
        Some(run) => Some(super::runs::resolve(who, run)?),
        None => None,
    };
    let run = if action.is_promotion() { evidence.clone().or_else(|| release.run.clone()) } else { None };
    let findings = match &run {
        Some(run) => Some(super::runs::judged_by(who, run).await?),
        None => None,
    };
    if let (Some(run), Value::Object(p)) = (&run, &mut target.parameters) {
        p.insert("evidence_run".into(), run.text().into());
    }
    if action.is_promotion()
        && let Some(chosen) = &evidence
    {
        target.effect.push(format!("Judged instead by the security findings of run {} (--evidence).", chosen.text()));
    }
    if run.is_some() {
        // Evidence was named or linked: the target's own hint about missing evidence does not apply.
        target.evidence_hint = None;
    }
    let approved = authorise(who.config, &journal, who.identity, who.read_only, op, target, findings.as_ref(), flags)?;
    let report = ops::execute_release(reg, &journal, approved).await.map_err(anyhow::Error::msg)?;
    if let Some(w) = &report.warning {
        eprintln!("warning: {w}");
    }
    Ok(report)
}

pub async fn run(cmd: RolloutCmd, who: &Caller<'_>) -> anyhow::Result<ExitCode> {
    match cmd {
        RolloutCmd::Get { name, json, kube } => get(who, &kube, &name, json).await,
        RolloutCmd::Follow { name, image, run, kube, confirm } => {
            let (reg, r) = locate(who, &kube, &name)?;
            if let Some(img) = image {
                let (container, version) = match img.split_once('=') {
                    Some((c, i)) => (Some(c.to_string()), i.to_string()),
                    None => (None, img),
                };
                let run = match run {
                    Some(run) => Some(super::runs::resolve(who, run)?),
                    None => None,
                };
                let action = RolloutAction::Deploy { version, container, stable_version: None, run };
                let report = change(who, &reg, &r, action, None, &confirm).await?;
                println!("{}", plain(&report.message));
            }
            follow(&reg, &r).await
        }
        RolloutCmd::Start { name, version, stable_version, run, follow: stay, kube, confirm } => {
            let (reg, r) = locate(who, &kube, &name)?;
            let run = match run {
                Some(run) => Some(super::runs::resolve(who, run)?),
                None => None,
            };
            let action = RolloutAction::Deploy { version, container: None, stable_version, run };
            let report = change(who, &reg, &r, action, None, &confirm).await?;
            super::changes::tell(&confirm, &report, serde_json::json!({ "rollout": r.text() }), true);
            if stay { follow(&reg, &r).await } else { Ok(ExitCode::SUCCESS) }
        }
        RolloutCmd::Approve { name, evidence, confirm } => {
            act(who, &KubeTarget::default(), &name, RolloutAction::Approve, evidence, &confirm).await
        }
        RolloutCmd::Reject { name, confirm } => act(who, &KubeTarget::default(), &name, RolloutAction::Reject, None, &confirm).await,
        RolloutCmd::Cancel { name, confirm } => act(who, &KubeTarget::default(), &name, RolloutAction::Cancel, None, &confirm).await,
        RolloutCmd::IgnoreJob { name, confirm } => act(who, &KubeTarget::default(), &name, RolloutAction::IgnoreJob, None, &confirm).await,
    }
}

/// Prints each change of the rollout until it ends: exit 0 when Healthy on its new version, 1
/// when aborted, degraded or undone. Reading an NGINX canary also moves it on.
async fn follow(reg: &Registry, r: &RolloutRef) -> anyhow::Result<ExitCode> {
    let mut printed = String::new();
    loop {
        let release = reg.get(r.clone()).await?;
        let now = jiff::Timestamp::now();
        let l = line(&release, now, Widths::DEFAULT);
        if l != printed {
            println!("{}  {l}", now.strftime("%H:%M:%S"));
            printed = l;
        }
        let why = release.message.clone().unwrap_or_else(|| release.state.clone());
        match release.health {
            Health::Healthy if release.weight.is_none_or(|w| w >= 100) => {
                println!("{} is Healthy on its new version", r.short());
                return Ok(ExitCode::SUCCESS);
            }
            Health::Healthy => {
                println!("{}: the stable version serves everything (undone)", r.short());
                return Ok(ExitCode::from(1));
            }
            Health::Aborted | Health::Degraded => {
                eprintln!("{}: {}", r.short(), plain(&why));
                return Ok(ExitCode::from(1));
            }
            Health::Progressing | Health::Paused | Health::Unknown => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}
