//! Where run history, logs and the audit journal live.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The file-creation mask the user started flightdeck with: pipeline jobs get it back, so their
/// build artefacts are created as the user expects.
static JOB_UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Makes everything flightdeck creates private to the user (data, logs, journal, acceptances:
/// files 0600, directories 0700), remembering the user's own mask for the jobs it starts.
pub fn private_files() {
    // SAFETY: umask only swaps the process's file-creation mask.
    let previous = unsafe { libc::umask(0o077) };
    let _ = JOB_UMASK.set(previous as u32);
}

/// The mask a pipeline job should run with (the user's own; 022 when flightdeck did not change it).
pub fn job_umask() -> u32 {
    JOB_UMASK.get().copied().unwrap_or(0o022)
}

/// `--data-dir`, else `$FLIGHTDECK_DATA_DIR`, else the platform data directory.
pub fn data_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match explicit {
        Some(d) => d.to_path_buf(),
        None => match std::env::var_os("FLIGHTDECK_DATA_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => directories::ProjectDirs::from("dev", "flightdeck", "flightdeck")
                .map(|d| d.data_dir().to_path_buf())
                .context("cannot determine a data directory (no home directory?); pass --data-dir")?,
        },
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    Ok(dir)
}
