//! The command line: the cockpit by default, and a headless subcommand for everything it can do.
//! Subcommands go through the same runner code paths as the TUI.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};
use tokio::sync::mpsc::unbounded_channel;

mod argo;
mod audit;
mod changes;
mod rollouts;

use changes::{Confirmation, Detached, change};

use crate::ci::local::{LocalRunner, Tailer};
use crate::ci::{CiProvider, RunEvent};
use crate::cockpit::TuiOptions;
use crate::config::{Config, Locations};
use crate::domain::{JobStatus, RunId, RunRecord, RunStatus, Trigger};
use crate::identity::Identity;
use crate::logstore::sanitize::{sanitize_line_full, strip_sgr};
use crate::logstore::{RawLine, Stream};
use crate::ops::Operation;
use crate::theme::{ColorChoice, ColorDepth};
use crate::util::{elapsed, format_duration};

#[derive(Parser, Debug)]
#[command(name = "flightdeck", version, about = "A keyboard-driven terminal release cockpit", long_about = None)]
pub struct Cli {
    /// Configuration file (default: $FLIGHTDECK_CONFIG, then the user config directory)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where run history and logs are kept (default: $FLIGHTDECK_DATA_DIR, then the user data directory)
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Disable every action that changes something
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Colour output (NO_COLOR is honoured with auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Open the cockpit on the bundled demo project (its own data directory; yours is untouched)
    Demo {
        /// Do not start a run automatically
        #[arg(long)]
        no_start: bool,
    },
    /// The demo's service: one version of a small API with Prometheus metrics
    #[command(hide = true)]
    DemoService {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "1.0.0")]
        version: String,
    },
    /// The demo's traffic: a steady stream of requests to each target URL
    #[command(hide = true)]
    DemoTraffic {
        #[arg(long = "target", value_name = "URL")]
        targets: Vec<String>,
        /// Requests per second to each target
        #[arg(long, default_value_t = 20)]
        rps: u32,
    },
    /// Start a run of a pipeline
    Run {
        pipeline: String,
        /// Stream the jobs' logs and exit 0 only if the run succeeds
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// List runs
    Runs {
        pipeline: Option<String>,
        #[arg(long)]
        json: bool,
        /// Show at most this many runs
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print a run's logs (all jobs, or one)
    Logs {
        run: RunId,
        /// Job key (e.g. `test[20]`), or a unique part of it
        job: Option<String>,
        #[arg(long, short)]
        follow: bool,
    },
    /// Cancel a run (its job processes are ended)
    Cancel {
        run: RunId,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Run the failed, cancelled or skipped jobs of a finished run again
    /// Retry a run's failed jobs (RUN), or an aborted Argo Rollout (NAMESPACE/NAME)
    Retry {
        #[arg(value_name = "RUN|NS/NAME")]
        target: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// A run's security findings (all its scan reports, grouped), and the gate's verdict
    Findings {
        run: RunId,
        #[arg(long)]
        json: bool,
        /// Judge the findings by this environment's security gate; exits 1 when it fails
        #[arg(long, value_name = "ENV")]
        gate: Option<String>,
    },
    /// Canary against stable from Prometheus: values, conditions and the verdict. Exits 0 when
    /// Successful, 1 when Failed, 2 when Inconclusive, Error or still Running
    Canary {
        service: String,
        /// How far back to judge (default: the analysis' interval × count)
        #[arg(long, value_name = "DURATION")]
        window: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Rollouts, what needs a human first: NGINX canaries, and Argo Rollouts when a Kubernetes
    /// context is configured or asked for
    Rollouts {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        kube: argo::KubeTarget,
    },
    /// One rollout (get), or start rolling out a version (start)
    Rollout {
        #[command(subcommand)]
        command: rollouts::RolloutCmd,
    },
    /// Go on to a rollout's next step (--full: 100 % now, skipping the rest)
    Promote {
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Pause a rollout at its current weight
    Pause {
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Lift a manual pause (a pure unpause: no step is skipped)
    Resume {
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Send all of a rollout's traffic back to stable
    Abort {
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Start an aborted rollout's steps again
    RetryRollout {
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Give the stable servers all traffic back after a promotion; for an Argo Rollout, go back
    /// to the previous revision (or --to-revision N)
    Undo {
        #[arg(value_name = "NAME|NS/NAME")]
        name: String,
        #[arg(long, value_name = "N")]
        to_revision: Option<i64>,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Restart an Argo Rollout's pods (spec.restartAt = now)
    Restart {
        #[arg(value_name = "NS/NAME")]
        name: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Stop a running analysis of an Argo Rollout
    TerminateAnalysis {
        #[arg(value_name = "NS/NAME")]
        name: String,
        /// The AnalysisRun's name
        run: String,
        #[command(flatten)]
        kube: argo::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Gates waiting for a decision, and whether you may decide them
    Approvals {
        #[arg(long)]
        json: bool,
    },
    /// Pass a waiting gate
    Approve {
        run: RunId,
        /// The gate's name when several are waiting
        #[arg(long)]
        gate: Option<String>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Reject a waiting gate
    Reject {
        run: RunId,
        #[arg(long)]
        gate: Option<String>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// The audit journal: verify its chain, export the evidence
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Configuration tools
    Config {
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Print shell completions
    Completions { shell: clap_complete::Shell },
    /// Executes a run detached from the terminal (started by `run` without --follow)
    #[command(hide = true)]
    RunWorker {
        run: RunId,
        #[arg(long)]
        retry: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check the whole chain; report the first record that was edited, deleted, reordered,
    /// inserted or torn. Exits 1 when the journal is not intact.
    Verify {
        /// Journal file (default: audit.jsonl in the data directory)
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
    },
    /// Write the evidence for auditors: one row per action, approvals linked to their runs
    Export {
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Only actions at or after this time (2026-11-01 or an RFC 3339 instant)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only actions before this time
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate a configuration file; exits non-zero on any problem
    Check { file: Option<PathBuf> },
    /// Print a complete, commented example configuration
    Example,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            crate::cockpit::terminal::restore_if_raw();
            eprintln!("error: {}", crate::logstore::sanitize::plain(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Cmd::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Cli::command(), "flightdeck", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Config { command: ConfigCmd::Example }) => {
            print!("{}", crate::config::EXAMPLE_CONFIG);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Config { command: ConfigCmd::Check { file } }) => return config_check(file.as_deref().or(cli.config.as_deref())),
        Some(Cmd::Demo { no_start }) => {
            let opts = crate::demo::DemoOptions { data_dir: cli.data_dir.clone(), read_only: cli.read_only, color: cli.color };
            return crate::demo::run(&opts, !no_start);
        }
        Some(Cmd::DemoService { listen, version }) => {
            crate::demo::service::run(*listen, version.clone())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::DemoTraffic { targets, rps }) => {
            crate::demo::traffic::run(targets.clone(), *rps)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let loc = Locations::discover(cli.config.as_deref());
    let config = Arc::new(Config::load(&loc)?);
    let data_dir = crate::paths::data_dir(cli.data_dir.as_deref())?;
    let _log_guard = crate::logging::init(&data_dir);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(dispatch(cli, config, data_dir, loc))
}

async fn dispatch(cli: Cli, config: Arc<Config>, data_dir: PathBuf, loc: Locations) -> anyhow::Result<ExitCode> {
    let identity = Identity::resolve(config.actor.as_deref());
    let trigger = Trigger { actor: identity.actor.clone(), via: "cli".into() };
    let colour = cli.color.depth() != ColorDepth::None && std::io::stdout().is_terminal();
    let who = changes::Caller { config: &config, data_dir: &data_dir, identity: &identity, read_only: cli.read_only };
    match cli.command {
        None => {
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                bail!("the cockpit needs a terminal; for scripts use a subcommand (see flightdeck --help)");
            }
            let opts = TuiOptions {
                read_only: cli.read_only,
                color: cli.color,
                config_dir: loc.config_dir.clone(),
                start_pipeline: None,
                demo: None,
            };
            crate::cockpit::run_tui(config, data_dir, opts).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Run { pipeline, follow, confirm }) => {
            let (tx, rx) = unbounded_channel();
            let runner = LocalRunner::new(config.clone(), &data_dir, tx)?;
            let op = Operation::Trigger { pipeline: pipeline.clone() };
            if follow {
                let report = change(&runner, &config, &data_dir, &identity, cli.read_only, op, None, None, &confirm).await?;
                let id = report.new_run.context("the run was not created")?;
                eprintln!("run #{id} of `{pipeline}` started");
                follow_local(&runner, id, rx, colour).await
            } else {
                let detached = Detached { runner: &runner, config_file: loc.config_file.clone(), data_dir: data_dir.clone() };
                let report = change(&detached, &config, &data_dir, &identity, cli.read_only, op, None, None, &confirm).await?;
                let id = report.new_run.context("the run was not created")?;
                println!("{id}");
                eprintln!("run #{id} of `{pipeline}` started in the background; follow it with `flightdeck logs {id} --follow`");
                Ok(ExitCode::SUCCESS)
            }
        }
        Some(Cmd::Retry { target, kube, follow, confirm }) => {
            if argo::is_argo(&target) {
                return argo::act(&who, &kube, &target, ArgoAction::Retry, &confirm).await;
            }
            let run: RunId = target.parse().with_context(|| format!("`{target}` is neither a run number nor NAMESPACE/NAME"))?;
            let (tx, rx) = unbounded_channel();
            let runner = LocalRunner::new(config.clone(), &data_dir, tx)?;
            let rec = runner.store().load(run)?;
            let op = Operation::Retry { run };
            if follow {
                change(&runner, &config, &data_dir, &identity, cli.read_only, op, Some(&rec), None, &confirm).await?;
                eprintln!("retrying run #{run}");
                follow_local(&runner, run, rx, colour).await
            } else {
                let detached = Detached { runner: &runner, config_file: loc.config_file.clone(), data_dir: data_dir.clone() };
                change(&detached, &config, &data_dir, &identity, cli.read_only, op, Some(&rec), None, &confirm).await?;
                eprintln!("retrying run #{run} in the background; follow it with `flightdeck logs {run} --follow`");
                Ok(ExitCode::SUCCESS)
            }
        }
        Some(Cmd::RunWorker { run, retry }) => {
            let (tx, rx) = unbounded_channel();
            let runner = LocalRunner::new(config.clone(), &data_dir, tx)?;
            if retry {
                let trigger = runner.store().load(run).map(|r| r.trigger).unwrap_or(trigger);
                runner.retry(run, trigger).await?;
            } else {
                let rec = runner.store().load(run)?;
                runner.start(rec)?;
            }
            wait_quietly(&runner, run, rx).await
        }
        Some(Cmd::Runs { pipeline, json, limit }) => {
            let (tx, _rx) = unbounded_channel();
            let runner = LocalRunner::new(config.clone(), &data_dir, tx)?;
            let (runs, problems) = runner.store().list()?;
            for p in problems {
                eprintln!("warning: {p}");
            }
            let runs: Vec<RunRecord> =
                runs.into_iter().filter(|r| pipeline.as_ref().is_none_or(|p| &r.pipeline == p)).take(limit).collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print_runs(&runs);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Logs { run, job, follow }) => logs(&config, &data_dir, run, job.as_deref(), follow, colour).await,
        Some(Cmd::Cancel { run, confirm }) => {
            let (tx, _rx) = unbounded_channel();
            let runner = LocalRunner::new(config.clone(), &data_dir, tx)?;
            let rec = runner.store().load(run)?;
            change(&runner, &config, &data_dir, &identity, cli.read_only, Operation::Cancel { run }, Some(&rec), None, &confirm).await?;
            let limit = config.runner.kill_grace + Duration::from_secs(10);
            let start = std::time::Instant::now();
            loop {
                let rec = runner.store().load(run)?;
                if rec.status.is_terminal() {
                    eprintln!("run #{run} is {}", rec.status.label());
                    return Ok(ExitCode::SUCCESS);
                }
                if start.elapsed() > limit {
                    bail!("asked run #{run} to cancel, but it is still {} after {}s", rec.status.label(), limit.as_secs());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Some(Cmd::Approve { run, gate, confirm }) => decide(&config, &data_dir, &identity, cli.read_only, run, gate, true, &confirm).await,
        Some(Cmd::Reject { run, gate, confirm }) => decide(&config, &data_dir, &identity, cli.read_only, run, gate, false, &confirm).await,
        Some(Cmd::Findings { run, json, gate }) => findings(&config, &data_dir, run, json, gate.as_deref()),
        Some(Cmd::Canary { service, window, json }) => canary(&config, &service, window.as_deref(), json).await,
        Some(Cmd::Approvals { json }) => approvals(&config, &data_dir, &identity, cli.read_only, json),
        Some(Cmd::Audit { command }) => audit::run(command, &data_dir),
        Some(Cmd::Rollouts { json, kube }) => {
            if kube.given() {
                argo::list(&config, &kube, json).await
            } else {
                let code = if config.rollouts.is_empty() && config.kubernetes.is_some() {
                    ExitCode::SUCCESS
                } else {
                    rollouts::list(&config, &data_dir, json).await?
                };
                if config.kubernetes.is_some() { argo::list(&config, &kube, json).await } else { Ok(code) }
            }
        }
        Some(Cmd::Rollout { command }) => rollouts::run(command, &config, &data_dir, &identity, cli.read_only).await,
        Some(Cmd::Promote { name, full, kube, confirm }) => {
            let actions = if full { (ArgoAction::PromoteFull, RA::PromoteFull) } else { (ArgoAction::Promote, RA::Promote) };
            on_rollout(&who, &kube, &name, actions, &confirm).await
        }
        Some(Cmd::Pause { name, kube, confirm }) => on_rollout(&who, &kube, &name, (ArgoAction::Pause, RA::Pause), &confirm).await,
        Some(Cmd::Resume { name, kube, confirm }) => on_rollout(&who, &kube, &name, (ArgoAction::Resume, RA::Resume), &confirm).await,
        Some(Cmd::Abort { name, kube, confirm }) => on_rollout(&who, &kube, &name, (ArgoAction::Abort, RA::Abort), &confirm).await,
        Some(Cmd::RetryRollout { name, kube, confirm }) => on_rollout(&who, &kube, &name, (ArgoAction::Retry, RA::Retry), &confirm).await,
        Some(Cmd::Undo { name, to_revision, kube, confirm }) => {
            on_rollout(&who, &kube, &name, (ArgoAction::Undo { to_revision }, RA::Undo), &confirm).await
        }
        Some(Cmd::Restart { name, kube, confirm }) => argo::act(&who, &kube, &name, ArgoAction::Restart, &confirm).await,
        Some(Cmd::TerminateAnalysis { name, run, kube, confirm }) => {
            argo::act(&who, &kube, &name, ArgoAction::TerminateAnalysis { run }, &confirm).await
        }
        Some(Cmd::Demo { .. } | Cmd::DemoService { .. } | Cmd::DemoTraffic { .. } | Cmd::Config { .. } | Cmd::Completions { .. }) => {
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config_check(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let loc = Locations::discover(file);
    let Some(path) = &loc.config_file else {
        eprintln!(
            "no configuration file found (looked at --config, $FLIGHTDECK_CONFIG and {}); the built-in defaults apply",
            loc.config_dir.map(|d| d.join("config.toml").display().to_string()).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match Config::parse(&text, Some(path), loc.config_dir.as_deref()) {
        Ok(c) => {
            let stages: usize = c.pipelines.values().map(|p| p.stages.len()).sum();
            println!(
                "{}: ok — {} pipeline(s), {stages} stage(s), {} environment(s), theme {}",
                path.display(),
                c.pipelines.len(),
                c.environments.len(),
                c.ui.theme
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s) found", e.diagnostics.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Streams a run executed by this process; exit 0 only on success.
async fn follow_local(
    runner: &LocalRunner,
    id: RunId,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<RunEvent>,
    colour: bool,
) -> anyhow::Result<ExitCode> {
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut printer = Printer::new(colour);
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { bail!("the run stopped reporting") };
                if let Some(rec) = printer.event(id, ev) {
                    return Ok(finish(&rec));
                }
            }
            _ = sigint.recv() => { eprintln!("cancelling run #{id}…"); let _ = runner.cancel(id).await; }
            _ = sigterm.recv() => { let _ = runner.cancel(id).await; }
        }
    }
}

async fn wait_quietly(runner: &LocalRunner, id: RunId, mut rx: tokio::sync::mpsc::UnboundedReceiver<RunEvent>) -> anyhow::Result<ExitCode> {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(RunEvent::Updated(rec)) if rec.id == id && rec.status.is_terminal() => return Ok(finish(&rec)),
                Some(RunEvent::Problem { message, .. }) => eprintln!("{message}"),
                Some(_) => {}
                None => bail!("the run stopped reporting"),
            },
            _ = sigterm.recv() => { let _ = runner.cancel(id).await; }
        }
    }
}

fn finish(rec: &RunRecord) -> ExitCode {
    let dur = elapsed(rec.started_at, rec.finished_at, jiff::Timestamp::now()).map(format_duration).unwrap_or_default();
    eprintln!("run #{} {} in {dur}", rec.id, rec.status.label());
    if rec.status == RunStatus::Success { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Prints log lines prefixed by job, and job transitions, from run events.
struct Printer {
    colour: bool,
    seen: std::collections::HashMap<String, JobStatus>,
    announced_gates: std::collections::HashSet<String>,
}

impl Printer {
    fn new(colour: bool) -> Printer {
        Printer { colour, seen: Default::default(), announced_gates: Default::default() }
    }

    /// Returns the record once the run has finished.
    fn event(&mut self, id: RunId, ev: RunEvent) -> Option<RunRecord> {
        let mut out = std::io::stdout().lock();
        match ev {
            RunEvent::Log { run, job, lines } if run == id => {
                for l in lines {
                    let _ = writeln!(out, "{}", self.format(&job, &l));
                }
            }
            RunEvent::Updated(rec) if rec.id == id => {
                for j in &rec.jobs {
                    if self.seen.get(&j.key) != Some(&j.status) {
                        self.seen.insert(j.key.clone(), j.status);
                        if j.status == JobStatus::Waiting && self.announced_gates.insert(j.key.clone()) {
                            eprintln!("⏸ gate `{}` is waiting: flightdeck approve {} --gate {}", j.key, rec.id, j.key);
                        } else if j.status.is_terminal() {
                            let d = elapsed(j.started_at, j.finished_at, jiff::Timestamp::now()).map(format_duration).unwrap_or_default();
                            let why = j.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                            eprintln!("{} {} {} {d}{why}", crate::ui::widgets::status::job(j.status).0, j.key, j.status.label());
                        }
                    }
                }
                if rec.status.is_terminal() {
                    return Some(*rec);
                }
            }
            RunEvent::Problem { message, .. } => eprintln!("warning: {message}"),
            _ => {}
        }
        None
    }

    fn format(&self, job: &str, l: &RawLine) -> String {
        let text = sanitize_line_full(&l.bytes);
        let text = if self.colour { text } else { strip_sgr(&text).into_owned() };
        match l.stream {
            Stream::Meta => format!("[{job}] ▸ {text}"),
            _ => format!("[{job}] {text}"),
        }
    }
}

fn print_runs(runs: &[RunRecord]) {
    let now = jiff::Timestamp::now();
    println!("{:<6} {:<16} {:<12} {:<20} {:>9}  TRIGGER", "RUN", "PIPELINE", "STATUS", "STARTED (UTC)", "DURATION");
    for r in runs {
        let started = r.started_at.unwrap_or(r.created_at).strftime("%Y-%m-%d %H:%M:%S").to_string();
        let dur = elapsed(r.started_at, r.finished_at, now).map(format_duration).unwrap_or_else(|| "-".into());
        println!(
            "{:<6} {:<16} {:<12} {:<20} {:>9}  {} via {}",
            r.id,
            r.pipeline,
            r.status.label(),
            started,
            dur,
            r.trigger.actor,
            r.trigger.via
        );
    }
}

/// Resolves a job name typed by a person: exact key, else a unique substring.
fn resolve_job(rec: &RunRecord, wanted: &str) -> anyhow::Result<String> {
    if rec.job(wanted).is_some() {
        return Ok(wanted.to_string());
    }
    let hits: Vec<&str> = rec.jobs.iter().filter(|j| j.key.contains(wanted)).map(|j| j.key.as_str()).collect();
    match hits.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!(
            "run #{} has no job `{wanted}` (jobs: {})",
            rec.id,
            rec.jobs.iter().map(|j| j.key.as_str()).collect::<Vec<_>>().join(", ")
        ),
        many => bail!("`{wanted}` matches several jobs of run #{}: {}", rec.id, many.join(", ")),
    }
}

async fn logs(
    config: &Arc<Config>,
    data_dir: &Path,
    run: RunId,
    job: Option<&str>,
    follow: bool,
    colour: bool,
) -> anyhow::Result<ExitCode> {
    let (tx, mut rx) = unbounded_channel();
    let runner = LocalRunner::new(config.clone(), data_dir, tx.clone())?;
    let rec = runner.store().load(run)?;
    let job = job.map(|j| resolve_job(&rec, j)).transpose()?;
    let printer = Printer::new(colour);
    let mut out = std::io::stdout().lock();
    if !follow || rec.status.is_terminal() {
        for j in rec.jobs.iter().filter(|j| job.as_ref().is_none_or(|k| &j.key == k)) {
            for l in runner.store().read_log(&rec, &j.key)? {
                let line = printer.format(&j.key, &l);
                if writeln!(out, "{line}").is_err() {
                    return Ok(ExitCode::SUCCESS); // e.g. piped into head
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    drop(out);
    let mut tailer = Tailer::new(run);
    let mut printer = printer;
    loop {
        let done = tailer.poll(runner.store(), &tx)?;
        while let Ok(ev) = rx.try_recv() {
            let ev = match (ev, &job) {
                (RunEvent::Log { job: j, .. }, Some(k)) if &j != k => continue,
                (ev, _) => ev,
            };
            if let Some(rec) = printer.event(run, ev) {
                return Ok(finish(&rec));
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn decide(
    config: &Arc<Config>,
    data_dir: &Path,
    identity: &Identity,
    read_only: bool,
    run: RunId,
    gate: Option<String>,
    approve: bool,
    confirm: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let (tx, _rx) = unbounded_channel();
    let runner = LocalRunner::new(config.clone(), data_dir, tx)?;
    let rec = runner.store().load(run)?;
    let job = match gate {
        Some(g) => resolve_job(&rec, &g)?,
        None => {
            let waiting: Vec<&str> = rec.waiting_gates().map(|j| j.key.as_str()).collect();
            match waiting.as_slice() {
                [one] => one.to_string(),
                [] => bail!("run #{run} has no gate waiting for a decision (it is {})", rec.status.label()),
                many => bail!("several gates of run #{run} are waiting ({}); choose one with --gate", many.join(", ")),
            }
        }
    };
    let evidence = evidence_of(config, runner.store(), &rec)?;
    let report =
        change(&runner, config, data_dir, identity, read_only, Operation::Gate { run, job, approve }, Some(&rec), Some(&evidence), confirm)
            .await?;
    eprintln!("{}", report.message);
    Ok(ExitCode::SUCCESS)
}

/// Every waiting gate, and whether the current user may approve it.
fn approvals(config: &Arc<Config>, data_dir: &Path, identity: &Identity, read_only: bool, json: bool) -> anyhow::Result<ExitCode> {
    let (tx, _rx) = unbounded_channel();
    let runner = LocalRunner::new(config.clone(), data_dir, tx)?;
    let (runs, _) = runner.store().list()?;
    let now = jiff::Timestamp::now();
    let mut policy = config.policy.clone();
    policy.read_only = read_only;
    let mut rows = Vec::new();
    for rec in &runs {
        // Read the evidence only for runs that have something waiting.
        if rec.waiting_gates().next().is_none() {
            continue;
        }
        let evidence = evidence_of(config, runner.store(), rec)?;
        for gate in rec.waiting_gates() {
            let env = gate.gate.as_ref().and_then(|g| g.environment.clone());
            let verdict = policy.evaluate(&crate::policy::Request {
                kind: crate::policy::ActionKind::Approve,
                environments: env.clone().into_iter().collect(),
                actor: &identity.actor,
                run_triggered_by: Some(&rec.trigger.actor),
                now,
                break_glass: false,
                security: Some(&evidence),
            });
            let blocked = match verdict {
                crate::policy::Verdict::Allowed { .. } => None,
                crate::policy::Verdict::Refused { message, .. } => Some(message),
            };
            let evidence: Vec<serde_json::Value> =
                rec.jobs.iter().filter(|j| j.status.is_terminal()).map(|j| serde_json::json!({"job": j.key, "status": j.status})).collect();
            rows.push(serde_json::json!({
                "run": rec.id,
                "pipeline": rec.pipeline,
                "gate": gate.key,
                "environment": env,
                "triggered_by": rec.trigger.actor,
                "waiting_since": gate.started_at,
                "deadline": gate.gate.as_ref().and_then(|g| g.deadline),
                "you_may_approve": blocked.is_none(),
                "why_not": blocked,
                "evidence": evidence,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("nothing is waiting for a decision");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<6} {:<14} {:<16} {:<8} {:<16} {:>9}  YOU", "RUN", "PIPELINE", "GATE", "ENV", "TRIGGERED BY", "WAITING");
    for r in &rows {
        let since = r["waiting_since"].as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
        let waited = elapsed(since, None, now).map(format_duration).unwrap_or_default();
        let you = match r["why_not"].as_str() {
            None => "may approve".to_string(),
            Some(why) => format!("cannot: {why}"),
        };
        println!(
            "{:<6} {:<14} {:<16} {:<8} {:<16} {:>9}  {you}",
            r["run"],
            r["pipeline"].as_str().unwrap_or(""),
            r["gate"].as_str().unwrap_or(""),
            r["environment"].as_str().unwrap_or("-"),
            r["triggered_by"].as_str().unwrap_or(""),
            waited
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A run's security evidence as the gate sees it: stored findings plus the acceptances in force.
pub fn evidence_of(config: &Config, store: &crate::ci::local::RunStore, rec: &RunRecord) -> anyhow::Result<crate::findings::Evidence> {
    let (findings, unreadable) = store.evidence(rec);
    let acceptances = crate::findings::Acceptances::load(&config.findings.acceptances).map_err(anyhow::Error::msg)?;
    Ok(crate::findings::Evidence { findings, unreadable, acceptances })
}

fn findings(config: &Arc<Config>, data_dir: &Path, run: RunId, json: bool, gate: Option<&str>) -> anyhow::Result<ExitCode> {
    let (tx, _rx) = unbounded_channel();
    let runner = LocalRunner::new(config.clone(), data_dir, tx)?;
    let rec = runner.store().load(run)?;
    let evidence = evidence_of(config, runner.store(), &rec)?;
    let today = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date();
    let verdict = match gate {
        None => None,
        Some(env) => {
            let p = config.policy.environments.get(env).with_context(|| {
                format!("no environment `{env}` (declared: {})", config.policy.environments.keys().cloned().collect::<Vec<_>>().join(", "))
            })?;
            Some((env, evidence.judge(&p.security, today)))
        }
    };
    if json {
        let body = serde_json::json!({
            "run": run,
            "pipeline": rec.pipeline,
            "findings": evidence.findings,
            "unreadable": evidence.unreadable,
            "gate": verdict.as_ref().map(|(env, v)| serde_json::json!({"environment": env, "pass": v.pass, "summary": v.summary, "blocking": v.blocking.iter().map(|f| &f.id).collect::<Vec<_>>()})),
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        let sanitize = crate::logstore::sanitize::plain;
        println!("{:<9} {:<24} {:<14} {:<44} {:<18} STATE", "SEVERITY", "ID", "TOOL", "LOCATION", "FIX");
        for f in &evidence.findings {
            let state = match (&f.suppressed, evidence.acceptances.find(f)) {
                (Some(s), _) => s.clone(),
                (None, Some(a)) if a.expired(today) => format!("acceptance expired {}", a.expires),
                (None, Some(a)) => format!("accepted until {} by {}", a.expires, a.by),
                (None, None) => "open".into(),
            };
            println!(
                "{:<9} {:<24} {:<14} {:<44} {:<18} {state}",
                f.severity.label(),
                sanitize(&f.id),
                f.tools.join("+"),
                sanitize(&f.location),
                f.fixed.as_deref().unwrap_or("-")
            );
        }
        for e in &evidence.unreadable {
            eprintln!("unreadable: {}", sanitize(&e.to_string()));
        }
        let counts = crate::findings::Counts::of(evidence.findings.iter().filter(|f| f.suppressed.is_none()));
        eprintln!("{} findings: {}", evidence.findings.len(), counts.badge());
    }
    match verdict {
        Some((env, v)) if !v.pass => {
            eprintln!("security gate {env}: {}", v.summary);
            for f in &v.blocking {
                eprintln!("  blocking: {} {} ({})", f.severity.label(), f.id, f.location);
            }
            Ok(ExitCode::FAILURE)
        }
        Some((env, v)) => {
            eprintln!("security gate {env}: {}", v.summary);
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

async fn canary(config: &Arc<Config>, service: &str, window: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    use crate::metrics::Phase;
    let (source_name, mut spec) = config.services.get(service).cloned().with_context(|| {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        format!("no service `{service}` under [services] (configured: {})", if known.is_empty() { "none".into() } else { known.join(", ") })
    })?;
    let source = config.prometheus.get(&source_name).context("the service's Prometheus source is missing")?;
    if let Some(w) = window {
        let w = crate::util::parse_duration(w).map_err(anyhow::Error::msg).context("--window")?;
        spec.analysis.count = (w.as_secs() / spec.analysis.interval.as_secs().max(1)).max(1) as usize;
    }
    let step = spec.analysis.interval.as_secs().max(1) as i64;
    let end = jiff::Timestamp::now().as_second() / step * step;
    let result = crate::metrics::analyse(source, &spec, end).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!("{:<16} {:>12} {:>12}  {:<28} {:<13} {:>9}  WHY", "METRIC", "CANARY", "STABLE", "CONDITION", "VERDICT", "P-VALUE");
        for m in &result.metrics {
            let last =
                m.measurements.iter().rev().find(|x| x.canary != crate::metrics::analysis::Reading::NoData).or(m.measurements.last());
            let (c, st) = last.map(|x| (x.canary.describe(&m.unit), x.stable.describe(&m.unit))).unwrap_or(("-".into(), "-".into()));
            let p = m.p_value.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into());
            println!("{:<16} {:>12} {:>12}  {:<28} {:<13} {:>9}  {}", m.name, c, st, m.condition, m.phase.label(), p, m.reason);
        }
        for a in &result.alerts {
            println!("alert firing: {} {}", a.name, a.summary);
        }
        println!("verdict: {} — {}", result.phase.label(), result.reason);
    }
    Ok(match result.phase {
        Phase::Successful => ExitCode::SUCCESS,
        Phase::Failed => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}

use crate::argo::ArgoAction;
use crate::rollout::RolloutAction as RA;

/// An action on a rollout named `NS/NAME` (Argo Rollouts) or `NAME` (an NGINX canary).
async fn on_rollout(
    who: &changes::Caller<'_>,
    kube: &argo::KubeTarget,
    name: &str,
    (argo_action, nginx_action): (ArgoAction, RA),
    confirm: &Confirmation,
) -> anyhow::Result<ExitCode> {
    if argo::is_argo(name) {
        argo::act(who, kube, name, argo_action, confirm).await
    } else {
        rollouts::act(who, name, nginx_action, confirm).await
    }
}
