//! GitHub Actions, measured against the GitHub double (the release binary for the first frame):
//!
//! - the rate limit an idle cockpit spends watching 20 workflows of 5 repositories, as requests and
//!   budget units per hour at the default poll intervals (goal: under 2 % of the 5,000/h budget);
//! - the time from a step change on the server to the event that redraws the screen (goal: within
//!   the active poll interval + 100 ms);
//! - the first frame showing GitHub's runs with 200 ms per request, from the cache (goal: < 100 ms).
//!
//!     cargo bench --bench github

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use flightdeck::ci::github::GithubProvider;
use flightdeck::ci::{CiProvider, RunEvent};
use flightdeck::config::GithubSettings;

#[path = "../tests/support/http1.rs"]
pub mod http1;
/// The double reads requests with the tests' HTTP/1.1 helper, where it looks for it.
mod support {
    pub use super::http1;
}
#[allow(dead_code)]
#[path = "../tests/support/github.rs"]
mod github;

const WORKFLOW: &str = "name: WF\non: [push, workflow_dispatch]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - name: one\n        run: a\n      - name: two\n        run: b\n      - name: three\n        run: c\n";
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

fn settings(gh: &github::GithubDouble, repos: Vec<String>, active: Duration, idle: Duration) -> GithubSettings {
    GithubSettings {
        name: "gh".into(),
        repos,
        api_url: gh.api_url(),
        workflows: Vec::new(),
        report_artifacts: Default::default(),
        active_poll: active,
        idle_poll: idle,
    }
}

fn token() {
    // SAFETY: set once, before any provider reads it. The double is not api.github.com, so the
    // token is read as an Enterprise Server's.
    unsafe { std::env::set_var("GH_ENTERPRISE_TOKEN", github::TOKEN) };
}

/// 5 repositories, 4 workflows each, 10 finished runs per workflow.
fn quiet_estate(gh: &github::GithubDouble) -> Vec<String> {
    let mut repos = Vec::new();
    for r in 0..5 {
        let repo = format!("acme/service-{r}");
        for w in 0..4 {
            let file = format!("wf-{w}.yml");
            gh.add_workflow(&repo, &file, &WORKFLOW.replace("WF", &format!("workflow {w}")));
            for _ in 0..10 {
                let id = gh.start_run(&repo, &file, "main", "bob", "push");
                for _ in 0..10 {
                    gh.advance(id);
                }
            }
        }
        repos.push(repo);
    }
    repos
}

async fn idle_budget() {
    let gh = github::GithubDouble::start(false).await;
    let repos = quiet_estate(&gh);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tick = Duration::from_millis(200);
    let p = GithubProvider::new(settings(&gh, repos, tick, tick), tx).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    p.watch(stop.clone());
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    // The first look, then 30 idle polls.
    tokio::time::sleep(tick / 2).await;
    let look = gh.exchanges();
    let (first, first_spent) = (look.len(), look.iter().filter(|e| e.status != 304).count());
    tokio::time::sleep(tick * 30).await;
    stop.cancel();
    let all = gh.exchanges();
    assert!(all.iter().all(|e| e.authorized), "every request carried the token");
    let polls = (all.len() - first) as f64 / 30.0;
    let spent = all[first..].iter().filter(|e| e.status != 304).count() as f64 / 30.0;
    let per_hour = 3600.0 / DEFAULT_IDLE.as_secs_f64();
    let requests = first as f64 + polls * per_hour;
    let units = first_spent as f64 + spent * per_hour;
    println!("idle watch of 20 workflows in 5 repositories (200 finished runs), default idle poll {}s:", DEFAULT_IDLE.as_secs());
    println!("  first look: {first} requests ({first_spent} cost budget); then per poll: {polls:.1} requests, {spent:.2} cost budget");
    println!("  per hour: {requests:.0} requests, {units:.0} budget units = {:.2} % of 5,000 (goal < 2 %)", units / 50.0);
}

async fn step_latency() {
    let gh = github::GithubDouble::start(false).await;
    gh.add_workflow(
        "acme/shop",
        "wf.yml",
        &WORKFLOW.replace("WF", "build").replace(
            "      - name: three\n        run: c\n",
            &(0..40).map(|i| format!("      - name: s{i}\n        run: x\n")).collect::<String>(),
        ),
    );
    let id = gh.start_run("acme/shop", "wf.yml", "main", "bob", "push");
    gh.advance(id);
    gh.advance(id);
    let active = Duration::from_secs(1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let p = GithubProvider::new(settings(&gh, vec!["acme/shop".into()], active, Duration::from_secs(60)), tx).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    p.watch(stop.clone());
    let done_steps = |ev: &RunEvent| match ev {
        RunEvent::Updated(r) => r.jobs.first().map(|j| j.steps.iter().filter(|s| s.status.is_terminal()).count()),
        _ => None,
    };
    // Settle on the current state.
    let mut current = loop {
        if let Some(n) = rx.recv().await.as_ref().and_then(done_steps) {
            break n;
        }
    };
    let mut samples = Vec::new();
    for i in 0..20u64 {
        // A change at a moment unrelated to the poll.
        tokio::time::sleep(Duration::from_millis(137 * (i % 7) + 50)).await;
        gh.advance(id);
        let changed = Instant::now();
        loop {
            let ev = rx.recv().await.expect("events");
            if let Some(n) = done_steps(&ev)
                && n > current
            {
                current = n;
                samples.push(changed.elapsed());
                break;
            }
        }
    }
    stop.cancel();
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("step change on GitHub → the event that redraws the screen, active poll {}s, 20 changes:", active.as_secs());
    println!(
        "  median {:.0} ms, max {:.0} ms (goal ≤ {:.0} ms)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        ms(active) + 100.0
    );
}

fn binary() -> std::path::PathBuf {
    let mut p = std::env::current_exe().expect("bench path");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("flightdeck")
}

/// The time until the screen shows `needle`, starting the binary on a pty.
fn time_to_show(config: &std::path::Path, data: &std::path::Path, needle: &str) -> Duration {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 40, ws_col: 140, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two new descriptors into the integers; the size is only read.
    assert_eq!(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) }, 0);
    // SAFETY: both were just created and belong to nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("--config").arg(config).arg("--data-dir").arg(data).env("TERM", "xterm-256color").env("GH_ENTERPRISE_TOKEN", github::TOKEN);
    cmd.stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave);
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
    let mut reader = std::fs::File::from(master);
    let mut screen = vt100::Parser::new(std::num::NonZero::new(40).unwrap(), std::num::NonZero::new(140).unwrap(), 0);
    let mut buf = [0u8; 16384];
    let elapsed = loop {
        let n = reader.read(&mut buf).expect("read pty");
        screen.process(&buf[..n]);
        if screen.screen().contents().contains(needle) {
            break start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never showed {needle}");
    };
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

async fn first_frame_from_cache() {
    let gh = github::GithubDouble::start(false).await;
    gh.add_workflow("acme/shop", "wf.yml", WORKFLOW);
    let id = gh.start_run("acme/shop", "wf.yml", "main", "bob", "push");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flightdeck.toml");
    std::fs::write(&config, format!("[ci.github.gh]\nrepo = \"acme/shop\"\napi_url = \"{}\"\n", gh.api_url())).unwrap();
    let data = dir.path().join("data");
    // One cockpit has seen GitHub: its cache holds the run.
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let p = GithubProvider::new(settings(&gh, vec!["acme/shop".into()], Duration::from_secs(5), DEFAULT_IDLE), tx)
        .unwrap()
        .cached_in(&data.join("cache"));
    p.list_runs(Default::default()).await.unwrap();
    gh.with(|s| s.delay = Duration::from_millis(200));
    let needle = format!("gh:acme/shop:{id}");
    let (config, data2) = (config.clone(), data.clone());
    let mut samples =
        tokio::task::spawn_blocking(move || (0..15).map(|_| time_to_show(&config, &data2, &needle)).collect::<Vec<_>>()).await.unwrap();
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("first frame showing GitHub's runs, 200 ms per GitHub request, from the cache (15 starts):");
    println!("  median {:.1} ms, max {:.1} ms (goal < 100 ms)", ms(samples[samples.len() / 2]), ms(samples[samples.len() - 1]));
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    assert!(binary().exists(), "build the release binary first: cargo build --release");
    token();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        idle_budget().await;
        step_latency().await;
        first_frame_from_cache().await;
    });
}
