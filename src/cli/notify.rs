//! `flightdeck notify test|outbox`, and telling the supervisor when a command journaled something.

use std::path::Path;
use std::process::ExitCode;

use super::NotifyCmd;
use super::changes::Caller;
use crate::config::Config;

pub async fn run(who: &Caller<'_>, cmd: NotifyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        NotifyCmd::Test { sink } => match crate::notify::Notifier::new(who.config.clone(), who.data_dir)
            .map_err(anyhow::Error::msg)?
            .send_test(&sink, &who.identity.actor)
            .await
        {
            Ok(said) => {
                println!("{said}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("the test message to {sink} was not delivered: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
        NotifyCmd::Outbox { json } => {
            // Read only: listing writes nothing (another account may read a shared history).
            let (pending, failed) = crate::notify::Outbox::in_data_dir(who.data_dir).list();
            if json {
                let row = |d: &crate::notify::Delivery, state: &str| {
                    serde_json::json!({
                        "state": state,
                        "sink": d.sink,
                        "id": d.key(),
                        "events": d.notices.iter().map(|n| n.event.clone()).collect::<Vec<_>>(),
                        "titles": d.notices.iter().map(|n| n.title.clone()).collect::<Vec<_>>(),
                        "attempts": d.attempts,
                        "queued": jiff::Timestamp::from_millisecond(d.queued_ms).ok(),
                        "next_attempt": (d.next_ms > 0).then(|| jiff::Timestamp::from_millisecond(d.next_ms).ok()).flatten(),
                        "last_error": d.last_error,
                    })
                };
                let rows: Vec<_> = pending.iter().map(|d| row(d, "pending")).chain(failed.iter().map(|d| row(d, "failed"))).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if pending.is_empty() && failed.is_empty() {
                println!("nothing waits to be delivered, and nothing was given up");
            } else {
                for (state, list) in [("pending", &pending), ("FAILED", &failed)] {
                    for d in list.iter() {
                        let first = &d.notices[0];
                        let more = if d.notices.len() > 1 { format!(" (+{} grouped)", d.notices.len() - 1) } else { String::new() };
                        let error = d.last_error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default();
                        println!("{state:8} {:12} {:22} attempts {:2}  {}{more}{error}", d.sink, first.event, d.attempts, first.title);
                    }
                }
            }
            Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
    }
}

/// After a command that journaled something, the supervisor is told (and started) so that the
/// notifications it holds are delivered with nobody waiting for them.
pub fn journal_grew(config: &Config, data_dir: &Path, before: u64) {
    let now = std::fs::metadata(crate::audit::Journal::in_data_dir(data_dir).path()).map(|m| m.len()).unwrap_or(0);
    if now != before {
        crate::supervisor::poke_notifier(config, data_dir);
    }
}

/// The journal's size now, to tell later whether a command added to it.
pub fn journal_size(data_dir: &Path) -> u64 {
    std::fs::metadata(crate::audit::Journal::in_data_dir(data_dir).path()).map(|m| m.len()).unwrap_or(0)
}

/// The journal failed its check: the sinks that take `audit.failed` are told.
pub fn audit_failed(config: &Config, data_dir: &Path, problem: &str) {
    if config.notify.is_empty() {
        return;
    }
    let queued = crate::notify::Notifier::new(std::sync::Arc::new(config.clone()), data_dir)
        .and_then(|n| n.queue_now(&crate::notify::audit_failed(problem, jiff::Timestamp::now())));
    match queued {
        Ok(_) => crate::supervisor::poke_notifier(config, data_dir),
        Err(e) => eprintln!("the failed check could not be queued for notification: {e}"),
    }
}
