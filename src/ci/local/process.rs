//! Runs one job's command in its own process group and captures its output line by line. Cancel
//! and timeout end the whole group, grandchildren included; whatever the command left running in
//! the background is ended when it exits.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use crate::logstore::{RawLine, Stream};
use crate::util::now_ms;

/// Lines longer than this are split so one runaway line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct JobSpec {
    pub command: String,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Variables of flightdeck's own environment the job must not inherit (its credentials).
    pub withheld: Vec<String>,
    /// The environment to start from instead of this process's (the requester's).
    pub base_env: Option<std::sync::Arc<Vec<(String, String)>>>,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    Cancelled,
    SpawnFailed(String),
}

pub async fn run(spec: &JobSpec, lines: Sender<RawLine>, cancel: CancellationToken) -> Outcome {
    let mut cmd = Command::new("/bin/sh");
    if let Some(base) = &spec.base_env {
        cmd.env_clear().envs(base.iter().map(|(k, v)| (k, v)));
    }
    cmd.arg("-c")
        .arg(&spec.command)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A stage that names one of them in its own `env` gets it: that is the user's choice.
    for var in spec.withheld.iter().filter(|v| !spec.env.iter().any(|(k, _)| k == *v)) {
        cmd.env_remove(var);
    }
    let mask = crate::paths::job_umask() as libc::mode_t;
    // SAFETY: umask is async-signal-safe; it gives the job the user's own file-creation mask.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask);
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome::SpawnFailed(format!("cannot start `/bin/sh` in {}: {e}", spec.cwd.display()));
        }
    };
    let Some(pgid) = child.id().map(|p| p as i32) else {
        return Outcome::SpawnFailed("the job's process vanished before it could be tracked".into());
    };
    let _registered = Registered::new(pgid);
    let mut readers = tokio::task::JoinSet::new();
    if let Some(out) = child.stdout.take() {
        readers.spawn(read_lines(out, Stream::Out, lines.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.spawn(read_lines(err, Stream::Err, lines.clone()));
    }

    let timeout = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(sig)) => Outcome::Signalled(sig),
                _ => Outcome::Exited(-1),
            },
            Err(e) => Outcome::SpawnFailed(format!("lost track of the job's process: {e}")),
        },
        _ = timeout => {
            terminate(pgid, &mut child, spec.kill_grace).await;
            Outcome::TimedOut
        }
        _ = cancel.cancelled() => {
            terminate(pgid, &mut child, spec.kill_grace).await;
            Outcome::Cancelled
        }
    };

    // Background processes the command left behind still hold the pipes; end them so the job
    // really ends (and no orphans survive it).
    let drained = tokio::time::timeout(Duration::from_millis(200), wait_all(&mut readers)).await.is_ok();
    if !drained || group_alive(pgid) {
        signal_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(spec.kill_grace, wait_all(&mut readers)).await.is_err() || group_alive(pgid) {
            signal_group(pgid, libc::SIGKILL);
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), wait_all(&mut readers)).await;
    }
    readers.abort_all();
    outcome
}

async fn wait_all(readers: &mut tokio::task::JoinSet<()>) {
    while readers.join_next().await.is_some() {}
}

/// SIGTERM to the group, then SIGKILL if it is still there after the grace period.
async fn terminate(pgid: i32, child: &mut Child, grace: Duration) {
    signal_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    // The leader may be gone while members ignored SIGTERM.
    if group_alive(pgid) {
        tokio::time::sleep(Duration::from_millis(50).min(grace)).await;
        if group_alive(pgid) {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// Process groups of running jobs, so an abnormal exit (panic, signal) can still end them all.
static LIVE_GROUPS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

struct Registered(i32);

impl Registered {
    fn new(pgid: i32) -> Registered {
        if let Ok(mut g) = LIVE_GROUPS.lock() {
            g.push(pgid);
        }
        Registered(pgid)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut g) = LIVE_GROUPS.lock() {
            g.retain(|p| *p != self.0);
        }
    }
}

/// Ends every job process group this process started (last resort on panic or fatal signal).
pub fn end_all_jobs() {
    let groups = match LIVE_GROUPS.try_lock() {
        Ok(g) => g.clone(),
        Err(_) => return,
    };
    for pgid in groups {
        signal_group(pgid, libc::SIGKILL);
    }
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: killpg only sends a signal; a group that is already gone yields ESRCH, which is fine.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Whether any process of the group still exists.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 performs only the existence and permission check.
    unsafe { libc::killpg(pgid, 0) == 0 }
}

async fn read_lines<R: AsyncRead + Unpin>(reader: R, stream: Stream, tx: Sender<RawLine>) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                (i + 1, true)
            }
            None => {
                let room = MAX_LINE_BYTES - line.len();
                let take = buf.len().min(room);
                line.extend_from_slice(&buf[..take]);
                (take, line.len() >= MAX_LINE_BYTES)
            }
        };
        reader.consume(used);
        if complete {
            let bytes = std::mem::take(&mut line);
            if tx.send(RawLine { ts_ms: now_ms(), stream, bytes }).await.is_err() {
                return;
            }
        }
    }
    if !line.is_empty() {
        let _ = tx.send(RawLine { ts_ms: now_ms(), stream, bytes: line }).await;
    }
}
