//! The supervisor from a test's side: the job processes of a data directory, found the way an
//! administrator would (every job's environment names its run), and stopping the supervisor a test
//! started so that nothing outlives the test.

use std::path::Path;
use std::time::{Duration, Instant};

/// Live processes (not zombies) whose environment marks them as jobs of runs under `data`.
pub fn job_processes(data: &Path) -> Vec<i32> {
    let runs = std::fs::canonicalize(data.join("runs")).unwrap_or_else(|_| data.join("runs"));
    let mark = format!("FLIGHTDECK_JOB_TOKEN={}/", runs.display());
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(env) = std::fs::read(e.path().join("environ")) else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue;
        }
        if env.split(|&b| b == 0).any(|v| v.starts_with(mark.as_bytes())) {
            found.push(pid);
        }
    }
    found
}

/// The pid of the data directory's supervisor, when one is running.
pub fn supervisor_pid(data: &Path) -> Option<u32> {
    let client = flightdeck::supervisor::Client::new(data, None);
    client.status_if_running().ok().flatten().map(|s| s.pid)
}

/// Waits until `cond` holds, or panics saying `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what} did not happen within {}s", limit.as_secs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the supervisor of `data` (cancelling what it still executes) and waits until it is gone.
pub fn stop_supervisor(data: &Path) {
    let client = flightdeck::supervisor::Client::new(data, None);
    let _ = client.stop_and_wait("the test is over", Duration::from_secs(30));
}

/// Stops the data directory's supervisor when the test ends, however it ends.
pub struct StopsSupervisor(pub std::path::PathBuf);

impl Drop for StopsSupervisor {
    fn drop(&mut self) {
        stop_supervisor(&self.0);
    }
}
