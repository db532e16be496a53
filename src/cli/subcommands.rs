//! The subcommands' own subcommands: the supervisor, the audit journal, the configuration.

use std::path::PathBuf;

use clap::Subcommand;

use super::changes::Confirmation;

#[derive(Subcommand, Debug)]
pub enum SupervisorCmd {
    /// Whether it runs, and which runs and canaries it keeps going
    Status {
        /// Print JSON: whether it runs, its pid, account, runs and canaries
        #[arg(long)]
        json: bool,
    },
    /// Serve this data directory in the foreground, shared with the accounts under [supervisor]
    /// share_with (for a service manager); it stays until stopped
    Serve,
    /// Stop it: every run it executes is cancelled first (each through the policy and journaled);
    /// refused while a canary is under way
    Stop {
        #[command(flatten)]
        confirm: Confirmation,
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
        /// The witness file of checkpoints to compare with (default: [audit] witness)
        #[arg(long, value_name = "FILE")]
        witness: Option<PathBuf>,
        /// The key that signed the checkpoints (default: [audit] signing_key)
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Write the evidence for auditors: one row per action, approvals linked to their runs
    Export {
        /// Journal file (default: audit.jsonl in the data directory)
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Only actions at or after this time (2026-11-01 or an RFC 3339 instant)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only actions before this time
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// json (one object per action, approvals linked to their runs) or csv
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Export a journal whose chain is broken, with every row after the break flagged (without
        /// it, a broken journal exports nothing and exits 1)
        #[arg(long)]
        allow_broken: bool,
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
    Check {
        /// The configuration file to check (default: the one flightdeck would use)
        file: Option<PathBuf>,
    },
    /// Print a complete, commented example configuration
    Example,
}

#[derive(Subcommand, Debug)]
pub enum NotifyCmd {
    /// Send a test message to one sink now, and say what its receiver answered
    Test {
        /// The sink, as named in [notify.NAME]
        sink: String,
    },
    /// What waits to be delivered, and what was given up (with why)
    Outbox {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}
