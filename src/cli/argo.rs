//! Argo Rollouts from the command line, through the same code as the cockpit: the status model,
//! the action plans, the access review, the policy, the confirmation and the journal.

use std::process::ExitCode;

use anyhow::{Context, bail};

use super::changes::{Caller, Confirmation, authorise};
use crate::argo::client::Cluster;
use crate::argo::{ArgoAction, Rollout, Seen, status};
use crate::audit::Journal;
use crate::config::{Config, KubernetesSettings};
use crate::logstore::sanitize::plain;
use crate::ops::{self, Operation};

/// Which cluster and namespaces.
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

/// `NS/NAME` names an Argo Rollout; a bare name an NGINX rollout.
pub fn is_argo(name: &str) -> bool {
    name.contains('/')
}

fn split(key: &str) -> anyhow::Result<(&str, &str)> {
    key.split_once('/').filter(|(n, r)| !n.is_empty() && !r.is_empty()).context("name an Argo Rollout as NAMESPACE/NAME")
}

pub async fn connect(config: &Config, t: &KubeTarget) -> anyhow::Result<(Cluster, KubernetesSettings)> {
    let s = config.kubernetes.clone().unwrap_or_default();
    let context = t.context.clone().or_else(|| s.context.clone());
    let cluster = Cluster::connect(s.kubeconfig.as_deref(), context.as_deref(), s.timeout)
        .await
        .context("cannot use the kubeconfig (set KUBECONFIG, or [kubernetes] kubeconfig in the config)")?;
    Ok((cluster, s))
}

/// One line per rollout, what needs a human first.
pub fn line(r: &Rollout, now: jiff::Timestamp) -> String {
    let st = status::state(r, now);
    plain(&format!(
        "{:<16} {:<24} {:<52} {:>6} {:>9}",
        r.metadata.namespace,
        r.metadata.name,
        st.describe(),
        status::step_text(r).unwrap_or_else(|| "-".into()),
        status::weight_text(r),
    ))
}

pub async fn list(config: &Config, t: &KubeTarget, json: bool) -> anyhow::Result<ExitCode> {
    let (cluster, s) = connect(config, t).await?;
    let ns = if t.all_namespaces { None } else { t.namespace.clone().or(s.namespace.clone()) };
    let mut rollouts = cluster.list(ns.as_deref()).await.with_context(|| format!("listing rollouts in {}", cluster.context))?;
    let now = jiff::Timestamp::now();
    rollouts.sort_by_key(|r| (status::state(r, now).urgency(), r.key()));
    if json {
        let rows: Vec<serde_json::Value> = rollouts
            .iter()
            .map(|r| {
                let st = status::state(r, now);
                serde_json::json!({
                    "ref": crate::domain::RolloutRef::argo(cluster.context.clone(), &r.metadata.namespace, &r.metadata.name).text(),
                    "context": cluster.context, "namespace": r.metadata.namespace, "name": r.metadata.name,
                    "state": st.label(), "detail": st.describe(), "step": r.step_index(), "steps": r.steps().len(),
                    "weight": status::actual_weight(r), "desired_weight": status::set_weight(r),
                    "aborted": r.status.abort, "resource_version": r.metadata.resource_version,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{:<16} {:<24} {:<52} {:>6} {:>9}", "NAMESPACE", "NAME", "STATUS", "STEP", "WEIGHT");
        for r in &rollouts {
            println!("{}", line(r, now));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn get(config: &Config, t: &KubeTarget, key: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (ns, name) = split(key)?;
    let (cluster, _) = connect(config, t).await?;
    let r = cluster.get(ns, name).await.with_context(|| format!("reading {key}"))?;
    let now = jiff::Timestamp::now();
    if json {
        let st = status::state(&r, now);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "namespace": ns, "name": name, "state": st.label(), "detail": st.describe(),
                "step": r.step_index(), "steps": r.steps().len(),
                "weight": status::actual_weight(&r), "desired_weight": status::set_weight(&r),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", line(&r, now));
    let strategy = if r.is_blue_green() { "blue-green" } else { "canary" };
    println!(
        "strategy: {strategy} · revision {}",
        r.metadata.annotations.get(crate::argo::model::REVISION).map(String::as_str).unwrap_or("-")
    );
    for (i, s) in r.steps().iter().enumerate() {
        let mark = if i == r.step_index() {
            "▶"
        } else if i < r.step_index() {
            "✓"
        } else {
            " "
        };
        println!("  {mark} {}. {}", i + 1, plain(&s.describe()));
    }
    for rs in cluster.revisions(&r).await.unwrap_or_default() {
        let hash = rs.hash().unwrap_or("");
        let tag = if Some(hash) == r.status.stable_rs.as_deref() {
            "stable"
        } else if Some(hash) == r.status.current_pod_hash.as_deref() {
            "canary"
        } else {
            ""
        };
        println!(
            "  revision {:<3} {:<28} {:<8} ready {}/{}  {}",
            rs.revision(),
            plain(&rs.metadata.name),
            tag,
            rs.status.ready_replicas.unwrap_or(0),
            rs.spec.replicas.unwrap_or(0),
            plain(&rs.images().join(", "))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Acts on an Argo Rollout: access review, policy, confirmation, journal, then the patches.
pub async fn act(who: &Caller<'_>, t: &KubeTarget, key: &str, action: ArgoAction, flags: &Confirmation) -> anyhow::Result<ExitCode> {
    act_judged(who, t, key, action, None, flags).await
}

/// `act`, judging a promotion by `evidence` (a run's security findings) when given, else by the
/// run linked to the rollout (annotation `flightdeck.dev/run`). Without either the security gate
/// cannot be judged and a gated environment refuses: the error says how to attach a run.
pub async fn act_judged(
    who: &Caller<'_>,
    t: &KubeTarget,
    key: &str,
    action: ArgoAction,
    evidence: Option<crate::domain::RunRef>,
    flags: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let Caller { config, data_dir, identity, read_only } = *who;
    let (ns, name) = split(key)?;
    let (cluster, s) = connect(config, t).await?;
    let journal = Journal::in_data_dir(data_dir);
    let now = jiff::Timestamp::now();
    let r = cluster.get(ns, name).await.with_context(|| format!("reading {key}"))?;
    let revisions = if action.needs_revisions() { cluster.revisions(&r).await? } else { Vec::new() };
    let environment = s.environment(&cluster.context).map(str::to_string);
    let op = Operation::Argo {
        context: cluster.context.clone(),
        namespace: ns.into(),
        name: name.into(),
        action: action.clone(),
        seen: Some(Seen::of(&r, now)),
    };
    let target = ops::describe_argo(&op, &r, &revisions, environment.as_deref(), now).map_err(anyhow::Error::msg)?;
    // Know before sending: the API server says whether this user may.
    let plan = crate::argo::actions::plan(&r, &action, &revisions, now).map_err(anyhow::Error::msg)?;
    if let Some(why) = cluster.permissions(ns, name).await?.denies(&plan) {
        let draft = ops::refusal(&op, identity, &target.name, &target.environments, target.parameters.clone(), &why);
        let journaled = journal.append(draft).err().map(|e| format!(" (the refusal could not be journaled: {e})")).unwrap_or_default();
        bail!("refused: {why}{journaled}");
    }
    let judged = matches!(action, ArgoAction::Promote | ArgoAction::PromoteFull);
    let run = if judged { evidence.clone().or_else(|| r.release_run()) } else { None };
    let findings = match &run {
        Some(run) => Some(super::runs::judged_by(who, run).await?),
        None => None,
    };
    let mut target = target;
    if let (Some(run), serde_json::Value::Object(p)) = (&run, &mut target.parameters) {
        p.insert("evidence_run".into(), run.text().into());
    }
    if judged && let Some(chosen) = &evidence {
        target.effect.push(format!("Judged instead by the security findings of run {} (--evidence).", chosen.text()));
    }
    if run.is_some() {
        // Evidence was named or linked: the target's own hint about missing evidence does not apply.
        target.evidence_hint = None;
    }
    let approved = authorise(config, &journal, identity, read_only, op, target, findings.as_ref(), flags)?;
    let report = ops::execute_argo(&cluster, &journal, approved, s.record_events).await.map_err(anyhow::Error::msg)?;
    if let Some(w) = &report.warning {
        eprintln!("warning: {w}");
    }
    println!("{}", plain(&report.message));
    Ok(ExitCode::SUCCESS)
}

/// Deploys `image` (if given) through the safety core, then follows the rollout until it is
/// Healthy on the new revision (exit 0) or aborted or degraded (exit 1), printing each change.
pub async fn follow(
    who: &Caller<'_>,
    t: &KubeTarget,
    key: &str,
    image: Option<&str>,
    run: Option<crate::domain::RunRef>,
    flags: &Confirmation,
) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    let (ns, name) = split(key)?;
    if let Some(img) = image {
        let (container, image) = match img.split_once('=') {
            Some((c, i)) => (Some(c.to_string()), i.to_string()),
            None => (None, img.to_string()),
        };
        act(who, t, key, ArgoAction::SetImage { container, image, run }, flags).await?;
    }
    let (cluster, _) = connect(who.config, t).await?;
    let start = cluster.get(ns, name).await.with_context(|| format!("reading {key}"))?;
    let generation = start.metadata.generation.unwrap_or(0);
    let mut stream = Box::pin(cluster.watch(Some(ns)));
    let mut current = Some(start);
    let mut printed = String::new();
    loop {
        if let Some(r) = current.take() {
            let now = jiff::Timestamp::now();
            let l = line(&r, now);
            if l != printed {
                println!("{}  {l}", now.strftime("%H:%M:%S"));
                printed = l;
            }
            // Only a state the controller reached after seeing the new spec counts.
            let observed = r.observed_generation().unwrap_or(0) >= generation;
            match status::state(&r, now) {
                status::State::Healthy if observed && (r.fully_promoted() || r.status.current_pod_hash.is_none()) => {
                    println!("{key} is Healthy on its new revision");
                    return Ok(ExitCode::SUCCESS);
                }
                status::State::Aborted(cause) if observed => {
                    eprintln!("{key} was aborted: {}", plain(&cause));
                    return Ok(ExitCode::from(1));
                }
                status::State::Degraded(why) if observed => {
                    eprintln!("{key} is degraded: {}", plain(&why));
                    return Ok(ExitCode::from(1));
                }
                _ => {}
            }
        }
        match stream.next().await {
            Some(crate::argo::client::WatchUpdate::Reset(all)) => current = all.into_iter().find(|r| r.key() == key),
            Some(crate::argo::client::WatchUpdate::Apply(r)) if r.key() == key => current = Some(*r),
            Some(crate::argo::client::WatchUpdate::Delete(k)) if k == key => bail!("{key} was deleted"),
            Some(crate::argo::client::WatchUpdate::Error(e)) => eprintln!("watch: {} (retrying)", plain(&e)),
            Some(_) => {}
            None => bail!("the watch of {key} ended"),
        }
    }
}
