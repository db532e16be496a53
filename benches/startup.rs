//! Time from starting the binary to its first frame on a terminal (target < 100 ms), measured with
//! the real release binary on a pseudo-terminal opened here (no test-harness overhead in between).

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    divan::main();
}

fn binary() -> std::path::PathBuf {
    // Benches live in target/release/deps; the binary one level up.
    let mut p = std::env::current_exe().expect("bench path");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("flightdeck")
}

/// A pty pair sized 120×40.
fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two fds into the provided integers; the size is read only.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

fn first_frame(data: &std::path::Path) -> Duration {
    let (master, slave) = open_pty();
    let mut cmd = Command::new(binary());
    cmd.arg("--data-dir")
        .arg(data)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and TIOCSCTTY are async-signal-safe; they make the pty the child's terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut reader = File::from(master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 16384];
    let elapsed = loop {
        let n = reader.read(&mut buf).expect("read pty");
        seen.extend_from_slice(&buf[..n]);
        // The frame is bracketed by synchronized-update sequences; its end means it is all out.
        if seen.windows(8).any(|w| w == b"\x1b[?2026l") {
            break start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no first frame");
    };
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

/// A data directory holding `runs` finished runs.
fn history(runs: u64) -> tempfile::TempDir {
    use flightdeck::domain::{JobRecord, JobStatus, RunRecord, RunStatus, StageRecord, Trigger};
    let data = tempfile::tempdir().expect("tempdir");
    let store = flightdeck::ci::local::RunStore::open(data.path()).expect("store");
    let now = jiff::Timestamp::now();
    for _ in 0..runs {
        let id = store.allocate().expect("allocate");
        let jobs = (0..8)
            .map(|i| JobRecord {
                key: format!("stage-{i}"),
                stage: format!("stage-{i}"),
                matrix: Default::default(),
                status: JobStatus::Success,
                exit_code: Some(0),
                started_at: Some(now),
                finished_at: Some(now),
                attempts: 1,
                error: None,
                reports: vec![],
                gate: None,
                findings: None,
                steps: Vec::new(),
                url: None,
            })
            .collect();
        let stages = (0..8).map(|i| StageRecord { name: format!("stage-{i}"), needs: vec![], gate: false, environment: None }).collect();
        let rec = RunRecord {
            id,
            pipeline: "release".into(),
            status: RunStatus::Success,
            trigger: Trigger { actor: "bench".into(), via: "cli".into(), ..Default::default() },
            created_at: now,
            started_at: Some(now),
            finished_at: Some(now),
            stages,
            jobs,
            note: None,
            retried_by: Vec::new(),
            refused: Default::default(),
        };
        store.save(&rec).expect("save");
    }
    data
}

#[divan::bench(sample_count = 30, sample_size = 1, args = [0, 1000])]
fn time_to_first_frame(bencher: divan::Bencher, runs_in_history: u64) {
    assert!(binary().exists(), "build the release binary first: cargo build --release");
    let data = history(runs_in_history);
    bencher.bench(|| first_frame(data.path()));
}
