//! The supervisor's guard: a second small process that outlives a supervisor killed outright
//! (`kill -9`, the OOM killer) just long enough to end the jobs it left behind. It waits for the
//! end of a pipe whose other end only the supervisor holds; the kernel closes it however the
//! supervisor dies.

use std::io::Read;
use std::path::Path;
use std::process::{ExitCode, Stdio};

use tokio::process::{Child, Command};

/// Starts the guard of the supervisor that calls it.
pub(super) fn start(data_dir: &Path) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("supervise")
        .arg("--guard")
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}

/// `flightdeck supervise --guard PID`: waits for its supervisor to go, then ends its orphans.
/// The supervisor names itself rather than the guard asking for its parent: a supervisor killed
/// before its new guard first looks has already handed it to another parent, and the guard would
/// then wait for that one instead.
pub fn guard(data_dir: &Path, supervisor: i32) -> ExitCode {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    // Nothing is ever written: the read returns when the supervisor's end is closed.
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    // The kernel closes a dying process's files one by one: the runs' locks may not be released
    // yet. The guard is handed to another parent only once the supervisor is entirely gone, which
    // on a busy disk (a SIGKILL waits for an fsync to return) can take many seconds: reaping
    // before would take the dead supervisor's runs for live ones and leave their jobs.
    let started = std::time::Instant::now();
    // SAFETY: getppid has no failure mode and no memory effects.
    while unsafe { libc::getppid() } == supervisor && started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if started.elapsed() >= std::time::Duration::from_secs(120) {
        eprintln!(
            "{} the supervisor {supervisor} closed its end but is still not gone after 120s; ending what no one holds",
            jiff::Timestamp::now()
        );
    }
    match crate::ci::local::RunStore::open(data_dir) {
        Ok(store) => {
            let mut ended = crate::ci::local::reap::reap_orphans(&store);
            // A job the supervisor was starting as it died carries its run's mark only once it
            // executes, a moment later: look again for a little while.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(50));
                ended += crate::ci::local::reap::reap_orphans(&store);
            }
            // Said even when nothing was left: a drill that finds an orphan needs to know the
            // guard looked.
            eprintln!("{} the supervisor {supervisor} died: ended {ended} job process(es) it left behind", jiff::Timestamp::now());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the supervisor's guard cannot open the run history: {e}");
            ExitCode::from(1)
        }
    }
}
