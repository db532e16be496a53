//! `supervisor status|stop`: the process that executes this data directory's runs and keeps its
//! canaries moving. Stopping it is a change like any other: its runs are cancelled through the
//! policy and the journal first.

use std::process::ExitCode;

use anyhow::bail;

use super::SupervisorCmd;
use super::changes::{Caller, change};
use crate::ci::CiProvider;
use crate::ops::Operation;
use crate::supervisor::Client;

pub(super) async fn run(who: &Caller<'_>, command: SupervisorCmd) -> anyhow::Result<ExitCode> {
    let client = Client::new(who.data_dir, who.config.path.as_deref());
    match command {
        SupervisorCmd::Serve => unreachable!("served before the configuration is read"),
        SupervisorCmd::Status { json } => {
            let status = tokio::task::spawn_blocking(move || client.status_if_running()).await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "running": status.is_some(), "supervisor": status }))?);
                return Ok(ExitCode::SUCCESS);
            }
            match status {
                None => println!("no supervisor is running for {} (one starts when a run or a canary needs it)", who.data_dir.display()),
                Some(s) => {
                    println!("supervisor pid {} ({}), running since {}", s.pid, s.account, s.started);
                    println!("runs:     {}", if s.runs.is_empty() { "none".to_string() } else { s.runs.join(", ") });
                    println!("canaries: {}", if s.rollouts.is_empty() { "none".to_string() } else { s.rollouts.join(", ") });
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SupervisorCmd::Stop { confirm } => {
            let Some(reason) = confirm.reason.clone().filter(|r| !r.trim().is_empty()) else {
                bail!("refused: stopping the supervisor needs a reason; add --reason TEXT (it is journaled)");
            };
            let probe = client.clone();
            let Some(status) = tokio::task::spawn_blocking(move || probe.status_if_running()).await?? else {
                println!("no supervisor is running");
                return Ok(ExitCode::SUCCESS);
            };
            if !status.rollouts.is_empty() {
                bail!(
                    "refused: canaries are under way ({}); nothing would judge or move them. Pause, promote or abort them first",
                    status.rollouts.join(", ")
                );
            }
            if who.read_only {
                bail!("read-only mode: stopping the supervisor is disabled");
            }
            let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
            let ci = crate::providers::ci(who.config, who.data_dir, tx, crate::providers::Open::Recover)?;
            for text in &status.runs {
                let run = ci.registry.resolve(text.parse()?)?;
                let rec = ci.registry.run(run.clone()).await?;
                change(&ci.registry, who, Operation::Cancel { run, force: false }, Some(&rec), None, &confirm).await?;
            }
            journal_stop(who, &reason, &status.runs)?;
            let stopped = tokio::task::spawn_blocking(move || client.stop(&reason)).await??;
            println!("{}", if stopped { "the supervisor is stopping" } else { "the supervisor had already exited" });
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn journal_stop(who: &Caller<'_>, reason: &str, runs: &[String]) -> anyhow::Result<()> {
    let draft = crate::audit::Draft {
        actor: who.identity.actor.clone(),
        origin: who.identity.origin.clone(),
        target: "supervisor".into(),
        action: "supervisor.stop".into(),
        parameters: serde_json::json!({ "cancelled_runs": runs }),
        reason: reason.to_string(),
        phase: Some(crate::audit::Phase::Event),
        result: "recorded".into(),
        ..Default::default()
    };
    crate::audit::Journal::in_data_dir(who.data_dir).append(draft)?;
    Ok(())
}

/// `supervisor serve`: the data directory's supervisor in the foreground, shared as the
/// configuration's `[supervisor]` says.
pub(super) fn serve_shared(config: Option<&std::path::Path>, data_dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let loc = crate::config::Locations::discover(config);
    let config = crate::config::Config::load(&loc)?;
    let (Some(path), Some(sharing)) = (config.path.clone(), config.sharing.clone()) else {
        bail!("nothing to share: set [supervisor] share_socket and share_with in the configuration");
    };
    let data_dir = crate::paths::data_dir(data_dir)?;
    let share = crate::supervisor::Share {
        socket: sharing.socket,
        config: std::fs::canonicalize(&path).unwrap_or(path),
        with: sharing.with,
        groups: config.policy.groups.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(crate::supervisor::serve(data_dir, Some(share)))
}
