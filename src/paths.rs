//! Where run history, logs and the audit journal live.

use std::path::{Path, PathBuf};

use anyhow::Context;

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
