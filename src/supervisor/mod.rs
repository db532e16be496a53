//! The supervisor: one small process per data directory that executes local runs and keeps NGINX
//! canaries moving and judged, so that nothing depends on a cockpit or a terminal staying open.
//! The cockpit and the command line are its clients: they ask over a Unix socket, then follow the
//! run's files. It starts on demand, outlives its clients, and exits when no run or canary needs
//! it. It takes each caller's identity from the kernel (peer credentials), never from the request.

mod guard;
mod server;
pub mod share;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ci::CiError;
use crate::domain::RunRef;
pub use guard::guard;
pub use server::serve;
pub use share::Share;

/// How long a client waits for a supervisor it started to answer.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How long a client waits for an answer to one request.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);

/// A request from a client, one JSON line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Execute a queued run, created (and journaled) by the client, with this configuration; its
    /// jobs start from the client's environment.
    Execute {
        config: Option<PathBuf>,
        run: RunRef,
        #[serde(default)]
        env: Vec<(String, String)>,
    },
    /// Keep the configuration's NGINX canaries moving until none is under way.
    KeepMoving { config: Option<PathBuf> },
    /// The journal grew: deliver the notifications it holds (with this configuration's sinks).
    Notify { config: Option<PathBuf> },
    /// What the supervisor is doing.
    Status,
    /// Stop now, cancelling the runs it executes: already checked against the policy and
    /// journaled by the client; the supervisor journals the cancellations it makes.
    Stop { reason: String },
}

/// The answer to a request, one JSON line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub pid: u32,
    /// The operating-system account it runs as.
    pub account: String,
    pub started: String,
    /// Runs it executes now.
    pub runs: Vec<String>,
    /// Canaries it keeps moving now.
    pub rollouts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the supervisor's socket path {0} is too long for a Unix socket (over 107 bytes); use a shorter --data-dir")]
    PathTooLong(PathBuf),
    #[error("cannot start the flightdeck supervisor: {0}")]
    Start(String),
    #[error("the flightdeck supervisor did not answer: {0} (its log: {1})")]
    NoAnswer(String, PathBuf),
    #[error("the flightdeck supervisor refused: {0}")]
    Refused(String),
}

/// Tells the data directory's supervisor that the journal grew, starting it when notifications
/// are configured and none is running; does nothing when none are configured.
pub fn poke_notifier(config: &crate::config::Config, data_dir: &Path) {
    if config.notify.is_empty() {
        return;
    }
    let client = Client::new(data_dir, config.path.as_deref());
    if let Err(e) = client.call(&Request::Notify { config: config.path.clone() }) {
        tracing::warn!("the supervisor was not told to notify: {e}");
    }
}

/// The files of a data directory's supervisor.
pub struct Files {
    pub socket: PathBuf,
    pub lock: PathBuf,
    pub log: PathBuf,
}

impl Files {
    pub fn of(data_dir: &Path) -> Files {
        Files { socket: data_dir.join("supervisor.sock"), lock: data_dir.join("supervisor.lock"), log: data_dir.join("supervisor.log") }
    }
}

/// A client of the data directory's supervisor, starting it when it is not there.
#[derive(Clone, Debug)]
pub struct Client {
    data_dir: PathBuf,
    /// The configuration file the client uses: the supervisor executes with the same one.
    config: Option<PathBuf>,
    /// The flightdeck executable that serves as the supervisor (None: this one).
    program: Option<PathBuf>,
}

impl Client {
    pub fn new(data_dir: &Path, config: Option<&Path>) -> Client {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        Client { data_dir: canonical(data_dir), config: config.map(canonical), program: None }
    }

    /// Starts `program` as the supervisor, for a program that embeds flightdeck's library.
    pub fn with_program(mut self, program: &Path) -> Client {
        self.program = Some(program.to_path_buf());
        self
    }

    /// Sends one request to the running supervisor, starting one first if none answers.
    pub fn call(&self, request: &Request) -> Result<Reply, SupervisorError> {
        let files = Files::of(&self.data_dir);
        if files.socket.as_os_str().len() > 107 {
            return Err(SupervisorError::PathTooLong(files.socket));
        }
        // A supervisor that was exiting as we connected (idle, or stopped) closes without reading
        // the request: nothing was done, so ask again, which starts another one.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let stream = match UnixStream::connect(&files.socket) {
                Ok(s) => s,
                Err(_) => self.start_and_connect(&files)?,
            };
            match exchange(stream, request) {
                Ok(reply) => return Ok(reply),
                Err(Unanswered::Closed(_)) if attempts < 3 => std::thread::sleep(Duration::from_millis(50)),
                Err(Unanswered::Closed(e) | Unanswered::Other(e)) => return Err(SupervisorError::NoAnswer(e, files.log.clone())),
            }
        }
    }

    /// Asks the supervisor, without starting one, what it is doing (None: none is running).
    pub fn status_if_running(&self) -> Result<Option<Status>, SupervisorError> {
        let files = Files::of(&self.data_dir);
        let Ok(stream) = UnixStream::connect(&files.socket) else {
            return Ok(None);
        };
        let reply = exchange(stream, &Request::Status).map_err(|e| SupervisorError::NoAnswer(e.to_string(), files.log.clone()))?;
        Ok(reply.status)
    }

    /// Asks a running supervisor to stop; false when none was running.
    pub fn stop(&self, reason: &str) -> Result<bool, SupervisorError> {
        let files = Files::of(&self.data_dir);
        let Ok(stream) = UnixStream::connect(&files.socket) else {
            return Ok(false);
        };
        let reply = exchange(stream, &Request::Stop { reason: reason.to_string() })
            .map_err(|e| SupervisorError::NoAnswer(e.to_string(), files.log.clone()))?;
        if reply.ok { Ok(true) } else { Err(SupervisorError::Refused(reply.message)) }
    }

    /// Asks a running supervisor to stop, and waits (bounded) until it has: its runs cancelled and
    /// recorded. False when none was running.
    pub fn stop_and_wait(&self, reason: &str, limit: Duration) -> Result<bool, SupervisorError> {
        if !self.stop(reason)? {
            return Ok(false);
        }
        let files = Files::of(&self.data_dir);
        let started = Instant::now();
        while started.elapsed() < limit {
            if !held(&files.lock) {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(SupervisorError::NoAnswer(format!("it was still stopping after {}s", limit.as_secs()), files.log))
    }

    fn start_and_connect(&self, files: &Files) -> Result<UnixStream, SupervisorError> {
        let program = match &self.program {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| SupervisorError::Start(format!("cannot find the flightdeck executable: {e}")))?,
        };
        let mut child = spawn(&program, &self.data_dir, files)?;
        let started = Instant::now();
        loop {
            if let Ok(s) = UnixStream::connect(&files.socket) {
                // A daemon in its own session, but still our child: reaped when it exits, so a long
                // cockpit session collects no zombies.
                std::thread::spawn(move || child.wait());
                return Ok(s);
            }
            // Another client's supervisor may have won the start; this one then exits at once.
            if let Ok(Some(status)) = child.try_wait()
                && !status.success()
            {
                return Err(SupervisorError::Start(format!("it exited with {status}; see {}", files.log.display())));
            }
            if started.elapsed() > START_LIMIT {
                return Err(SupervisorError::Start(format!(
                    "it did not open {} within {}s; see {}",
                    files.socket.display(),
                    START_LIMIT.as_secs(),
                    files.log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `flightdeck supervise` in its own session, detached from any terminal, with the user's
/// own file-creation mask (it makes its files private itself, and gives jobs the user's mask).
fn spawn(exe: &Path, data_dir: &Path, files: &Files) -> Result<std::process::Child, SupervisorError> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .map_err(|e| SupervisorError::Start(format!("cannot open its log {}: {e}", files.log.display())))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--data-dir").arg(data_dir).arg("supervise");
    // Started from inside a job, it must not carry the job's mark: it is nobody's orphan.
    cmd.env_remove(crate::ci::local::reap::TOKEN_VAR);
    cmd.current_dir("/");
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(log);
    let mask = crate::paths::job_umask() as libc::mode_t;
    // SAFETY: setsid and umask are async-signal-safe; the supervisor leaves the caller's session
    // (no SIGHUP when the terminal goes) and starts with the user's own mask.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::umask(mask);
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| SupervisorError::Start(e.to_string()))
}

/// Whether a supervisor holds the lock file (a supervisor that is gone holds nothing).
fn held(lock: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::OpenOptions::new().read(true).open(lock) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own; taking the lock proves nobody holds it, and closing the
    // file releases it at once.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

/// One request, one answer.
fn exchange(mut stream: UnixStream, request: &Request) -> Result<Reply, Unanswered> {
    stream.set_read_timeout(Some(ANSWER_LIMIT)).map_err(|e| Unanswered::Other(e.to_string()))?;
    let mut line = serde_json::to_vec(request).map_err(|e| Unanswered::Other(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|e| Unanswered::Closed(format!("cannot send the request: {e}")))?;
    let mut answer = String::new();
    match BufReader::new(stream).read_line(&mut answer) {
        Ok(0) => return Err(Unanswered::Closed("it closed the connection without answering".into())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            return Err(Unanswered::Closed(format!("it closed the connection without answering: {e}")));
        }
        Err(e) => return Err(Unanswered::Other(format!("no answer: {e}"))),
    }
    serde_json::from_str(&answer).map_err(|e| Unanswered::Other(format!("an answer that is not understood: {e}")))
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    /// The connection closed before any answer: the supervisor went away (and, if it was exiting,
    /// never read the request).
    #[error("{0}")]
    Closed(String),
    #[error("{0}")]
    Other(String),
}

impl crate::ci::local::Dispatch for Client {
    fn execute(&self, run: &RunRef) -> Result<(), CiError> {
        let reply = self
            .call(&Request::Execute { config: self.config.clone(), run: run.clone(), env: requester_env() })
            .map_err(|e| CiError::Other(e.to_string()))?;
        if reply.ok { Ok(()) } else { Err(CiError::Other(reply.message)) }
    }
}

impl crate::rollout::Keeper for Client {
    fn keep_moving(&self) -> Result<(), String> {
        let reply = self.call(&Request::KeepMoving { config: self.config.clone() }).map_err(|e| e.to_string())?;
        if reply.ok { Ok(()) } else { Err(reply.message) }
    }
}

/// This process's environment, as a job started from this shell would see it (without a job's
/// mark, which would make the run's jobs look like another run's).
fn requester_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k != crate::ci::local::reap::TOKEN_VAR)
        .collect()
}
