//! Diagnostics go to a file in the data directory, never onto the terminal the cockpit owns.

use std::path::Path;

/// Logs go to a file in the data directory, never onto the terminal. A data directory this account
/// cannot write (read-only, or another user's) means no log, not a failure: reading still works.
pub fn init(data_dir: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::NEVER)
        .filename_prefix("flightdeck.log")
        .build(data_dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("FLIGHTDECK_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_writer(writer).with_ansi(false).with_env_filter(filter).try_init().ok()?;
    Some(guard)
}
