//! `flightdeck rollouts`, `rollout get|start`, and the actions (`promote`, `pause`, `resume`,
//! `abort`, `retry`, `undo`) on NGINX canaries, through the same controller, policy and journal as
//! the cockpit.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;

use super::changes::{Confirmation, rollout_change};
use crate::config::Config;
use crate::identity::Identity;
use crate::logstore::sanitize::plain;
use crate::ops::Operation;
use crate::rollout::{Controller, Phase, Record, RolloutAction};

#[derive(Subcommand, Debug)]
pub enum RolloutCmd {
    /// One rollout: phase, step, weight, versions, verdict and history
    Get {
        /// The rollout: NAME of an NGINX canary, or NAMESPACE/NAME of an Argo Rollout
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        kube: super::argo::KubeTarget,
    },
    /// Follow an Argo Rollout (NS/NAME) until it is Healthy on its new revision (exit 0) or
    /// aborted or degraded (exit 1); with --image, deploy that image first (a pipeline stage's
    /// `rollout = "NS/NAME"` runs this)
    Follow {
        /// The Argo Rollout, as NAMESPACE/NAME
        #[arg(value_name = "NS/NAME")]
        name: String,
        /// The image to deploy: IMAGE for every container, or CONTAINER=IMAGE
        #[arg(long, value_name = "[CONTAINER=]IMAGE")]
        image: Option<String>,
        /// The pipeline run that built the image (set for you inside a pipeline stage): recorded on
        /// the rollout (annotation flightdeck.dev/run), so its promotions are judged by that run's
        /// security findings
        #[arg(long, env = "FLIGHTDECK_RUN", value_name = "RUN", requires = "image")]
        run: Option<crate::domain::RunRef>,
        #[command(flatten)]
        kube: super::argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Start rolling out a version through the rollout's steps
    Start {
        /// The rollout: NAME of an NGINX canary, or NAMESPACE/NAME of an Argo Rollout
        name: String,
        #[arg(long)]
        version: String,
        /// The version the stable servers run (kept from the last rollout when not given)
        #[arg(long, value_name = "VERSION")]
        stable_version: Option<String>,
        /// The pipeline run handing over (set for you inside a pipeline stage); promotions are
        /// judged by its security findings
        #[arg(long, env = "FLIGHTDECK_RUN", value_name = "RUN")]
        run: Option<crate::domain::RunRef>,
        /// Stay until the rollout ends; exit 0 when fully promoted, 1 when aborted or degraded
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        confirm: Confirmation,
    },
}

fn controller(config: &Config, data_dir: &Path) -> anyhow::Result<Controller> {
    if config.rollouts.is_empty() {
        bail!("no rollout is configured; add [rollouts.NAME] (see `flightdeck config example`)");
    }
    Ok(crate::providers::nginx_controller(config, data_dir))
}

/// A rollout as JSON: its record, with the step numbered as every screen shows it (`step` of
/// `steps`, counting from 1) and the raw index beside it.
fn json_row(rec: &Record, steps: usize) -> serde_json::Value {
    let mut v = serde_json::to_value(rec).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("step_index".into(), rec.step.into());
        o.insert("step".into(), (rec.step + 1).min(steps).into());
        o.insert("steps".into(), steps.into());
        o.insert("ref".into(), crate::domain::RolloutRef::nginx(rec.name.clone()).text().into());
    }
    v
}

/// One rollout on one line; versions, actors and messages come from outside, so the whole line is
/// made plain.
fn line(rec: &Record, steps: usize) -> String {
    plain(&format!(
        "{:<16} {:<11} step {}/{}  canary {:>3} %  {} → {}  {}",
        rec.name,
        rec.phase.label(),
        (rec.step + 1).min(steps),
        steps,
        rec.weight,
        rec.stable_version.as_deref().unwrap_or("stable"),
        rec.version.as_deref().unwrap_or("-"),
        rec.message(),
    ))
}

pub async fn list(config: &Config, data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let c = controller(config, data_dir)?;
    let mut recs = Vec::new();
    for name in c.names() {
        recs.push(c.get(&name).await?);
    }
    recs.sort_by_key(|r| (r.phase.urgency(), r.name.clone()));
    if json {
        let rows = recs.iter().map(|r| Ok(json_row(r, c.spec(&r.name)?.steps.len()))).collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &recs {
            println!("{}", line(r, c.spec(&r.name)?.steps.len()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(cmd: RolloutCmd, config: &Arc<Config>, data_dir: &Path, identity: &Identity, read_only: bool) -> anyhow::Result<ExitCode> {
    let who = super::changes::Caller { config, data_dir, identity, read_only };
    match cmd {
        RolloutCmd::Get { name, json, kube } if super::argo::is_argo(&name) => {
            // `argo:CONTEXT/NAMESPACE/NAME` names its context; `NAMESPACE/NAME` uses --context.
            let r: crate::domain::RolloutRef = name.parse()?;
            let Some((context, namespace)) = r.argo_scope() else { anyhow::bail!("{} is not an Argo Rollout", r.text()) };
            let mut kube = kube;
            if !context.is_empty() {
                kube.context = Some(context.to_string());
            }
            super::argo::get(config, &kube, &format!("{namespace}/{}", r.name), json).await
        }
        RolloutCmd::Follow { name, image, run, kube, confirm } => {
            let run = match run {
                Some(r) => Some(super::runs::resolve(&who, r)?),
                None => None,
            };
            super::argo::follow(&who, &kube, &name, image.as_deref(), run, &confirm).await
        }
        RolloutCmd::Get { name, json, .. } => {
            let name = name.strip_prefix("nginx:").unwrap_or(&name).to_string();
            let c = controller(config, data_dir)?;
            let rec = c.get(&name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&json_row(&rec, c.spec(&name)?.steps.len()))?);
                return Ok(ExitCode::SUCCESS);
            }
            let spec = c.spec(&name)?;
            println!("{}", line(&rec, spec.steps.len()));
            for (i, s) in spec.steps.iter().enumerate() {
                let mark = if i == rec.step && matches!(rec.phase, Phase::Progressing | Phase::Paused) { "▶" } else { " " };
                println!("  {mark} {}. {}", i + 1, s.describe());
            }
            if let Some(v) = &rec.verdict {
                println!("analysis: {}", plain(&v.to_string()));
            }
            for h in rec.history.iter().rev().take(15).rev() {
                println!("{}", plain(&format!("  {}  {:>3} %  {:<10} {}", h.at.strftime("%H:%M:%S"), h.weight, h.actor, h.event)));
            }
            Ok(ExitCode::SUCCESS)
        }
        RolloutCmd::Start { name, version, stable_version, run, follow, confirm } => {
            let c = controller(config, data_dir)?;
            let run = match run {
                Some(r) => Some(super::runs::resolve(&who, r)?),
                None => None,
            };
            let op = Operation::StartRollout { name: name.clone(), version, stable_version, run };
            let report = rollout_change(&c, &who, op, None, &confirm).await?;
            println!("{}", plain(&report.message));
            if follow { follow_rollout(&c, &name).await } else { Ok(ExitCode::SUCCESS) }
        }
    }
}

/// Drives the rollout and prints each change until it ends.
async fn follow_rollout(c: &Controller, name: &str) -> anyhow::Result<ExitCode> {
    let steps = c.spec(name)?.steps.len();
    let mut seen = 0;
    let mut printed_seq = 0;
    loop {
        let rec = c.tick(name).await?;
        if rec.seq != printed_seq {
            printed_seq = rec.seq;
            for h in rec.history.iter().skip(seen.min(rec.history.len())) {
                println!("[{name}] {:>3} % {}", h.weight, plain(&h.event));
            }
            seen = rec.history.len();
            println!("[{name}] {}", line(&rec, steps));
        }
        match rec.phase {
            Phase::Healthy if rec.weight == 100 => return Ok(ExitCode::SUCCESS),
            Phase::Healthy => {
                println!("[{name}] the stable version serves everything (undone)");
                return Ok(ExitCode::from(1));
            }
            Phase::Aborted | Phase::Degraded => {
                eprintln!("[{name}] {}: {}", rec.phase.label(), plain(rec.cause.as_deref().unwrap_or("no cause recorded")));
                return Ok(ExitCode::from(1));
            }
            Phase::Progressing | Phase::Paused => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

pub async fn act(who: &super::changes::Caller<'_>, name: &str, action: RolloutAction, confirm: &Confirmation) -> anyhow::Result<ExitCode> {
    act_judged(who, name, action, None, confirm).await
}

/// `act`, with the pipeline run whose findings judge a promotion (instead of the linked one).
pub async fn act_judged(
    who: &super::changes::Caller<'_>,
    name: &str,
    action: RolloutAction,
    evidence: Option<crate::domain::RunRef>,
    confirm: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let c = controller(who.config, who.data_dir)?;
    let op = Operation::Rollout { name: name.to_string(), action, seen: None };
    let report = rollout_change(&c, who, op, evidence, confirm).await?;
    println!("{}", plain(&report.message));
    Ok(ExitCode::SUCCESS)
}
