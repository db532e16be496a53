//! The command line: the cockpit by default, and a headless subcommand for everything it can do.
//! Subcommands go through the same runner code paths as the TUI.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};

mod apps;
mod audit;
mod changes;
pub mod exit;
mod notify;
mod peer;
mod printer;
mod releases;
mod runs;
mod screens;
mod subcommands;
pub use screens::StartScreen;
pub use subcommands::{AuditCmd, ConfigCmd, ExportFormat, NotifyCmd, SupervisorCmd};
mod supervisor;
mod tools;

use changes::Confirmation;

use crate::cockpit::TuiOptions;
use crate::config::{Config, Locations};
use crate::domain::RunRef;
use crate::theme::{ColorChoice, ColorDepth};

#[derive(Parser, Debug)]
#[command(name = "flightdeck", version, about = "A keyboard-driven terminal release cockpit", long_about = None, after_help = exit::EXIT_CODES)]
pub struct Cli {
    /// Configuration file (default: $FLIGHTDECK_CONFIG, then flightdeck.toml in this directory or
    /// one above it up to the git root, then config.toml in the user config directory)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where run history and logs are kept (default: $FLIGHTDECK_DATA_DIR, then the user data directory)
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Disable every action that changes something
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Use the supervisor another account shares on this host, at this socket: the command (or
    /// the cockpit) runs there, on this terminal, as you
    #[arg(long, global = true, value_name = "SOCKET", env = "FLIGHTDECK_CONNECT")]
    pub connect: Option<PathBuf>,
    /// Colour output (NO_COLOR is honoured with auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Open the cockpit on this screen
    #[arg(long, value_enum, value_name = "SCREEN")]
    pub screen: Option<StartScreen>,
    /// Open the cockpit on this kubeconfig context (Argo Rollouts; like :ctx)
    #[arg(long = "context", value_name = "CONTEXT")]
    pub kube_context: Option<String>,
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
        /// The pipeline to run, as named in the configuration (`gh:owner/repo:deploy.yml` for a
        /// GitHub workflow)
        pipeline: String,
        /// Stream the jobs' logs and exit 0 only if the run succeeds
        #[arg(long, short)]
        follow: bool,
        /// The branch, tag or commit to run (GitHub workflows; default: the repository's default branch)
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// A workflow input, NAME=VALUE (repeatable)
        #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// List runs
    Runs {
        /// Only the runs of this pipeline
        pipeline: Option<String>,
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
        /// Show at most this many runs
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only the runs of this CI provider (`local`, or a [ci.github.NAME])
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// Only the runs of this branch or tag
        #[arg(long)]
        branch: Option<String>,
        /// Only the runs started this way (push, workflow_dispatch, pull_request; cli, tui)
        #[arg(long)]
        event: Option<String>,
        /// Only the runs this person started
        #[arg(long)]
        actor: Option<String>,
        /// Only the runs in this state (queued, running, waiting, success, failed, cancelled)
        #[arg(long)]
        status: Option<String>,
    },
    /// Print a run's logs (all jobs, or one)
    Logs {
        /// The run: its number (42), or provider:id (local:42, gh:owner/repo:123)
        run: RunRef,
        /// Job key (e.g. `test[20]`), or a unique part of it
        job: Option<String>,
        /// Keep printing as the run goes on; exit 0 only when it succeeds
        #[arg(long, short)]
        follow: bool,
        /// One JSON object per line: job, time, stream (out, err, meta) and text
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run (its job processes are ended)
    Cancel {
        /// The run: its number (42), or provider:id (local:42, gh:owner/repo:123)
        run: RunRef,
        /// The CI service's forced cancel, for a run that does not stop (GitHub's force-cancel)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Run the failed, cancelled or skipped jobs of a finished run again, or start an aborted
    /// rollout's steps again: the reference says which
    Retry {
        /// A run (42, local:42, gh:owner/repo:7), or a rollout (NAME, nginx:NAME, NAMESPACE/NAME, argo:CONTEXT/NAMESPACE/NAME)
        #[arg(value_name = "RUN|ROLLOUT")]
        target: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        /// Stream the jobs' logs and exit 0 only if the run succeeds
        #[arg(long, short)]
        follow: bool,
        /// Only the failed, cancelled or skipped jobs (the default)
        #[arg(long, conflicts_with_all = ["all", "job"])]
        failed: bool,
        /// Every job of the run (GitHub)
        #[arg(long, conflicts_with = "job")]
        all: bool,
        /// One job (GitHub)
        #[arg(long, value_name = "JOB")]
        job: Option<String>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// A run's security findings (all its scan reports, grouped), and the gate's verdict
    Findings {
        /// The run: its number (42), or provider:id (local:42, gh:owner/repo:123)
        run: RunRef,
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
        /// Judge the findings by this environment's release gate; exits 1 when it fails
        #[arg(long, value_name = "ENV")]
        gate: Option<String>,
    },
    /// Canary against stable from Prometheus or CloudWatch: values, conditions and the verdict. Exits 0 when
    /// Successful, 1 when Failed, 2 when Inconclusive, Error or still Running
    Canary {
        /// The analysed service ([services.NAME] in the configuration)
        service: String,
        /// How far back to judge (default: the analysis' interval × count)
        #[arg(long, value_name = "DURATION")]
        window: Option<String>,
        /// Measure the sides this release names (`ecs:CLUSTER/SERVICE`: its deployment's
        /// replacement and original target groups, for a service measured in CloudWatch)
        #[arg(long, value_name = "RELEASE")]
        release: Option<String>,
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Rollouts, what needs a human first: NGINX canaries, and Argo Rollouts when a Kubernetes
    /// context is configured or asked for
    Rollouts {
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        kube: releases::KubeTarget,
    },
    /// Argo CD Applications, what needs a human first: out of sync in production, degraded, an
    /// operation failed or under way
    Apps {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// One Argo CD Application: get, sync, rollback, refresh, terminate, auto-sync
    App {
        #[command(subcommand)]
        command: apps::AppCmd,
    },
    /// One rollout (get), start rolling out a version (start), or decide a rollout waiting for a
    /// person (approve, reject, cancel, ignore-job)
    Rollout {
        #[command(subcommand)]
        command: releases::RolloutCmd,
    },
    /// Go on to a rollout's next step (--full: 100 % now, skipping the rest)
    Promote {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// Send 100 % now, skipping the remaining steps
        #[arg(long)]
        full: bool,
        /// Judge the promotion by this pipeline run's security findings (when no run is linked
        /// to the rollout, or to use another one); recorded in the journal
        #[arg(long, value_name = "RUN")]
        evidence: Option<RunRef>,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Pause a rollout at its current weight
    Pause {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Lift a manual pause (a pure unpause: no step is skipped)
    Resume {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Send all of a rollout's traffic back to stable
    Abort {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Start an aborted rollout's steps again (the same as `retry ROLLOUT`)
    RetryRollout {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Give the stable servers all traffic back after a promotion; for an Argo Rollout, go back
    /// to the previous revision (or --to-revision N)
    Undo {
        /// The rollout: NAME or nginx:NAME (an NGINX canary), NAMESPACE/NAME or argo:CONTEXT/NAMESPACE/NAME (an Argo Rollout)
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// The revision to go back to (Argo Rollouts; default: the previous one)
        #[arg(long, value_name = "N")]
        to_revision: Option<i64>,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Restart an Argo Rollout's pods (spec.restartAt = now)
    Restart {
        /// The Argo Rollout: NAMESPACE/NAME (in --context), or argo:CONTEXT/NAMESPACE/NAME
        #[arg(value_name = "ROLLOUT")]
        name: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Stop a running analysis of an Argo Rollout
    TerminateAnalysis {
        /// The Argo Rollout: NAMESPACE/NAME (in --context), or argo:CONTEXT/NAMESPACE/NAME
        #[arg(value_name = "ROLLOUT")]
        name: String,
        /// The AnalysisRun's name
        run: String,
        #[command(flatten)]
        kube: releases::KubeTarget,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Gates waiting for a decision, and whether you may decide them
    Approvals {
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Pass a waiting gate
    Approve {
        /// The run: its number (42), or provider:id (local:42, gh:owner/repo:123)
        run: RunRef,
        /// The gate's name when several are waiting
        #[arg(long)]
        gate: Option<String>,
        #[command(flatten)]
        confirm: Confirmation,
    },
    /// Reject a waiting gate
    Reject {
        /// The run: its number (42), or provider:id (local:42, gh:owner/repo:123)
        run: RunRef,
        /// The gate's name when several are waiting
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
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Every key binding in force (your [keys] applied), by context
    Keys {
        /// As the README's Markdown table
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
        /// Print JSON, with the fields the screens show, instead of a table
        #[arg(long)]
        json: bool,
    },
    /// The supervisor of the data directory: executes runs and keeps canaries moving (started
    /// on demand by the cockpit and the command line)
    #[command(hide = true)]
    Supervise {
        /// Be the guard of the supervisor with this pid, ending its jobs if it is killed
        #[arg(long, value_name = "SUPERVISOR_PID")]
        guard: Option<i32>,
    },
    /// The supervisor that executes this data directory's runs: status, stop
    Supervisor {
        #[command(subcommand)]
        command: SupervisorCmd,
    },
    /// Notifications: send a test message to a sink, see what waits or was given up
    Notify {
        #[command(subcommand)]
        command: NotifyCmd,
    },
}

pub fn main() -> ExitCode {
    crate::paths::private_files();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let asked = matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
            return ExitCode::from(if asked { exit::OK } else { exit::ERROR });
        }
    };
    if let Some(socket) = cli.connect.clone() {
        return peer::attach(&socket);
    }
    if let Err(refusal) = peer::may_run(&cli) {
        eprintln!("refused: {refusal}");
        return ExitCode::from(exit::ERROR);
    }
    if prints_only(&cli) {
        // Like other Unix tools, a reader that goes away (`| head -1`) ends the printing quietly,
        // rather than a panic on a broken pipe. Only for commands that change nothing.
        // SAFETY: restoring the default disposition of a signal before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<exit::NothingToDo>().is_some() => {
            eprintln!("nothing to do: {}", crate::logstore::sanitize::plain(&format!("{e:#}")));
            ExitCode::from(exit::NOTHING_TO_DO)
        }
        Err(e) => {
            crate::cockpit::terminal::restore_if_raw();
            // Each line sanitised on its own: a hint on the next line stays on the next line.
            let text: Vec<String> = format!("{e:#}").lines().map(crate::logstore::sanitize::plain).collect();
            eprintln!("error: {}", text.join("\n"));
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Subcommands that only read and print (no run executes in them, nothing is changed).
fn prints_only(cli: &Cli) -> bool {
    matches!(
        cli.command,
        Some(
            Cmd::Runs { .. }
                | Cmd::Logs { follow: false, .. }
                | Cmd::Findings { .. }
                | Cmd::Approvals { .. }
                | Cmd::Rollouts { .. }
                | Cmd::Apps { .. }
                | Cmd::Canary { .. }
                | Cmd::Keys { .. }
                | Cmd::Completions { .. }
                | Cmd::Audit { .. }
                | Cmd::Config { .. }
        )
    )
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
        Some(Cmd::Config { command: ConfigCmd::Check { file } }) => return tools::config_check(file.as_deref().or(cli.config.as_deref())),
        Some(Cmd::Demo { no_start }) => {
            let opts = crate::demo::DemoOptions { data_dir: cli.data_dir.clone(), read_only: cli.read_only, color: cli.color };
            return crate::demo::run(&opts, !no_start);
        }
        Some(Cmd::DemoService { listen, version }) => {
            crate::demo::service::run(*listen, version.clone())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Supervise { guard }) => {
            let data_dir = crate::paths::data_dir(cli.data_dir.as_deref())?;
            if let Some(supervisor) = *guard {
                return Ok(crate::supervisor::guard(&data_dir, supervisor));
            }
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
            return rt.block_on(crate::supervisor::serve(data_dir, None));
        }
        Some(Cmd::Supervisor { command: SupervisorCmd::Serve }) => {
            return supervisor::serve_shared(cli.config.as_deref(), cli.data_dir.as_deref());
        }
        Some(Cmd::DemoTraffic { targets, rps }) => {
            crate::demo::traffic::run(targets.clone(), *rps)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let loc = Locations::discover(cli.config.as_deref());
    let config = Arc::new(Config::load(&loc)?);
    crate::audit::witness::configure(config.audit.clone());
    let data_dir = crate::paths::data_dir(cli.data_dir.as_deref())?;
    let _log_guard = crate::logging::init(&data_dir);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let journal_before = notify::journal_size(&data_dir);
    let result = rt.block_on(dispatch(cli, config.clone(), data_dir.clone(), loc));
    notify::journal_grew(&config, &data_dir, journal_before);
    result
}

async fn dispatch(cli: Cli, config: Arc<Config>, data_dir: PathBuf, loc: Locations) -> anyhow::Result<ExitCode> {
    let identity = crate::identity::of(&config.people, config.path.as_deref(), &data_dir)?;
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
                start_screen: cli.screen.map(StartScreen::screen),
                kube_context: cli.kube_context.clone(),
            };
            let signalled = crate::cockpit::run_tui(config, data_dir, opts).await?;
            Ok(crate::cockpit::exit_code(signalled))
        }
        Some(Cmd::Run { pipeline, follow, git_ref, inputs, confirm }) => {
            let with = runs::trigger_with(git_ref, &inputs)?;
            runs::start(&who, pipeline, with, follow, colour, &confirm).await
        }
        Some(Cmd::Retry { target, kube, follow, failed: _, all, job, confirm }) => {
            let scope = match (all, job) {
                (true, _) => crate::ci::RetryScope::All,
                (false, Some(j)) => crate::ci::RetryScope::Job(j),
                (false, None) => crate::ci::RetryScope::Failed,
            };
            // The reference says which: a run (`42`, `local:42`, `gh:…`) or a rollout
            // (`NS/NAME`, `nginx:NAME`, `argo:CTX/NS/NAME`, or a NAME no CI provider claims).
            let run = target.parse::<RunRef>().ok().filter(|r| match r.provider.as_str() {
                crate::domain::NGINX | crate::domain::ARGO => false,
                "" => !r.id.contains('/') && runs::claimed(&who, &r.id),
                _ => true,
            });
            match run {
                Some(run) => runs::retry(&who, run, scope, follow, colour, &confirm).await,
                None => releases::act(&who, &kube, &target, RA::Retry, None, &confirm).await,
            }
        }
        Some(Cmd::Supervise { .. }) => unreachable!("handled before the configuration is read"),
        Some(Cmd::Supervisor { command }) => supervisor::run(&who, command).await,
        Some(Cmd::Runs { pipeline, json, limit, provider, branch, event, actor, status }) => {
            let filter = crate::ci::RunFilter { branch, event, actor, status };
            runs::list(&who, crate::ci::RunQuery { pipeline, limit, after: None, filter }, provider, json).await
        }
        Some(Cmd::Logs { run, job, follow, json }) => runs::logs(&who, run, job.as_deref(), follow, colour && !json, json).await,
        Some(Cmd::Cancel { run, force, confirm }) => runs::cancel(&who, run, force, &confirm).await,
        Some(Cmd::Approve { run, gate, confirm }) => runs::decide(&who, run, gate, true, &confirm).await,
        Some(Cmd::Reject { run, gate, confirm }) => runs::decide(&who, run, gate, false, &confirm).await,
        Some(Cmd::Findings { run, json, gate }) => runs::findings(&who, run, json, gate.as_deref()).await,
        Some(Cmd::Canary { service, window, release, json }) => {
            let measured_on = match release {
                Some(name) => releases::measured_on(&who, &name).await?,
                None => None,
            };
            tools::canary(&config, &service, window.as_deref(), measured_on, json).await
        }
        Some(Cmd::Approvals { json }) => runs::approvals(&who, json).await,
        Some(Cmd::Audit { command }) => audit::run(command, &data_dir, &config),
        Some(Cmd::Notify { command }) => notify::run(&who, command).await,
        Some(Cmd::Rollouts { json, kube }) => releases::list(&who, &kube, json).await,
        Some(Cmd::Apps { json }) => apps::list(&who, json).await,
        Some(Cmd::App { command }) => apps::run(command, &who).await,
        Some(Cmd::Rollout { command }) => releases::run(command, &who).await,
        Some(Cmd::Promote { name, full, evidence, kube, confirm }) => {
            let action = if full { RA::PromoteFull } else { RA::Promote };
            releases::act(&who, &kube, &name, action, evidence, &confirm).await
        }
        Some(Cmd::Pause { name, kube, confirm }) => releases::act(&who, &kube, &name, RA::Pause, None, &confirm).await,
        Some(Cmd::Resume { name, kube, confirm }) => releases::act(&who, &kube, &name, RA::Resume, None, &confirm).await,
        Some(Cmd::Abort { name, kube, confirm }) => releases::act(&who, &kube, &name, RA::Abort, None, &confirm).await,
        Some(Cmd::RetryRollout { name, kube, confirm }) => releases::act(&who, &kube, &name, RA::Retry, None, &confirm).await,
        Some(Cmd::Undo { name, to_revision, kube, confirm }) => {
            releases::act(&who, &kube, &name, RA::Undo { to_revision }, None, &confirm).await
        }
        Some(Cmd::Restart { name, kube, confirm }) => releases::act(&who, &kube, &name, RA::Restart, None, &confirm).await,
        Some(Cmd::TerminateAnalysis { name, run, kube, confirm }) => {
            releases::act(&who, &kube, &name, RA::TerminateAnalysis { run }, None, &confirm).await
        }
        Some(Cmd::Keys { markdown, json }) => tools::keys(&config.keymap, markdown, json),
        Some(Cmd::Demo { .. } | Cmd::DemoService { .. } | Cmd::DemoTraffic { .. } | Cmd::Config { .. } | Cmd::Completions { .. }) => {
            Ok(ExitCode::SUCCESS)
        }
    }
}

use crate::delivery::RolloutAction as RA;
