//! Argo CD Applications from the command line (`apps`, `app get|sync|rollback|refresh|terminate|
//! auto-sync`): the same provider, plans, policy, confirmation and journal as every rollout.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::changes::{Caller, Confirmation};
use super::releases::{KubeTarget, json_row};
use crate::delivery::{Release, RolloutAction, RolloutProvider};
use crate::deploy::argocd::App;
use crate::deploy::argocd::provider::ARGOCD;
use crate::logstore::sanitize::plain;

#[derive(Subcommand, Debug)]
pub enum AppCmd {
    /// One application: sync and health, revision, the last operation, resources and history
    Get {
        /// The application's name (or argocd:NAME)
        #[arg(value_name = "APP")]
        name: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Apply what git says (like `argocd app sync`)
    Sync {
        /// The application's name (or argocd:NAME)
        #[arg(value_name = "APP")]
        name: String,
        /// Delete resources git no longer has
        #[arg(long)]
        prune: bool,
        /// Say what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Force the apply (delete and create again where a patch conflicts)
        #[arg(long)]
        force: bool,
        /// Apply only the resources that are out of sync
        #[arg(long)]
        out_of_sync_only: bool,
        /// A revision other than the app's target (refused while auto-sync is on)
        #[arg(long)]
        revision: Option<String>,
        /// Only this resource: KIND/NAME or GROUP/KIND/NAMESPACE/NAME (repeatable)
        #[arg(long = "resource", value_name = "RESOURCE")]
        resources: Vec<String>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Deploy an earlier history entry again (auto-sync must be off)
    Rollback {
        /// The application's name (or argocd:NAME)
        #[arg(value_name = "APP")]
        name: String,
        /// The history id (`app get` lists them; default: the one before the current)
        #[arg(long)]
        id: Option<i64>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Compare with git again (--hard: generate the manifests again too)
    Refresh {
        /// The application's name (or argocd:NAME)
        #[arg(value_name = "APP")]
        name: String,
        /// Generate the manifests again too (a hard refresh)
        #[arg(long)]
        hard: bool,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Stop the operation (a sync) under way
    Terminate {
        /// The application's name (or argocd:NAME)
        #[arg(value_name = "APP")]
        name: String,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Turn automatic sync on (or off with --off)
    AutoSync {
        /// The application's name (or argocd:NAME)
        #[arg(value_name = "APP")]
        name: String,
        /// Turn it off (a rollback needs it off)
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        confirm: Confirmation,
    },
}

fn app_of(r: &Release) -> Option<&App> {
    r.native.get::<App>()
}

/// What a row shows of an application beyond a release's fields.
fn app_json(app: &App) -> Value {
    let op = app.status.operation_state.as_ref();
    json!({
        "project": app.spec.project, "destination": app.destination_text(),
        "sync": app.status.sync.status, "health": app.status.health.status,
        "revision": app.status.sync.revision, "auto_sync": app.auto_sync(),
        "operation": op.map(|o| json!({"phase": o.phase, "message": o.message, "started_at": o.started_at, "finished_at": o.finished_at})),
        "history": app.status.history.iter().map(|h| json!({
            "id": h.id, "revision": h.revision, "deployed_at": h.deployed_at,
            "by": if h.initiated_by.automated { Some("auto-sync".to_string()) } else { h.initiated_by.username.clone() },
        })).collect::<Vec<_>>(),
    })
}

fn ago(at: Option<&str>, now: jiff::Timestamp) -> String {
    let Some(t) = at.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else { return "-".into() };
    let secs = (now.as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `apps`: what needs a human first.
pub async fn list(who: &Caller<'_>, json: bool) -> anyhow::Result<ExitCode> {
    let reg = crate::providers::releases(who.config, who.data_dir, false);
    if !reg.providers().iter().any(|p| p.name() == ARGOCD) {
        anyhow::bail!("Argo CD is not configured: add [argocd] (see `flightdeck config example`)");
    }
    let mut rows: Vec<Release> = reg.list().await?.into_iter().filter(|r| r.reference.provider == ARGOCD).collect();
    rows.sort_by_key(|r| (r.urgency, r.reference.name.clone()));
    if json {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut v = json_row(r);
                if let Some(app) = app_of(r) {
                    v["app"] = app_json(app);
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = jiff::Timestamp::now();
    println!(
        "{:<24} {:<12} {:<26} {:<10} {:<12} {:<9} {:<5} LAST SYNC",
        "APP", "PROJECT", "DESTINATION", "SYNC", "HEALTH", "REVISION", "AUTO"
    );
    for r in &rows {
        let Some(app) = app_of(r) else { continue };
        let op = app.status.operation_state.as_ref();
        let last = match op {
            Some(o) => format!("{} {}", o.phase, ago(o.finished_at.as_deref().or(o.started_at.as_deref()), now)),
            None => "-".into(),
        };
        println!(
            "{:<24} {:<12} {:<26} {:<10} {:<12} {:<9} {:<5} {}",
            plain(app.name()),
            plain(&app.spec.project),
            plain(&app.destination_text()),
            plain(&app.status.sync.status),
            plain(&app.status.health.status),
            plain(r.version.as_deref().unwrap_or("-")),
            if app.auto_sync() { "on" } else { "off" },
            plain(&last)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(cmd: AppCmd, who: &Caller<'_>) -> anyhow::Result<ExitCode> {
    let kube = KubeTarget::default();
    let reference = |name: &str| if name.contains(':') { name.to_string() } else { format!("{ARGOCD}:{name}") };
    let (name, action, confirm) = match cmd {
        AppCmd::Get { name, json } => return super::releases::get(who, &kube, &reference(&name), json).await,
        AppCmd::Sync { name, prune, dry_run, force, out_of_sync_only, revision, resources, confirm } => {
            (name, RolloutAction::Sync { prune, dry_run, force, out_of_sync_only, revision, resources }, confirm)
        }
        AppCmd::Rollback { name, id, confirm } => (name, RolloutAction::Undo { to_revision: id }, confirm),
        AppCmd::Refresh { name, hard, confirm } => (name, RolloutAction::Refresh { hard }, confirm),
        AppCmd::Terminate { name, confirm } => (name, RolloutAction::TerminateOperation, confirm),
        AppCmd::AutoSync { name, off, confirm } => (name, RolloutAction::AutoSync { on: !off }, confirm),
    };
    super::releases::act(who, &kube, &reference(&name), action, None, &confirm).await
}
