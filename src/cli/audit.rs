//! `flightdeck audit verify|export`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{AuditCmd, ExportFormat};
use crate::audit::{Journal, export_csv, export_rows, parse_time_bound};

pub fn run(cmd: AuditCmd, data_dir: &Path, config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let journal_of = |j: Option<std::path::PathBuf>| j.map(Journal::new).unwrap_or_else(|| Journal::in_data_dir(data_dir));
    match cmd {
        AuditCmd::Verify { journal, witness, key } => {
            let own = journal.is_none();
            let j = journal_of(journal);
            let mut settings = crate::audit::witness::configured();
            if witness.is_some() {
                settings.file = witness;
            }
            if key.is_some() {
                settings.signing_key = key;
            }
            if !j.path().exists() && settings.file.is_none() {
                anyhow::bail!("there is no audit journal at {}", j.path().display());
            }
            let (_, report) = j.read_witnessed(&settings)?;
            match &settings.file {
                Some(w) => eprintln!("checked against the witness {}", w.display()),
                None => eprintln!(
                    "note: no witness is configured ([audit] witness): a journal cut off at its end, rewritten as a whole, rolled back or deleted cannot be told from an intact one"
                ),
            }
            if report.ok() {
                println!("{}: {report}", j.path().display());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{}: NOT INTACT — {report}", j.path().display());
                if own {
                    super::notify::audit_failed(config, data_dir, &report.to_string());
                }
                Ok(ExitCode::FAILURE)
            }
        }
        AuditCmd::Export { journal, since, until, format, allow_broken } => {
            let j = journal_of(journal);
            let since = since.map(|s| parse_time_bound(&s)).transpose().map_err(anyhow::Error::msg).context("--since")?;
            let until = until.map(|s| parse_time_bound(&s)).transpose().map_err(anyhow::Error::msg).context("--until")?;
            let (records, report) = j.read()?;
            if !report.ok() && !allow_broken {
                eprintln!(
                    "{}: NOT INTACT — {report}; nothing was exported (--allow-broken exports it with every row after the break flagged)",
                    j.path().display()
                );
                return Ok(ExitCode::FAILURE);
            }
            let mut rows = export_rows(&records, since, until);
            if !report.ok() {
                eprintln!("warning: the journal is not intact ({report}); rows after the break are flagged `intact: false`");
                // Only the records before the first problem are known to be as written.
                for r in &mut rows {
                    r.intact = r.intent_seq as usize <= report.good && r.outcome_seq.is_none_or(|s| s as usize <= report.good);
                }
            }
            match format {
                ExportFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                ExportFormat::Csv => print!("{}", export_csv(&rows)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
