//! The supervisor under what users do to it: kill -9 of clients and of the supervisor at random
//! moments, a run record nobody journaled, and a canary left under way with no cockpit open.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::supervision::{StopsSupervisor, job_processes, supervisor_pid, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

fn flightdeck(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(dir.join("flightdeck.toml")).arg("--data-dir").arg(dir.join("data")).args(args).env("NO_COLOR", "1");
    c
}

/// A small deterministic generator: the moments of the kills, reproducible from the printed seed.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn kill9(pid: i32) {
    // SAFETY: SIGKILL to a child of this test it has not reaped yet (its pid cannot be reused).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// SIGKILL to the flightdeck process `pid` of this data directory, if that is still what `pid` is:
/// the pid is pinned with a pidfd before its command line is read, so a pid reused meanwhile (the
/// machine's pid_max may be 32768, and the suite starts thousands of processes) is not signalled.
/// Returns the pidfd, to wait until the process is gone.
fn kill9_ours(pid: i32, data: &Path) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor, owned from here on.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if raw < 0 {
        return None;
    }
    // SAFETY: a descriptor the kernel just gave us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let data = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
    let ours = String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(&format!("--data-dir {} supervise", data.display()));
    // SAFETY: signals the pinned process; no memory is passed.
    let sent = ours && unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), libc::SIGKILL, 0usize, 0u32) } == 0;
    sent.then_some(pidfd)
}

/// Waits until the process a pidfd pins has ended (a SIGKILL takes effect only when the process
/// leaves the kernel: one in an fsync on a busy disk dies seconds later); how long that took.
fn gone(pidfd: &std::os::fd::OwnedFd) -> Duration {
    use std::os::fd::AsRawFd;
    let start = Instant::now();
    let mut p = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: polls one descriptor we own; a pidfd becomes readable when its process ends.
    unsafe { libc::poll(&mut p, 1, 120_000) };
    start.elapsed()
}

fn reap(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// 200 kill -9 at random moments: of a `run --follow` client, of the supervisor, or of its guard.
/// A job process is an orphan when it is still alive once its supervisor is gone and the guard had
/// its chance; the drill counts them, and there must be none.
#[test]
fn two_hundred_kills_at_random_moments_leave_no_orphan() {
    let dir = tempfile::tempdir().unwrap();
    // Each job leaves children behind, one of them in a session of its own (as daemons do).
    std::fs::write(
        dir.path().join("flightdeck.toml"),
        "[runner]\nmax_parallel_jobs = 64\n[[pipelines.drill.stages]]\nname = \"job\"\n\
         run = \"sh -c 'sleep 600' & setsid sleep 601 & echo started; sleep 602\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let _stops = StopsSupervisor(data.clone());
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut moments = Moments(seed);
    let (mut clients, mut supervisors, mut guards, mut orphans) = (0, 0, 0, 0);
    for round in 0..200 {
        let said = dir.path().join(format!("client-{round}.err"));
        let mut client = flightdeck(dir.path(), &["run", "drill", "--follow", "--yes"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&said).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(moments.next(250)));
        let target = moments.next(3);
        let victim = match target {
            1 => supervisor_pid(&data).map(|p| p as i32),
            2 => supervisor_pid(&data).and_then(|p| guard_of(p as i32)),
            _ => None,
        };
        match (target, victim) {
            (1, Some(pid)) if let Some(pinned) = kill9_ours(pid, &data) => {
                supervisors += 1;
                // Once it is gone, the guard ends what the supervisor executed. (The client may
                // meanwhile have started another supervisor: its runs are not orphans.)
                let dying = gone(&pinned);
                orphans += orphans_after(&data, REAPED_WITHIN, dying);
            }
            (2, Some(pid)) if kill9_ours(pid, &data).is_some() => {
                guards += 1;
                // The run goes on (the supervisor starts another guard): stop following it.
                kill9(client.id() as i32);
                clients += 1;
            }
            _ => {
                kill9(client.id() as i32);
                clients += 1;
            }
        }
        // A follower whose supervisor died finds out and says the run was interrupted; one whose
        // run goes on in a supervisor started meanwhile is stopped here.
        if target == 1 && !reap(&mut client, Duration::from_secs(3)) && job_processes(&data).len() > orphans_now(&data) {
            kill9(client.id() as i32);
            clients += 1;
        }
        let hanging = !reap(&mut client, Duration::from_secs(15));
        if hanging {
            let _ = client.kill();
            let _ = client.wait();
        }
        assert!(
            !hanging,
            "round {round}: a client was left hanging after a kill of {}: {}\nsupervisor: {}",
            ["the client", "the supervisor", "the guard"][target as usize],
            std::fs::read_to_string(&said).unwrap_or_default(),
            {
                let log = std::fs::read_to_string(data.join("supervisor.log")).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let holders: Vec<String> = std::fs::read_dir("/proc")
                    .unwrap()
                    .flatten()
                    .filter_map(|e| {
                        let fds = std::fs::read_dir(e.path().join("fd")).ok()?;
                        let holds =
                            fds.flatten().any(|f| std::fs::read_link(f.path()).is_ok_and(|l| l.to_string_lossy().contains("owner.lock")));
                        holds.then(|| {
                            String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default()).replace('\0', " ")
                        })
                    })
                    .collect();
                format!("{}\nlock holders: {holders:?}", lines[lines.len().saturating_sub(12)..].join("\n"))
            }
        );
    }
    // The end: the last supervisor is killed outright too, and then nothing may be left at all.
    let mut dying = Duration::ZERO;
    if let Some(pid) = supervisor_pid(&data)
        && let Some(pinned) = kill9_ours(pid as i32, &data)
    {
        supervisors += 1;
        dying = gone(&pinned);
    }
    orphans += orphans_after(&data, REAPED_WITHIN, dying);
    let start = Instant::now();
    while !job_processes(&data).is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(job_processes(&data), Vec::<i32>::new(), "no job process is left once every supervisor is gone");
    let kills = clients + supervisors + guards;
    eprintln!("{kills} kills ({clients} clients, {supervisors} supervisors, {guards} guards): {orphans} orphaned job processes");
    assert!(kills >= 200, "{kills}");
    assert!(supervisors >= 20 && clients >= 20, "every kind of process was killed: {clients} clients, {supervisors} supervisors");
    assert_eq!(orphans, 0);
    // Every run ended in a state that says what happened.
    let out = flightdeck(dir.path(), &["runs", "--json", "--limit", "1000"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert!(!runs.is_empty());
    for r in runs {
        assert!(matches!(r["status"].as_str(), Some("interrupted" | "cancelled" | "queued")), "{r}");
    }
}

/// A supervisor killed in the moment between starting a new guard and that guard's first look has
/// already handed the guard to another parent: the guard must still know whom it guards, and end
/// what was left at once rather than wait for its new parent to die.
#[test]
fn a_guard_whose_supervisor_died_before_it_looked_ends_the_jobs_left() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("data/runs/7");
    std::fs::create_dir_all(&run_dir).unwrap();
    let token = std::fs::canonicalize(&run_dir).unwrap();
    let mut job = Command::new("sleep").arg("600").env("FLIGHTDECK_JOB_TOKEN", &token).spawn().unwrap();
    // The supervisor: gone before its guard starts.
    let mut gone = Command::new("true").spawn().unwrap();
    let supervisor = gone.id().to_string();
    gone.wait().unwrap();
    let mut guard = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["supervise", "--guard", &supervisor])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), "the guard ending the job left behind", || matches!(job.try_wait(), Ok(Some(_))));
    let status = guard.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(guard.stderr.as_mut().unwrap(), &mut said).unwrap();
    assert!(status.success() && said.contains(&format!("the supervisor {supervisor} died: ended 1 job process")), "{status:?}: {said}");
    let _ = job.kill();
}

/// How long the guard has to end what a killed supervisor left. A SIGKILL takes effect only once
/// the process leaves the kernel: a supervisor in the middle of an fsync on a busy disk (the rest
/// of the suite runs beside this drill) dies seconds later, and its guard hears of it then.
const REAPED_WITHIN: Duration = Duration::from_secs(15);

/// Job processes of the data directory whose run no live executor holds: its `owner.lock` is not
/// among the kernel's locks (/proc/locks names the inode of every lock held).
fn orphans(data: &Path) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let held =
        |inode: u64| locks.lines().any(|l| l.split_whitespace().nth(5).is_some_and(|dev_inode| dev_inode.ends_with(&format!(":{inode}"))));
    job_processes(data)
        .into_iter()
        .filter(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let token = env
                .split(|&b| b == 0)
                .find_map(|v| v.strip_prefix(b"FLIGHTDECK_JOB_TOKEN=".as_slice()).map(|t| String::from_utf8_lossy(t).into_owned()));
            match token.and_then(|t| std::fs::metadata(Path::new(&t).join("owner.lock")).ok()) {
                Some(m) => !held(m.ino()),
                // No environment to read: it may have ended since it was listed. A zombie has
                // ended; only its exit status waits for whoever adopted it (in a container, a
                // pid 1 that may be slow to reap).
                None => {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
                    !matches!(state, Some("Z") | None)
                }
            }
        })
        .collect()
}

/// Waits until the orphans are gone, or the guard has had `limit` to end them; returns how many
/// are left.
fn orphans_now(data: &Path) -> usize {
    orphans(data).len()
}

fn orphans_after(data: &Path, limit: Duration, dying: Duration) -> usize {
    let start = Instant::now();
    while !orphans(data).is_empty() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = orphans(data);
    if left.is_empty() {
        return 0;
    }
    // What a failure needs to be understood: each orphan, what the supervisors and guards said,
    // and whether the guard was late or never came.
    for pid in &left {
        let read = |f: &str| String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default()).replace('\0', " ");
        eprintln!("orphan {pid}: {} | stat {}", read("cmdline"), read("stat"));
    }
    let later = Instant::now();
    while !orphans(data).is_empty() && later.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(data.join("supervisor.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    eprintln!("supervisor.log, last lines:\n{}", lines[lines.len().saturating_sub(24)..].join("\n"));
    eprintln!(
        "the killed supervisor took {:.1}s to be gone; its orphans were {} {:.1}s after the limit",
        dying.as_secs_f64(),
        if orphans(data).is_empty() { "ended" } else { "still there" },
        later.elapsed().as_secs_f64()
    );
    left.len()
}

/// The guard is the supervisor's child running `supervise --guard`.
fn guard_of(supervisor: i32) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: i32 = stat.rsplit(") ").next()?.split_whitespace().nth(1)?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        (ppid == supervisor && String::from_utf8_lossy(&cmd).contains("--guard")).then_some(pid)
    })
}

/// A run record nobody journaled (written by hand, or by a script around the journal) is never
/// executed, and the refusal is journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_nobody_journaled_is_not_executed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("deployed");
    let cfg = format!("[[pipelines.deploy.stages]]\nname = \"ship\"\nrun = \"touch {}\"\n", marker.display());
    std::fs::write(dir.path().join("flightdeck.toml"), &cfg).unwrap();
    let data = dir.path().join("data");
    let _stops = StopsSupervisor(data.clone());
    let config = std::sync::Arc::new(flightdeck::config::Config::parse(&cfg, Some(&dir.path().join("flightdeck.toml")), None).unwrap());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = flightdeck::ci::local::LocalRunner::new(config, &data, tx).unwrap();
    let trigger = flightdeck::domain::Trigger { actor: "mallory".into(), via: "cli".into(), ..Default::default() };
    let rec = runner.create_run("deploy", trigger).unwrap();
    let client = flightdeck::supervisor::Client::new(&data, Some(&dir.path().join("flightdeck.toml"))).with_program(BIN.as_ref());
    let id = rec.id.clone();
    let refused = tokio::task::spawn_blocking(move || flightdeck::ci::local::Dispatch::execute(&client, &id)).await.unwrap();
    let err = refused.expect_err("a run without its journaled request must not execute");
    assert!(err.to_string().contains("no pending request in the journal"), "{err}");
    let journal = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    assert!(journal.contains("\"refused\"") && journal.contains("supervisor request") && journal.contains("mallory"), "{journal}");
    assert!(!marker.exists(), "nothing was deployed");
    // The same pipeline through `flightdeck run` executes.
    let out = flightdeck(dir.path(), &["run", "deploy", "--follow", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(marker.exists());
}

/// A canary started from the command line keeps moving through its steps with no cockpit and no
/// follower open: the supervisor drives it to the end, and then exits.
#[test]
fn a_canary_moves_on_with_nobody_watching() {
    let n = support::nginx::Nginx::start(None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = n.rollout_config("web", r#"{ set_weight = 50 }, { pause = { duration = "1s" } }, { set_weight = 100 }"#);
    std::fs::write(dir.path().join("flightdeck.toml"), cfg).unwrap();
    let data = dir.path().join("data");
    let _stops = StopsSupervisor(data.clone());
    let out = flightdeck(dir.path(), &["rollout", "start", "web", "--version", "2.0.0", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(n.split(10), (5, 5), "the first step is in force");
    // Nobody reads the rollout from here on: only the supervisor can end the timed pause.
    let record = data.join("rollouts").join("web.json");
    wait_until(Duration::from_secs(30), "the canary reaching 100 %", || {
        let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap_or_default()).unwrap_or_default();
        rec["phase"] == "healthy" && rec["weight"] == 100
    });
    assert_eq!(n.split(10), (0, 10));
    wait_until(Duration::from_secs(20), "the supervisor exiting with nothing left to do", || supervisor_pid(&data).is_none());
}
