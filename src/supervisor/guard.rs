//! The supervisor's guard: a second small process that outlives a supervisor killed outright
//! (`kill -9`, the OOM killer) just long enough to end the jobs it left behind. It waits for the
//! end of a pipe whose other end only the supervisor holds; the kernel closes it however the
//! supervisor dies.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};

/// Starts the guard of the supervisor that calls it.
pub(super) fn start(data_dir: &Path) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("supervise")
        .arg("--guard")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}

/// `flightdeck supervise --guard`: waits for its supervisor to go, then ends its orphans.
pub fn guard(data_dir: &Path) -> ExitCode {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    // Nothing is ever written: the read returns when the supervisor's end is closed.
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    match crate::ci::local::RunStore::open(data_dir) {
        Ok(store) => {
            let ended = crate::ci::local::reap::reap_orphans(&store);
            if ended > 0 {
                eprintln!("{} the supervisor died: ended {ended} job process(es) it left behind", jiff::Timestamp::now());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the supervisor's guard cannot open the run history: {e}");
            ExitCode::from(1)
        }
    }
}
