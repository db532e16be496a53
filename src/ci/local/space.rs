//! A full disk. The run history keeps a small reserve file; when a write finds no space, the
//! reserve is given up so that every run's final state can still be recorded, and logs stop being
//! written (they stay on screen) so that they cannot eat the space just freed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Room kept for run records when the disk fills up: each is a few kilobytes.
const RESERVE_BYTES: usize = 256 * 1024;

/// Whether the disk the history is on was found full, shared by everything writing it here.
#[derive(Clone, Debug, Default)]
pub struct Space {
    full: Arc<AtomicBool>,
}

impl Space {
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    /// Notes a failed write; true when it failed for want of space.
    pub fn note(&self, e: &io::Error) -> bool {
        let no_space = e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT);
        if no_space {
            self.full.store(true, Ordering::SeqCst);
        }
        no_space
    }
}

fn reserve_path(root: &Path) -> PathBuf {
    root.join(".reserve")
}

/// Keeps the reserve in place (best effort: a history that cannot be written has none).
pub fn ensure_reserve(root: &Path) {
    let path = reserve_path(root);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() as usize >= RESERVE_BYTES) {
        return;
    }
    if std::fs::write(&path, vec![0u8; RESERVE_BYTES]).is_err() {
        let _ = std::fs::remove_file(&path);
    }
}

/// Gives the reserve up; true when there was one to give.
pub fn release_reserve(root: &Path) -> bool {
    std::fs::remove_file(reserve_path(root)).is_ok()
}
