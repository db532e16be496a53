//! The rollout controller judging a canary through a real NGINX and a real Prometheus: one
//! failed measurement is not a verdict, a Prometheus that stays away is, and nothing is judged
//! during the initial delay.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flightdeck::metrics::analysis::{MetricSpec, ServiceSpec};
use flightdeck::metrics::{AnalysisSpec, Auth, Phase as Verdict, Source};
use flightdeck::rollout::{Controller, OnFailure, Phase, Record, RolloutSpec, Step};
use support::nginx::Nginx;
use support::prom::{Flaky, flaky_proxy, live_target, scraping};

fn service(port: u16, initial_delay: Duration) -> (flightdeck::metrics::Backend, ServiceSpec) {
    let source = Source {
        name: "lab".into(),
        url: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(3),
        auth: Auth::None,
        headers: vec![],
        ca_file: None,
        insecure: false,
        max_response_bytes: flightdeck::metrics::DEFAULT_MAX_RESPONSE_BYTES,
    };
    let errors = MetricSpec::built_in("error_ratio", "error ratio", Some(0.2), None).unwrap();
    let spec = ServiceSpec {
        name: "web".into(),
        namespace: String::new(),
        canary: "track=\"canary\"".into(),
        stable: "track=\"stable\"".into(),
        window: "3s".into(),
        requests_query: flightdeck::metrics::analysis::DEFAULT_REQUESTS_QUERY.into(),
        analysis: AnalysisSpec {
            interval: Duration::from_secs(1),
            count: 4,
            min_requests: 0.0,
            alpha: None,
            metrics: vec![errors],
            consecutive_error_limit: 3,
            initial_delay,
            ..AnalysisSpec::default()
        },
    };
    (source.into(), spec)
}

fn controller(n: &Nginx, data: &std::path::Path, analysed: (flightdeck::metrics::Backend, ServiceSpec)) -> Controller {
    let spec = RolloutSpec {
        name: "web".into(),
        environment: None,
        service: Some("web".into()),
        steps: vec![Step::SetWeight(20), Step::Pause(None)],
        on_failure: OnFailure::Abort,
        background_analysis: true,
        nginx: n.spec(),
    };
    Controller::new(BTreeMap::from([("web".to_string(), spec)]), data, BTreeMap::from([("web".to_string(), analysed)]), None)
}

/// Ticks the controller until `done` holds for its record, for at most `secs`.
async fn tick_until(c: &Controller, secs: u64, what: &str, done: impl Fn(&Record) -> bool) -> Record {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let rec = c.tick("web").await.expect("tick");
        if done(&rec) {
            return rec;
        }
        assert!(Instant::now() < deadline, "{what}: the rollout is {:?} with verdict {:?}", rec.phase, rec.verdict);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verdict(rec: &Record) -> (Verdict, String) {
    rec.verdict.as_ref().map(|v| (v.phase, v.reason.clone())).unwrap_or((Verdict::Running, String::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_that_fails_now_and_then_is_not_a_verdict_one_that_stays_away_is() {
    let target = live_target(Arc::new(Mutex::new(false)));
    let prom = scraping(&format!("127.0.0.1:{target}"));
    let flaky = Arc::new(Flaky::default());
    let proxy = flaky_proxy(prom.port, flaky.clone());
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let c = controller(&n, data.path(), service(proxy, Duration::ZERO));
    c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    let rec = tick_until(&c, 30, "a first verdict on data", |r| r.verdict.as_ref().is_some_and(|v| v.reason.contains("measurement"))).await;
    let (before, _) = verdict(&rec);
    assert_ne!(before, Verdict::Error);

    // Prometheus answers 503 (and is retried within the deadline): the verdict stands, and says so.
    flaky.always.store(true, Ordering::SeqCst);
    let rec = tick_until(&c, 20, "an error carried over", |r| verdict(r).1.contains("measurement error 1 of 3")).await;
    assert_eq!(verdict(&rec).0, before, "one failed measurement leaves the last verdict: {}", verdict(&rec).1);
    assert!(verdict(&rec).1.contains("HTTP 503"), "{}", verdict(&rec).1);
    assert_eq!(rec.phase, Phase::Paused, "nothing is aborted on one error");

    // Back before the limit: the count starts again.
    flaky.always.store(false, Ordering::SeqCst);
    let rec = tick_until(&c, 20, "errors forgotten", |r| !verdict(r).1.contains("measurement error")).await;
    assert_ne!(verdict(&rec).0, Verdict::Error);

    // Away for longer than the limit: Error, with why.
    flaky.always.store(true, Ordering::SeqCst);
    let rec = tick_until(&c, 30, "the limit reached", |r| verdict(r).0 == Verdict::Error).await;
    assert!(verdict(&rec).1.contains("503"), "{}", verdict(&rec).1);
    assert_ne!(rec.phase, Phase::Aborted, "an error is not a failed canary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_judged_during_the_initial_delay() {
    let errors = Arc::new(Mutex::new(true));
    let target = live_target(errors);
    let prom = scraping(&format!("127.0.0.1:{target}"));
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let c = controller(&n, data.path(), service(prom.port, Duration::from_secs(4)));
    let started = Instant::now();
    c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    let rec = c.tick("web").await.unwrap();
    assert!(verdict(&rec).1.contains("initial delay"), "{:?}", rec.verdict);
    // A canary failing from the start is aborted, but only once the delay is over.
    let rec = tick_until(&c, 40, "the failing canary aborted", |r| r.phase == Phase::Aborted).await;
    assert!(started.elapsed() >= Duration::from_secs(4), "judged during the delay: {:?}", rec.verdict);
    assert!(rec.cause.as_deref().is_some_and(|c| c.contains("error ratio")), "{:?}", rec.cause);
}
