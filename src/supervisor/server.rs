//! `flightdeck supervise`: the supervisor's side. One per data directory (a lock file says which),
//! reachable only by the account that owns the data directory (peer credentials), exiting when it
//! has had nothing to do for a moment.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::share::Share;
use super::{Files, Reply, Request, Status};
use crate::ci::RunEvent;
use crate::ci::local::LocalRunner;
use crate::config::{Config, Locations};
use crate::identity::account_name;
use crate::rollout::Controller;

/// How long it stays with nothing to do before it exits (a client about to ask finds it there).
const LINGER: Duration = Duration::from_secs(3);
/// Requests are one short line.
const REQUEST_LIMIT: usize = 64 * 1024;

/// What one configuration file needs executed: its runs, and its canaries.
struct Workspace {
    runner: LocalRunner,
    controller: Controller,
    /// Set while its canaries are kept moving; cancelled when none is under way any more.
    keeping: Option<CancellationToken>,
    /// The canaries under way at the last look.
    moving: Vec<String>,
}

struct Shared {
    data_dir: PathBuf,
    workspaces: Mutex<HashMap<Option<PathBuf>, Workspace>>,
    /// Requests being answered now: the supervisor is not idle while there are any.
    in_flight: std::sync::atomic::AtomicUsize,
    started: jiff::Timestamp,
    stop: CancellationToken,
    /// Delivers the journal's notifications, once a configuration with sinks has been seen.
    notifier: Mutex<Option<Notifying>>,
}

struct Notifying {
    notifier: Arc<crate::notify::Notifier>,
    poke: Arc<tokio::sync::Notify>,
}

/// Serves the data directory until nothing needs it; shared, until it is stopped.
pub async fn serve(data_dir: PathBuf, share: Option<Share>) -> anyhow::Result<ExitCode> {
    let files = Files::of(&data_dir);
    let Some(_lock) = take_lock(&files).await? else {
        if share.is_some() {
            bail!("a supervisor already serves {}; stop it first (flightdeck supervisor stop --reason TEXT)", data_dir.display());
        }
        // Another supervisor answers for this data directory.
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!("{} supervisor {} started for {}", jiff::Timestamp::now(), std::process::id(), data_dir.display());
    let store = crate::ci::local::RunStore::open(&data_dir)?;
    let reaped = crate::ci::local::reap::reap_orphans(&store);
    if reaped > 0 {
        eprintln!("ended {reaped} job process(es) left behind by a supervisor that died");
    }
    // Ends this supervisor's jobs if it is killed outright; lives as long as we do.
    let mut guard = super::guard::start(&data_dir).context("cannot start the supervisor's guard")?;
    // Our end of its pipe, held apart from the child: waiting for a child closes its stdin.
    let mut _guard_pipe = guard.stdin.take();
    let _ = std::fs::remove_file(&files.socket);
    let listener = UnixListener::bind(&files.socket).with_context(|| format!("cannot listen on {}", files.socket.display()))?;
    let shared_listener = match &share {
        Some(s) => Some(listen_shared(s)?),
        None => None,
    };
    let shared = Arc::new(Shared {
        data_dir: data_dir.clone(),
        workspaces: Mutex::new(HashMap::new()),
        in_flight: Default::default(),
        started: jiff::Timestamp::now(),
        stop: CancellationToken::new(),
        notifier: Mutex::new(None),
    });
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    // A terminal it never had cannot hang up on it; ignore the signal all the same.
    let mut _hangup = signal(SignalKind::hangup())?;
    let mut idle_since = Instant::now();
    let mut look = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    shared.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let s = shared.clone();
                    tokio::spawn(async move {
                        answer(&s, stream).await;
                        s.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
            }
            conn = accept_shared(shared_listener.as_ref()) => {
                if let (Ok(stream), Some(share)) = (conn, share.clone()) {
                    let data_dir = data_dir.clone();
                    std::thread::spawn(move || super::share::serve_session(&share, &data_dir, stream));
                }
            }
            _ = guard.wait() => {
                eprintln!("{} the guard was gone; starting another", jiff::Timestamp::now());
                guard = super::guard::start(&data_dir).context("cannot restart the supervisor's guard")?;
                _guard_pipe = guard.stdin.take();
            }
            _ = look.tick() => {
                // A guard that is gone without its exit being heard is started again all the same:
                // a supervisor without one would leave its jobs behind if killed outright.
                if !matches!(guard.try_wait(), Ok(None)) {
                    eprintln!("{} the guard is not there; starting another", jiff::Timestamp::now());
                    guard = super::guard::start(&data_dir).context("cannot restart the supervisor's guard")?;
                    _guard_pipe = guard.stdin.take();
                }
                if !files.lock.exists() {
                    // Its data directory was deleted: nothing it does could be recorded any more.
                    stop_everything(&shared, "its data directory was deleted");
                    break;
                }
                if share.is_some() || !idle(&shared) {
                    idle_since = Instant::now();
                } else if idle_since.elapsed() >= LINGER {
                    break;
                }
            }
            _ = shared.stop.cancelled() => break,
            _ = terminate.recv() => { stop_everything(&shared, "the supervisor received SIGTERM"); break; }
            _ = interrupt.recv() => { stop_everything(&shared, "the supervisor received SIGINT"); break; }
        }
    }
    // New clients start a new supervisor, which waits for our lock: nothing is accepted from here.
    let _ = std::fs::remove_file(&files.socket);
    if let Some(s) = &share {
        let _ = std::fs::remove_file(&s.socket);
    }
    drop(listener);
    wait_for_runs(&shared).await;
    eprintln!("{} supervisor {} exits: nothing left to do", jiff::Timestamp::now(), std::process::id());
    Ok(ExitCode::SUCCESS)
}

/// The shared socket: anyone may connect, and each connection is admitted by its peer credentials.
fn listen_shared(share: &Share) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(&share.socket);
    let listener = UnixListener::bind(&share.socket).with_context(|| format!("cannot listen on {}", share.socket.display()))?;
    std::fs::set_permissions(&share.socket, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("cannot open {} to the accounts it is shared with", share.socket.display()))?;
    eprintln!("{} shared on {} with {}", jiff::Timestamp::now(), share.socket.display(), share.with.join(", "));
    Ok(listener)
}

/// The next connection to the shared socket, as a blocking stream (a session is served on a thread
/// of its own); never, when not shared.
async fn accept_shared(listener: Option<&UnixListener>) -> std::io::Result<std::os::unix::net::UnixStream> {
    let Some(l) = listener else { return std::future::pending().await };
    let (stream, _) = l.accept().await?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The supervisor's lock, waiting while a previous supervisor finishes exiting; None when another
/// one is serving.
async fn take_lock(files: &Files) -> anyhow::Result<Option<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&files.lock)
        .with_context(|| format!("cannot open {}", files.lock.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(file));
        }
        if std::os::unix::net::UnixStream::connect(&files.socket).is_ok() {
            return Ok(None);
        }
        if Instant::now() > deadline {
            bail!("another supervisor holds {} but does not answer on {}", files.lock.display(), files.socket.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Nothing executing, nothing to keep moving, nobody asking.
fn idle(shared: &Shared) -> bool {
    if shared.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        return false;
    }
    let settled = shared.notifier.lock().map(|n| n.as_ref().is_none_or(|n| n.notifier.settled())).unwrap_or(false);
    let Ok(ws) = shared.workspaces.lock() else { return false };
    settled && ws.values().all(|w| w.runner.active_count() == 0 && w.keeping.is_none())
}

async fn wait_for_runs(shared: &Shared) {
    let runners: Vec<LocalRunner> = shared.workspaces.lock().map(|ws| ws.values().map(|w| w.runner.clone()).collect()).unwrap_or_default();
    for r in runners {
        r.wait_idle(Duration::from_secs(3600)).await;
    }
}

/// Cancels every run and stops every keeper (an explicit stop, or a signal from the system).
fn stop_everything(shared: &Shared, why: &str) {
    eprintln!("{} stopping: {why}", jiff::Timestamp::now());
    if let Ok(mut ws) = shared.workspaces.lock() {
        for w in ws.values_mut() {
            w.runner.cancel_all_journaled(why);
            if let Some(k) = w.keeping.take() {
                k.cancel();
            }
        }
    }
}

async fn answer(shared: &Arc<Shared>, stream: UnixStream) {
    let peer = stream.peer_cred();
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(REQUEST_LIMIT as u64));
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_until(b'\n', &mut line)).await;
    let reply = match (peer, read) {
        (Err(e), _) => refuse(format!("cannot tell who is asking: {e}")),
        (_, Err(_)) | (_, Ok(Err(_))) => refuse("the request did not arrive in time".into()),
        (Ok(cred), Ok(Ok(_))) => {
            // SAFETY: geteuid has no failure mode and no memory effects.
            let me = unsafe { libc::geteuid() };
            if cred.uid() != me {
                refuse(format!(
                    "this supervisor belongs to {}; {} may not use it (its data directory is private to its owner)",
                    account_name(me),
                    account_name(cred.uid())
                ))
            } else {
                match serde_json::from_slice::<Request>(&line) {
                    Ok(request) => handle(shared, request, cred.pid()).await,
                    Err(e) => refuse(format!("a request that is not understood: {e}")),
                }
            }
        }
    };
    let mut out = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"ok\":false,\"message\":\"internal error\"}".to_vec());
    out.push(b'\n');
    let _ = write.write_all(&out).await;
}

fn refuse(message: String) -> Reply {
    Reply { ok: false, message, status: None }
}

fn ok(message: String) -> Reply {
    Reply { ok: true, message, status: None }
}

async fn handle(shared: &Arc<Shared>, request: Request, peer: Option<i32>) -> Reply {
    let from = peer.map(|p| format!("pid {p}")).unwrap_or_else(|| "a client".into());
    match request {
        Request::Status => Reply { ok: true, message: "running".into(), status: Some(status(shared)) },
        Request::Stop { reason } => {
            eprintln!("{} {from} asked to stop: {}", jiff::Timestamp::now(), crate::logstore::sanitize::plain(&reason));
            stop_everything(shared, &format!("the supervisor was stopped: {reason}"));
            shared.stop.cancel();
            ok("stopping".into())
        }
        Request::Execute { config, run, env } => {
            let runner = match workspace(shared, &config) {
                Ok(r) => r,
                Err(e) => return refuse(e),
            };
            match runner.execute_requested(&run, env).await {
                Ok(()) => {
                    eprintln!("{} executing run #{run} for {from}", jiff::Timestamp::now());
                    ok(format!("run #{run} is executing"))
                }
                Err(e) => refuse(e.to_string()),
            }
        }
        Request::Notify { config } => match workspace(shared, &config) {
            Ok(_) => match shared.notifier.lock().ok().as_ref().and_then(|n| n.as_ref().map(|n| n.poke.clone())) {
                Some(poke) => {
                    poke.notify_one();
                    ok("notifying".into())
                }
                None => refuse("no notification sink is configured".into()),
            },
            Err(e) => refuse(e),
        },
        Request::KeepMoving { config } => match workspace(shared, &config) {
            Ok(_) => {
                keep_moving(shared, &config);
                ok("the canaries under way are kept moving".into())
            }
            Err(e) => refuse(e),
        },
    }
}

fn status(shared: &Shared) -> Status {
    let mut s = Status {
        pid: std::process::id(),
        // SAFETY: geteuid has no failure mode and no memory effects.
        account: account_name(unsafe { libc::geteuid() }),
        started: shared.started.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ..Default::default()
    };
    if let Ok(ws) = shared.workspaces.lock() {
        for w in ws.values() {
            s.runs.extend(w.runner.active_runs().iter().map(|r| r.text()));
            s.rollouts.extend(w.moving.iter().map(|n| format!("nginx:{n}")));
        }
    }
    s.runs.sort();
    s.rollouts.sort();
    s
}

/// The runner for a configuration file, loading it the first time it is asked for.
fn workspace(shared: &Arc<Shared>, config: &Option<PathBuf>) -> Result<LocalRunner, String> {
    let mut ws = shared.workspaces.lock().map_err(|_| "internal state poisoned".to_string())?;
    if let Some(w) = ws.get(config) {
        return Ok(w.runner.clone());
    }
    let loc = Locations { config_file: config.clone(), config_dir: Locations::discover(None).config_dir };
    let cfg = Arc::new(Config::load(&loc).map_err(|e| format!("{e:#}"))?);
    // The journal this supervisor writes is witnessed as its first client's configuration says.
    crate::audit::witness::configure(cfg.audit.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(log_problems(rx));
    let runner = LocalRunner::new(cfg.clone(), &shared.data_dir, tx).map_err(|e| e.to_string())?;
    let journal = crate::audit::Journal::in_data_dir(&shared.data_dir);
    let controller = Controller::new(cfg.rollouts.clone(), &shared.data_dir, cfg.canary_services(), Some(journal));
    ws.insert(config.clone(), Workspace { runner: runner.clone(), controller, keeping: None, moving: Vec::new() });
    start_notifier(shared, &cfg);
    Ok(runner)
}

/// Starts delivering notifications with the first configuration that has sinks (one notifier per
/// data directory: it reads one journal).
fn start_notifier(shared: &Arc<Shared>, cfg: &Arc<Config>) {
    if cfg.notify.is_empty() {
        return;
    }
    let Ok(mut slot) = shared.notifier.lock() else { return };
    if slot.is_some() {
        return;
    }
    match crate::notify::Notifier::new(cfg.clone(), &shared.data_dir) {
        Ok(n) => {
            let notifier = Arc::new(n);
            let poke = Arc::new(tokio::sync::Notify::new());
            tokio::spawn(notifier.clone().run(shared.stop.clone(), poke.clone()));
            *slot = Some(Notifying { notifier, poke });
        }
        Err(e) => eprintln!("{} notifications cannot start: {}", jiff::Timestamp::now(), crate::logstore::sanitize::plain(&e)),
    }
}

/// Problems of runs executing here go to the supervisor's log.
async fn log_problems(mut rx: tokio::sync::mpsc::UnboundedReceiver<RunEvent>) {
    while let Some(ev) = rx.recv().await {
        if let RunEvent::Problem { run, message } = ev {
            let run = run.map(|r| format!("run #{r}: ")).unwrap_or_default();
            eprintln!("{} {run}{}", jiff::Timestamp::now(), crate::logstore::sanitize::plain(&message));
        }
    }
}

/// Moves the configuration's canaries on every tick until none is under way.
fn keep_moving(shared: &Arc<Shared>, config: &Option<PathBuf>) {
    let Ok(mut ws) = shared.workspaces.lock() else { return };
    let Some(w) = ws.get_mut(config) else { return };
    if w.keeping.is_some() {
        return;
    }
    let stop = CancellationToken::new();
    w.keeping = Some(stop.clone());
    let controller = w.controller.clone();
    let (shared, config) = (shared.clone(), config.clone());
    tokio::spawn(async move {
        loop {
            let before = shared.workspaces.lock().ok().and_then(|ws| Some(ws.get(&config)?.moving.clone())).unwrap_or_default();
            let mut moving = Vec::new();
            for name in controller.names() {
                match controller.tick(&name).await {
                    Ok(rec) if rec.moving() => moving.push(name),
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("{} canary {name}: {}", jiff::Timestamp::now(), crate::logstore::sanitize::plain(&e.to_string()));
                        // A canary that was under way may still be serving traffic: keep looking.
                        if before.contains(&name) {
                            moving.push(name);
                        }
                    }
                }
            }
            let done = moving.is_empty();
            if let Ok(mut ws) = shared.workspaces.lock()
                && let Some(w) = ws.get_mut(&config)
            {
                w.moving = moving;
                if done {
                    w.keeping = None;
                }
            }
            if done {
                return;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(crate::rollout::controller::TICK) => {}
            }
        }
    });
}
