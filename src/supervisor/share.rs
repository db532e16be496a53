//! A supervisor shared by several accounts on one host (a jump host). Another account connects to
//! the shared socket and hands over its terminal (stdin, stdout, stderr, passed with SCM_RIGHTS);
//! the supervisor runs the command, or the cockpit, as a session of its own account on that
//! terminal. The session acts as the client's account, which it reads from the kernel (the peer
//! credentials of the connection it inherits), so the data directory stays private to its owner
//! and nobody can act as someone else.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::{PEER_FD_VAR, account_name};

/// The descriptor a session inherits its client's connection on.
const SESSION_PEER_FD: RawFd = 3;
/// The longest session request (arguments and a few variables).
const SESSION_REQUEST_LIMIT: usize = 64 * 1024;
/// Variables a client may pass to its session: how its terminal behaves, nothing that changes what
/// runs (no PATH, no LD_*, no flightdeck settings).
const PASSED_VARS: &[&str] =
    &["TERM", "COLORTERM", "NO_COLOR", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "COLUMNS", "LINES", "SSH_CONNECTION"];
/// Signals a client forwards to its session.
const FORWARDED_SIGNALS: &[i32] = &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGWINCH, libc::SIGQUIT];

/// Who may use the shared socket, and with which configuration sessions run.
#[derive(Clone, Debug)]
pub struct Share {
    pub socket: PathBuf,
    pub config: PathBuf,
    /// Accounts or `group:NAME`.
    pub with: Vec<String>,
    /// The configuration's `[groups]`.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// The first message of a session: what to run, with which terminal variables.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionRequest {
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

/// What the client sends while its session runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forward {
    pub signal: i32,
}

/// The last message of a session.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SessionEnd {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl Share {
    /// Whether an account may use the shared socket: the owner always, else the configured list.
    fn admits(&self, uid: u32, owner: u32) -> bool {
        if uid == owner {
            return true;
        }
        let account = account_name(uid);
        self.with.iter().any(|entry| crate::policy::matches_actor(entry, &account, &self.groups))
    }
}

/// Serves one connection to the shared socket, start to end (blocking: run on its own thread).
pub fn serve_session(share: &Share, data_dir: &std::path::Path, stream: UnixStream) {
    let end = match session(share, data_dir, &stream) {
        Ok(code) => SessionEnd { exit: Some(code), refused: None },
        Err(message) => {
            eprintln!("{} refused a session: {message}", jiff::Timestamp::now());
            SessionEnd { exit: None, refused: Some(message) }
        }
    };
    if let Ok(mut line) = serde_json::to_vec(&end) {
        line.push(b'\n');
        let _ = (&stream).write_all(&line);
    }
}

fn session(share: &Share, data_dir: &std::path::Path, stream: &UnixStream) -> Result<i32, String> {
    use nix::sys::socket::{getsockopt, sockopt};
    let cred = getsockopt(stream, sockopt::PeerCredentials).map_err(|e| format!("cannot tell who is asking: {e}"))?;
    let owner = nix::unistd::geteuid().as_raw();
    if !share.admits(cred.uid(), owner) {
        return Err(format!(
            "this supervisor is not shared with {}; ask {} to add the account to [supervisor] share_with",
            account_name(cred.uid()),
            account_name(owner)
        ));
    }
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let (request, fds) = receive_request(stream)?;
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    let [stdin, stdout, stderr]: [OwnedFd; 3] =
        fds.try_into().map_err(|_| "a session needs the client's stdin, stdout and stderr".to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the flightdeck executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--config").arg(&share.config).arg("--data-dir").arg(data_dir).args(&request.args);
    cmd.env_clear();
    for var in ["PATH", "HOME", "USER", "LOGNAME", "KUBECONFIG"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    for (k, v) in request.env.iter().filter(|(k, _)| PASSED_VARS.contains(&k.as_str())) {
        cmd.env(k, v);
    }
    cmd.env(PEER_FD_VAR, SESSION_PEER_FD.to_string());
    cmd.current_dir("/");
    cmd.stdin(Stdio::from(stdin)).stdout(Stdio::from(stdout)).stderr(Stdio::from(stderr));
    let connection = stream.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec: a new session (the client's
    // signals arrive as messages, and the supervisor's own never reach it), and the connection on
    // the descriptor the session reads its identity from.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setsid();
            let inherited = if connection == SESSION_PEER_FD {
                libc::fcntl(connection, libc::F_SETFD, 0)
            } else {
                libc::dup2(connection, SESSION_PEER_FD)
            };
            if inherited < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start the session: {e}"))?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    eprintln!(
        "{} session {pid} for {}: {}",
        jiff::Timestamp::now(),
        account_name(cred.uid()),
        // The command words only: values (workflow inputs, reasons) may hold what must not be kept.
        crate::logstore::sanitize::plain(
            &request.args.iter().take_while(|a| !a.starts_with('-')).map(String::as_str).collect::<Vec<_>>().join(" ")
        )
    );
    // The client's signals, until it goes away: then the session is hung up on, as a terminal would.
    let forwarding = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let mut lines = BufReader::new(forwarding);
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    if let Ok(f) = serde_json::from_str::<Forward>(&line)
                        && FORWARDED_SIGNALS.contains(&f.signal)
                        && let Ok(signal) = nix::sys::signal::Signal::try_from(f.signal)
                    {
                        let _ = nix::sys::signal::kill(pid, signal);
                    }
                }
                _ => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
                    return;
                }
            }
        }
    });
    let status = child.wait().map_err(|e| e.to_string())?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Reads the session request and the descriptors passed with it.
fn receive_request(stream: &UnixStream) -> Result<(SessionRequest, Vec<OwnedFd>), String> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut buf = vec![0u8; SESSION_REQUEST_LIMIT];
    let mut filled = 0;
    let mut fds = Vec::new();
    while !buf[..filled].contains(&b'\n') {
        if filled == buf.len() {
            return Err("the session request is too long".into());
        }
        let mut space = nix::cmsg_space!([RawFd; 3]);
        let (n, got) = {
            let mut iov = [IoSliceMut::new(&mut buf[filled..])];
            let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
                .map_err(|e| format!("cannot read the session request: {e}"))?;
            let mut got = Vec::new();
            for c in msg.cmsgs().map_err(|e| e.to_string())? {
                if let ControlMessageOwned::ScmRights(passed) = c {
                    got.extend(passed);
                }
            }
            (msg.bytes, got)
        };
        // SAFETY: the kernel just installed these descriptors in this process for us alone.
        fds.extend(got.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        if n == 0 {
            return Err("the client went away before asking".into());
        }
        filled += n;
    }
    let end = buf[..filled].iter().position(|b| *b == b'\n').unwrap_or(filled);
    let request = serde_json::from_slice(&buf[..end]).map_err(|e| format!("a session request that is not understood: {e}"))?;
    Ok((request, fds))
}

/// The client's side: hands this process's terminal to the shared supervisor at `socket`, runs
/// `args` there, forwards this process's signals, and returns the session's exit code.
pub fn attach(socket: &std::path::Path, args: Vec<String>) -> Result<i32, String> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let stream =
        UnixStream::connect(socket).map_err(|e| format!("cannot reach the shared flightdeck supervisor at {}: {e}", socket.display()))?;
    let env = PASSED_VARS.iter().filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?))).collect();
    let mut line = serde_json::to_vec(&SessionRequest { args, env }).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let fds = [0, 1, 2];
    let iov = [std::io::IoSlice::new(&line)];
    // A supervisor that turns the account away answers before reading: its answer says why.
    let sent = sendmsg::<()>(stream.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::MSG_NOSIGNAL, None);
    if sent.is_ok() {
        forward_signals(&stream)?;
    }
    let mut answer = String::new();
    let read = BufReader::new(&stream).read_line(&mut answer);
    if let (Err(e), true) = (sent, answer.is_empty()) {
        return Err(format!("cannot hand the terminal to the supervisor: {e}"));
    }
    read.map_err(|e| format!("the supervisor did not answer: {e}"))?;
    let end: SessionEnd = serde_json::from_str(&answer).map_err(|_| "the supervisor ended the session without an exit code".to_string())?;
    match (end.exit, end.refused) {
        (Some(code), _) => Ok(code),
        (None, Some(why)) => Err(format!("the shared supervisor refused: {}", crate::logstore::sanitize::plain(&why))),
        (None, None) => Err("the supervisor ended the session without an exit code".into()),
    }
}

/// Sends each forwarded signal this process receives to the session, from a thread of its own.
fn forward_signals(stream: &UnixStream) -> Result<(), String> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in FORWARDED_SIGNALS {
        if let Ok(sig) = Signal::try_from(*s) {
            set.add(sig);
        }
    }
    // Blocked here, before any other thread exists, so only the forwarding thread takes them.
    set.thread_block().map_err(|e| e.to_string())?;
    let mut out = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            let Ok(mut line) = serde_json::to_vec(&Forward { signal: sig as i32 }) else { return };
            line.push(b'\n');
            if out.write_all(&line).is_err() {
                return;
            }
        }
    });
    Ok(())
}
