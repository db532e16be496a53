//! Changes from the command line go through exactly what the cockpit uses: `ops::describe`, the
//! policy, the journal and `ops::execute`. The confirmation tiers become flags.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;

use crate::audit::Journal;
use crate::ci::CiProvider;
use crate::config::Config;
use crate::domain::RunRecord;
use crate::identity::Identity;
use crate::ops::{self, Approved, Operation, Report};
use crate::policy::{Request, Tier, Verdict};

/// How the user confirms a change on the command line.
#[derive(Args, Debug, Default, Clone)]
pub struct Confirmation {
    /// Why you are doing this (journaled; required where the policy asks for a typed confirmation)
    #[arg(long, alias = "comment", value_name = "TEXT")]
    pub reason: Option<String>,
    /// The target's name, typed out, where the policy requires it (e.g. the gate's name)
    #[arg(long, value_name = "TARGET")]
    pub confirm: Option<String>,
    /// Override a change freeze (needs --reason and --confirm; journaled as break-glass)
    #[arg(long)]
    pub break_glass: bool,
    /// Do not ask on the terminal for y/N and dialog confirmations
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print what was done as JSON on stdout (a refusal still exits non-zero with its reason)
    #[arg(long)]
    pub json: bool,
}

/// Says what a change did: `message` for people, or one JSON object on stdout with `--json`.
pub(super) fn tell(flags: &Confirmation, report: &ops::Report, fields: serde_json::Value, to_stdout: bool) {
    if flags.json {
        let mut out = serde_json::json!({ "done": true, "message": crate::logstore::sanitize::plain(&report.message) });
        if let (serde_json::Value::Object(o), serde_json::Value::Object(f)) = (&mut out, fields) {
            o.extend(f);
        }
        if let Some(w) = &report.warning {
            out["warning"] = serde_json::json!(crate::logstore::sanitize::plain(w));
        }
        println!("{out}");
    } else if to_stdout {
        println!("{}", crate::logstore::sanitize::plain(&report.message));
    } else {
        eprintln!("{}", crate::logstore::sanitize::plain(&report.message));
    }
}

/// Who asks for a change from the command line, and with which configuration and data.
pub struct Caller<'a> {
    /// Shared, so the providers built for a subcommand hold it without a copy.
    pub config: &'a std::sync::Arc<Config>,
    pub data_dir: &'a Path,
    pub identity: &'a Identity,
    pub read_only: bool,
}

/// Checks policy and confirmation for `op` and executes it, journaled.
pub async fn change(
    ci: &dyn CiProvider,
    who: &Caller<'_>,
    op: Operation,
    run: Option<&RunRecord>,
    evidence: Option<&crate::findings::Evidence>,
    flags: &Confirmation,
) -> anyhow::Result<Report> {
    let (config, data_dir, identity, read_only) = (who.config, who.data_dir, who.identity, who.read_only);
    let journal = Journal::in_data_dir(data_dir);
    let envs = match &op {
        Operation::Trigger { pipeline, .. } => config.pipeline(pipeline).map(|p| p.environments.clone()).unwrap_or_default(),
        _ => Vec::new(),
    };
    let target = ops::describe(&op, run, &envs).map_err(anyhow::Error::msg)?;
    let approved = authorise(config, &journal, identity, read_only, op, target, evidence, flags)?;
    let report = ops::execute(ci, &journal, approved).await.map_err(anyhow::Error::msg)?;
    if let Some(w) = &report.warning {
        eprintln!("warning: {w}");
    }
    Ok(report)
}

/// Policy and the confirmation tier, as flags; refusals are journaled.
#[allow(clippy::too_many_arguments)]
pub(super) fn authorise(
    config: &Config,
    journal: &Journal,
    identity: &Identity,
    read_only: bool,
    op: Operation,
    target: ops::Target,
    evidence: Option<&crate::findings::Evidence>,
    flags: &Confirmation,
) -> anyhow::Result<Approved> {
    let mut policy = config.policy.clone();
    policy.read_only = read_only;
    let verdict = policy.evaluate(&Request {
        kind: op.kind(),
        environments: target.environments.clone(),
        actor: &identity.actor,
        run_triggered_by: &target.triggered_by,
        now: jiff::Timestamp::now(),
        break_glass: flags.break_glass,
        security: evidence,
    });
    let (tier, break_glass_used) = match verdict {
        Verdict::Allowed { tier, break_glass_used, .. } => (tier, break_glass_used),
        Verdict::Refused { rule, message, break_glass_possible } => {
            let why = target.explain_refusal(&rule, &message);
            let draft = ops::refusal(&op, identity, &target.name, &target.environments, target.parameters.clone(), &why);
            let journaled = journal.append(draft).err().map(|e| format!(" (the refusal could not be journaled: {e})")).unwrap_or_default();
            let hint = if break_glass_possible {
                format!("\nto override the freeze: --break-glass --confirm {} --reason TEXT", target.name)
            } else {
                String::new()
            };
            bail!("refused: {why}{journaled}{hint}");
        }
    };
    let reason = flags.reason.clone().unwrap_or_default().trim().to_string();
    // A refusal for a missing flag is evidence too: someone tried.
    let refuse = |why: String| -> anyhow::Error {
        let draft = ops::refusal(&op, identity, &target.name, &target.environments, target.parameters.clone(), &why);
        let journaled = journal.append(draft).err().map(|e| format!(" (the refusal could not be journaled: {e})")).unwrap_or_default();
        anyhow::anyhow!("refused: {why}{journaled}")
    };
    // What the journal records is the confirmation that really happened.
    let shown = match tier {
        Tier::Typed => {
            if flags.confirm.as_deref() != Some(target.name.as_str()) {
                return Err(refuse(format!(
                    "{} needs a typed confirmation here; add --confirm {} (exactly) and --reason TEXT",
                    op.action(),
                    target.name
                )));
            }
            if reason.is_empty() {
                return Err(refuse(format!("{} needs a reason here; add --reason TEXT (it is journaled)", op.action())));
            }
            Tier::Typed
        }
        Tier::YesNo | Tier::Dialog if !flags.yes && std::io::stdin().is_terminal() => {
            let mut err = std::io::stderr().lock();
            // Names, images and annotations come from outside: shown as plain text.
            for line in &target.effect {
                let _ = writeln!(err, "{}", crate::logstore::sanitize::plain(line));
            }
            let _ = write!(err, "Proceed? [y/N] ");
            let _ = err.flush();
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer).context("cannot read the answer")?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                bail!("not confirmed; nothing was done");
            }
            Tier::YesNo
        }
        // --yes, or no terminal to ask on: nobody was asked.
        _ => Tier::None,
    };
    let via = if std::env::var_os("FLIGHTDECK_RUN_ID").is_some() { "pipeline" } else { "cli" };
    Ok(Approved { op, identity: identity.clone(), via: via.into(), target, reason, break_glass: break_glass_used, tier: shown })
}
