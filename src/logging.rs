//! Diagnostics go to a file in the data directory, never onto the terminal the cockpit owns.

use std::path::Path;

/// Log lines that may wait for the writer thread.
const LOG_QUEUE_LINES: usize = 4096;

/// Logs go to a file in the data directory, never onto the terminal. A data directory this account
/// cannot write (read-only, or another user's) means no log, not a failure: reading still works.
pub fn init(data_dir: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::NEVER)
        .filename_prefix("flightdeck.log")
        .build(data_dir)
        .ok()?;
    // The default queue preallocates 128,000 lines (4 MB resident from the start); a cockpit logs
    // a few lines a minute. Past this many waiting lines, lines are dropped, never the caller
    // blocked.
    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().buffered_lines_limit(LOG_QUEUE_LINES).lossy(true).finish(appender);
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("FLIGHTDECK_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_writer(writer).with_ansi(false).with_env_filter(filter).try_init().ok()?;
    Some(guard)
}
