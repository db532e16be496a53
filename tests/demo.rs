//! The demo's live parts, for real: two versions of the demo service with traffic, a real
//! Prometheus scraping them, a fault injected into the canary and the verdict following it; and no
//! process left behind when the demo ends, however it ends.

mod support;

use std::time::{Duration, Instant};

use flightdeck::config::Config;
use flightdeck::demo::fault::Fault;
use flightdeck::demo::lab::Lab;
use flightdeck::metrics::Phase;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

fn require_prometheus() {
    assert!(
        flightdeck::demo::lab::which("prometheus").is_some(),
        "`prometheus` is not installed; install it with: apt-get install -y --no-install-recommends prometheus"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_canary_is_judged_from_live_prometheus_data_and_fails_when_erroring() {
    require_prometheus();
    let root = tempfile::tempdir().unwrap();
    let lab = Lab::start(root.path(), std::path::Path::new(BIN)).unwrap();
    assert!(lab.notices.is_empty(), "{:?}", lab.notices);
    let file = flightdeck::demo::install(root.path()).unwrap();
    let text = std::fs::read_to_string(&file).unwrap() + &lab.config().expect("Prometheus runs");
    let config = Config::parse(&text, Some(&file), None).unwrap();
    let services = flightdeck::app::canary_services(&config);
    let (source, spec) = services.get("payments-api").cloned().expect("the demo service is analysed");

    // Both versions answer, and their metrics are real Prometheus exposition.
    let (status, body) = flightdeck::demo::http::call("GET", &format!("http://{}/pay", lab.canary), Duration::from_secs(5)).await.unwrap();
    assert!(status == 200 || status == 500, "{status}");
    assert!(body.is_empty() || body.contains("payments-api 2.4.0"), "{body}");
    let (_, metrics) =
        flightdeck::demo::http::call("GET", &format!("http://{}/metrics", lab.stable), Duration::from_secs(5)).await.unwrap();
    assert!(metrics.contains("# TYPE http_request_duration_seconds histogram"), "{metrics}");

    let analyse = || async {
        let end = jiff::Timestamp::now().as_second() / 5 * 5;
        flightdeck::metrics::analyse_with_history(&source, &spec, end, 12).await
    };
    // Healthy: once traffic is scraped, the request rate of both tracks is measured.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = analyse().await;
        let rate = r.metrics.iter().find(|m| m.name == "request rate").and_then(|m| m.measurements.last()).and_then(|x| x.canary.value());
        if rate.is_some_and(|v| v > 5.0) {
            assert_ne!(r.phase, Phase::Failed, "a healthy canary failed: {}", r.reason);
            break;
        }
        assert!(Instant::now() < deadline, "no canary traffic in Prometheus: {}", r.reason);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let (status, _) =
        flightdeck::demo::http::call("POST", &format!("{}/latency-ish", lab.fault_url()), Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 404, "an unknown fault is refused");
    let (status, _) =
        flightdeck::demo::http::call("POST", &format!("{}/{}", lab.fault_url(), Fault::Errors), Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = analyse().await;
        let errors = r.metrics.iter().find(|m| m.name == "error ratio").unwrap();
        if r.phase == Phase::Failed && errors.phase == Phase::Failed && !r.alerts.is_empty() {
            assert!(r.alerts.iter().any(|a| a.name == "CanaryErrorRateHigh"), "{:?}", r.alerts);
            let last = errors.measurements.iter().rev().find_map(|x| x.canary.value()).unwrap();
            assert!(last > 0.05, "the canary's error ratio is {last}");
            break;
        }
        assert!(Instant::now() < deadline, "the verdict did not follow the injected errors: {:?} {}", r.phase, r.reason);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every process whose parent is `pid`, recursively.
fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            // The parent pid is the second field after the parenthesised command name.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|s| s.parse::<i32>().ok());
            if ppid == Some(p) {
                all.push(child);
                frontier.push(child);
            }
        }
    }
    all
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
}

fn demo_leaves_nothing_behind(end: impl FnOnce(&mut support::pty::Term)) {
    require_prometheus();
    let demo = tempfile::tempdir().unwrap();
    let mut t = support::pty::Term::spawn_in(&["demo", "--no-start"], Some(demo.path()));
    t.wait_for("Pipelines", "the cockpit opened");
    let pid = t.pid();
    let children = descendants(pid);
    let cmdlines: Vec<String> =
        children.iter().map(|c| std::fs::read_to_string(format!("/proc/{c}/cmdline")).unwrap_or_default().replace('\0', " ")).collect();
    for part in ["demo-service", "demo-traffic", "prometheus"] {
        assert!(cmdlines.iter().any(|c| c.contains(part)), "no {part} among the demo's processes: {cmdlines:?}");
    }
    end(&mut t);
    t.wait_exit();
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|c| alive(*c)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<&String> = children.iter().zip(&cmdlines).filter(|(c, _)| alive(**c)).map(|(_, l)| l).collect();
    assert!(left.is_empty(), "still running after the demo ended: {left:?}");
}

#[test]
fn quitting_the_demo_stops_all_its_processes() {
    demo_leaves_nothing_behind(|t| t.send("q"));
}

#[test]
fn sigterm_to_the_demo_stops_all_its_processes() {
    demo_leaves_nothing_behind(|t| unsafe {
        libc::kill(t.pid(), libc::SIGTERM);
    });
}

#[test]
fn sigkill_to_the_demo_still_stops_its_processes() {
    // Nothing can clean up after SIGKILL; the kernel ends the children (parent-death signal).
    demo_leaves_nothing_behind(|t| unsafe {
        libc::kill(t.pid(), libc::SIGKILL);
    });
}
