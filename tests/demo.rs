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
        flightdeck::util::which("prometheus").is_some(),
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
    let services = config.canary_services();
    let (source, spec) = services.get("payments-api").cloned().expect("the demo service is analysed");
    // With NGINX in front, traffic follows the split: give the canary half of it.
    if let Some(r) = config.rollouts.get("payments-api") {
        flightdeck::rollout::nginx::apply(&r.nginx, 50, "test").unwrap();
    }

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
        let children = flightdeck::util::children_of(p);
        frontier.extend(&children);
        all.extend(children);
    }
    all
}

use flightdeck::util::is_running as alive;

fn demo_leaves_nothing_behind(end: impl FnOnce(&mut support::pty::Term)) {
    require_prometheus();
    let demo = tempfile::tempdir().unwrap();
    let mut t = support::pty::Term::spawn_in(&["demo", "--no-start"], Some(demo.path()));
    t.wait_for("Pipelines", "the cockpit opened");
    let pid = t.pid();
    let children = descendants(pid);
    let cmdlines: Vec<String> =
        children.iter().map(|c| std::fs::read_to_string(format!("/proc/{c}/cmdline")).unwrap_or_default().replace('\0', " ")).collect();
    for part in ["demo-service", "demo-traffic", "prometheus", "nginx"] {
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

fn cli(config: &std::path::Path, data: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN).arg("--config").arg(config).arg("--data-dir").arg(data).args(args).output().unwrap()
}

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> Option<serde_json::Value>) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The whole story on one machine with real parts: the release pipeline runs, its production gate
/// is approved, the deploy stage hands over to the NGINX canary, errors are injected into the
/// canary, the analysis aborts the rollout, all traffic is back on stable, and the audit journal
/// tells it all with an intact chain.
#[test]
fn end_to_end_pipeline_gate_canary_injected_errors_automatic_abort() {
    require_prometheus();
    support::nginx::binary();
    let root = tempfile::tempdir().unwrap();
    let lab = Lab::start(root.path(), std::path::Path::new(BIN)).unwrap();
    assert!(lab.notices.is_empty(), "{:?}", lab.notices);
    let config = flightdeck::demo::install(root.path()).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&config).unwrap();
    std::io::Write::write_all(&mut f, lab.config().unwrap().as_bytes()).unwrap();
    let data = root.path().join("data");
    let nginx = lab.nginx.as_ref().unwrap();
    let proxy_port: u16 = nginx.listen.rsplit(':').next().unwrap().parse().unwrap();

    let out = cli(&config, &data, &["run", "release", "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("the production gate", 90, || {
        let runs = json(cli(&config, &data, &["runs", "--json"]));
        let jobs = runs[0]["jobs"].as_array().cloned().unwrap_or_default();
        jobs.iter().any(|j| j["key"] == "approve-prod" && j["status"] == "waiting").then_some(runs)
    });
    let out = cli(&config, &data, &["approve", "1", "--confirm", "approve-prod", "--reason", "release checked"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The deploy stage starts the canary: 20 % through NGINX.
    let r = wait_until("the canary at 20 %", 60, || {
        let r = json(cli(&config, &data, &["rollout", "get", "payments-api", "--json"]));
        (r["weight"] == 20).then_some(r)
    });
    assert_eq!(r["run"], "local:1", "the rollout knows the run that started it: {r}");
    // The JSON numbers the step as the text does.
    let text = String::from_utf8(cli(&config, &data, &["rollouts"]).stdout).unwrap();
    let shown = format!(" {}/{} ", r["step"], r["steps"]);
    assert!(text.contains(&shown), "`{shown}` in: {text}");
    // The traffic generator shares the round robin, so the share seen here is only near 20 %;
    // answers are counted by the version in the body, whatever the status (the service has a
    // small base error rate).
    let versions = |n: usize| -> (usize, usize) {
        let bodies: Vec<String> = (0..n).filter_map(|_| support::nginx::answer(proxy_port).map(|(_, b)| b)).collect();
        (bodies.iter().filter(|b| b.contains("2.3.1")).count(), bodies.iter().filter(|b| b.contains("2.4.0")).count())
    };
    let (stable, canary) = versions(100);
    assert!(
        stable + canary == 100 && (8..=35).contains(&canary),
        "about 20 % of 100 requests reach the canary: {canary} canary, {stable} stable"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, _) = rt
        .block_on(flightdeck::demo::http::call("POST", &format!("{}/{}", lab.fault_url(), Fault::Errors), Duration::from_secs(5)))
        .unwrap();
    assert_eq!(status, 200);
    let rec = wait_until("the automatic abort", 180, || {
        let r = json(cli(&config, &data, &["rollout", "get", "payments-api", "--json"]));
        (r["health"] == "aborted").then_some(r)
    });
    assert_eq!(rec["weight"], 0);
    assert!(rec["message"].as_str().unwrap().contains("analysis failed"), "{rec}");
    let include = std::fs::read_to_string(&nginx.include).unwrap();
    assert!(include.contains(&format!("server {} down;", lab.canary)), "{include}");
    assert_eq!(versions(50), (50, 0), "after the abort, stable serves everything");

    let run = wait_until("the run to fail", 30, || {
        let runs = json(cli(&config, &data, &["runs", "--json"]));
        (runs[0]["status"] == "failed").then(|| runs[0].clone())
    });
    assert!(run["jobs"].as_array().unwrap().iter().any(|j| j["key"] == "deploy-prod" && j["status"] == "failed"), "{run}");

    let verify = cli(&config, &data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let export = String::from_utf8(cli(&config, &data, &["audit", "export", "--format", "json"]).stdout).unwrap();
    for action in ["run.trigger", "gate.approve", "rollout.deploy", "rollout.set-weight", "rollout.auto-abort"] {
        assert!(export.contains(action), "the journal has no {action}: {export}");
    }
}
