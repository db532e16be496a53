//! Using a supervisor another account shares (`--connect`), and what a session it runs for
//! someone else may do: everything the cockpit and the commands do on the shared data directory
//! and configuration, and nothing that names another file or starts another supervisor.

use std::path::Path;
use std::process::ExitCode;

use super::{AuditCmd, Cli, Cmd, ConfigCmd, SupervisorCmd, exit};

/// Runs this command line in the shared supervisor's session, on this terminal.
pub(super) fn attach(socket: &Path) -> ExitCode {
    let mut args = Vec::new();
    let mut skip_value = false;
    for arg in std::env::args_os().skip(1) {
        let Ok(arg) = arg.into_string() else {
            eprintln!("error: an argument is not valid UTF-8; a shared session takes text arguments only");
            return ExitCode::from(exit::ERROR);
        };
        if skip_value {
            skip_value = false;
        } else if arg == "--connect" {
            skip_value = true;
        } else if !arg.starts_with("--connect=") {
            args.push(arg);
        }
    }
    match crate::supervisor::share::attach(socket, args) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(exit::ERROR)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// In a session the shared supervisor runs for a client, the commands that would reach beyond
/// the shared data directory and configuration are refused.
pub(super) fn may_run(cli: &Cli) -> Result<(), String> {
    if std::env::var_os(crate::identity::PEER_FD_VAR).is_none() {
        return Ok(());
    }
    let paths = "a shared session reads only the shared journal and configuration; file arguments are not accepted";
    match &cli.command {
        Some(Cmd::Demo { .. } | Cmd::DemoService { .. } | Cmd::DemoTraffic { .. } | Cmd::Supervise { .. }) => {
            Err("not available in a shared session; run it in your own account".into())
        }
        Some(Cmd::Supervisor { command: SupervisorCmd::Serve }) => Err("a shared session cannot start another supervisor".into()),
        Some(Cmd::Config { command: ConfigCmd::Check { file: Some(_) } }) => Err(paths.into()),
        Some(Cmd::Audit { command: AuditCmd::Verify { journal, witness, key } })
            if journal.is_some() || witness.is_some() || key.is_some() =>
        {
            Err(paths.into())
        }
        Some(Cmd::Audit { command: AuditCmd::Export { journal: Some(_), .. } }) => Err(paths.into()),
        _ => Ok(()),
    }
}
