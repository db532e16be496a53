//! Job processes nobody executes any more. Every job carries, in its environment, a token naming
//! its run's directory; the environment is inherited by everything the job starts, including what
//! leaves its process group or daemonises. When a run's executor is gone (its lock is free), every
//! process still carrying the run's token is an orphan and is ended.
//!
//! Why not the kernel's other help: PR_SET_PDEATHSIG fires when the *thread* that forked the child
//! ends (tokio's threads come and go) and reaches only the direct child; a child subreaper would
//! have to reap with `waitpid(-1)`, which steals exit statuses from tokio's own child handling; and
//! a writable cgroup is rarely there for an ordinary user over SSH. The token needs none of these.
//! Pidfds are used where they help: each process is pinned before it is signalled.

use std::collections::BTreeMap;
use std::path::Path;

use super::RunStore;
use crate::domain::RunRef;

/// The environment variable that marks a process as part of a run's job.
pub const TOKEN_VAR: &str = "FLIGHTDECK_JOB_TOKEN";

/// The token of a run: its directory, canonical so every process computes the same text.
pub fn token(store: &RunStore, run: &RunRef) -> String {
    let dir = store.run_dir(run);
    std::fs::canonicalize(&dir).unwrap_or(dir).display().to_string()
}

/// Processes visible to us whose environment carries a token under `runs_root`, by token.
pub fn job_processes(runs_root: &Path) -> BTreeMap<String, Vec<i32>> {
    let root = std::fs::canonicalize(runs_root).unwrap_or_else(|_| runs_root.to_path_buf());
    let prefix = format!("{TOKEN_VAR}={}/", root.display());
    let mut found: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    let me = std::process::id() as i32;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Processes of other users, and ones that ended meanwhile, are simply not readable.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        for var in environ.split(|&b| b == 0) {
            if let Some(rest) = var.strip_prefix(prefix.as_bytes()) {
                let token = format!("{}/{}", root.display(), String::from_utf8_lossy(rest));
                found.entry(token).or_default().push(pid);
                break;
            }
        }
    }
    found
}

/// Ends every process of runs whose executor is gone; returns how many were signalled.
pub fn reap_orphans(store: &RunStore) -> usize {
    ended_in_passes(store, |run| {
        // The executor holds the run's lock for as long as it lives.
        matches!(store.try_lock(run), Ok(Some(_free)))
    })
}

/// Ends every process of `run`, whose lock the caller holds (a lock is held per open file, so
/// `reap_orphans` would see this very lock as a live executor and leave them).
pub fn end_run_processes(store: &RunStore, run: &RunRef) -> usize {
    ended_in_passes(store, |r| r == run)
}

/// Ends the processes of the runs `orphaned` says nobody executes, in a few passes: a job may
/// fork while we look, and each pass catches what the previous one missed.
fn ended_in_passes(store: &RunStore, orphaned: impl Fn(&RunRef) -> bool) -> usize {
    let mut ended = 0;
    for _ in 0..5 {
        let mut this_pass = 0;
        for (token, pids) in job_processes(store.root()) {
            let Some(run) = run_of(&token) else { continue };
            if !orphaned(&run) {
                continue;
            }
            for pid in pids {
                if end_if_marked(pid, &token) {
                    this_pass += 1;
                }
            }
        }
        ended += this_pass;
        if this_pass == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ended
}

/// Ends the process `pid` if it still carries `token`. The process is pinned with a pidfd before
/// its mark is read again, so a pid the kernel reused meanwhile is never signalled.
fn end_if_marked(pid: i32, token: &str) -> bool {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor, owned from here on.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if raw < 0 {
        return false; // gone already
    }
    // SAFETY: `raw` is a descriptor the kernel just gave us and nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mark = format!("{TOKEN_VAR}={token}");
    let marked = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == mark.as_bytes()));
    // SAFETY: signals the pinned process (ESRCH if it has exited); no memory is passed.
    marked
        && unsafe { libc::syscall(libc::SYS_pidfd_send_signal, std::os::fd::AsRawFd::as_raw_fd(&pidfd), libc::SIGKILL, 0usize, 0u32) } == 0
}

/// The run a token names (its directory's last component is the run number).
fn run_of(token: &str) -> Option<RunRef> {
    let number = Path::new(token).file_name()?.to_str()?.parse::<u64>().ok()?;
    Some(RunRef::local(number))
}
