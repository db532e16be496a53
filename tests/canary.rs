//! Canary analysis against a real Prometheus: golden verdicts from backfilled fixtures, a verdict
//! that flips on live data, and every failure mode as a clear error.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flightdeck::metrics::analysis::{MetricSpec, Reading, ServiceSpec, default_metrics};
use flightdeck::metrics::{AnalysisResult, AnalysisSpec, Auth, Phase, QueryError, Source};
use support::prom::{END, Profile, SLOW_CANARY, STABLE, backfilled, fake_server, live_target, scraping};

async fn analyse(source: &Source, svc: &ServiceSpec, end: i64) -> AnalysisResult {
    flightdeck::metrics::analyse(&source.clone().into(), svc, end).await
}

fn source(port: u16) -> Source {
    Source {
        name: "test".into(),
        url: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(2),
        auth: Auth::None,
        headers: vec![],
        ca_file: None,
        insecure: false,
        max_response_bytes: flightdeck::metrics::DEFAULT_MAX_RESPONSE_BYTES,
    }
}

fn service(metrics: Vec<MetricSpec>, min_requests: f64) -> ServiceSpec {
    ServiceSpec {
        name: "payments".into(),
        namespace: "prod".into(),
        canary: "track=\"canary\"".into(),
        stable: "track=\"stable\"".into(),
        window: "1m".into(),
        requests_query: flightdeck::metrics::analysis::DEFAULT_REQUESTS_QUERY.into(),
        analysis: AnalysisSpec {
            interval: Duration::from_secs(60),
            count: 8,
            failure_limit: 1,
            inconclusive_limit: 1,
            min_requests,
            alpha: Some(0.05),
            metrics,
            alert_matchers: vec![],
            alerts_gate: false,
            since: None,
            ..AnalysisSpec::default()
        },
    }
}

fn metric(name: &str, max: Option<f64>, ratio: Option<f64>) -> MetricSpec {
    MetricSpec::built_in(name, name, max, ratio).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_values_and_a_failed_verdict() {
    let prom = backfilled(STABLE, SLOW_CANARY);
    let svc = service(default_metrics(), 10.0);
    let r = analyse(&source(prom.port), &svc, END).await;
    assert_eq!(r.phase, Phase::Failed, "{r:#?}");
    let p99 = &r.metrics[0];
    let last = p99.measurements.last().unwrap();
    assert_eq!((last.canary, last.stable), (Reading::Value(2.2), Reading::Value(0.375)), "exact quantiles from the fixture");
    assert_eq!(p99.phase, Phase::Failed);
    assert!(p99.reason.contains("1.2 × stable") || p99.reason.contains("Mann-Whitney"), "{}", p99.reason);
    assert!(p99.canary_query.contains("track=\"canary\""), "the resolved query is kept: {}", p99.canary_query);
    let err = &r.metrics[1];
    let last = err.measurements.last().unwrap();
    assert!((last.canary.value().unwrap() - 0.05).abs() < 1e-9 && (last.stable.value().unwrap() - 0.01).abs() < 1e-9, "{last:?}");
    assert_eq!(err.phase, Phase::Failed);
    let rate = &r.metrics[2];
    assert!((rate.measurements.last().unwrap().canary.value().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(rate.phase, Phase::Successful, "observed only");
    assert_eq!(p99.measurements.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_passes_and_the_judge_agrees() {
    let prom = backfilled(STABLE, STABLE);
    let r = analyse(&source(prom.port), &service(default_metrics(), 10.0), END).await;
    assert_eq!(r.phase, Phase::Successful, "{r:#?}");
    let p = r.metrics[0].p_value.unwrap();
    assert!(p > 0.05, "identical tracks: no significant difference ({p})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_traffic_and_nan_are_inconclusive_not_healthy() {
    let quiet = Profile { buckets: [0.0; 7], mean: 0.0, ok_rps: 0.0, err_rps: 0.0 };
    let prom = backfilled(STABLE, quiet);
    let r = analyse(&source(prom.port), &service(vec![metric("error_ratio", Some(0.01), None)], 10.0), END).await;
    assert_eq!(r.phase, Phase::Inconclusive, "{r:#?}");
    assert!(r.metrics[0].measurements.iter().all(|m| m.reason.contains("no traffic")), "{:?}", r.metrics[0].measurements);
    // Without a traffic minimum the 0/0 shows as NaN, still inconclusive.
    let r = analyse(&source(prom.port), &service(vec![metric("error_ratio", Some(0.01), None)], 0.0), END).await;
    assert_eq!(r.phase, Phase::Inconclusive);
    assert_eq!(r.metrics[0].measurements.last().unwrap().canary, Reading::NaN);
    assert!(r.metrics[0].reason.contains("NaN"), "{}", r.metrics[0].reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_series_and_a_bad_query_are_told_apart() {
    let prom = backfilled(STABLE, SLOW_CANARY);
    let mut svc = service(vec![metric("latency_p99", Some(1.0), None)], 0.0);
    svc.canary = "track=\"nonexistent\"".into();
    svc.requests_query = "vector(100)".into();
    let r = analyse(&source(prom.port), &svc, END).await;
    assert_eq!(r.phase, Phase::Inconclusive);
    assert!(r.metrics[0].measurements.iter().all(|m| m.canary == Reading::NoData));
    let bad = MetricSpec { query: "sum(rate(http_requests_total{{selector}}[{window}]".into(), ..metric("latency_p99", Some(1.0), None) };
    let r = analyse(&source(prom.port), &service(vec![bad], 0.0), END).await;
    assert_eq!(r.metrics[0].phase, Phase::Error);
    assert!(r.metrics[0].reason.contains("rejected the query"), "{}", r.metrics[0].reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_mode_is_a_clear_error() {
    let svc = service(default_metrics(), 0.0);
    let closed = support::prom::free_port();
    let cases: Vec<(u16, &str)> = vec![
        (closed, "cannot reach Prometheus"),
        (fake_server(None), "did not answer within 2s"),
        (
            fake_server(Some(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops",
            )),
            "HTTP 500",
        ),
        (
            fake_server(Some("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 11\r\nconnection: close\r\n\r\n<html></html>")),
            "not a Prometheus API response",
        ),
        (
            fake_server(Some(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\n{garbage}",
            )),
            "not a Prometheus API response",
        ),
        (
            fake_server(Some(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nunauthorized",
            )),
            "refused the credentials",
        ),
        // A JSON 401 keeps its status.
        (
            fake_server(Some(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 66\r\nconnection: close\r\n\r\n{\"status\":\"error\",\"errorType\":\"unauthorized\",\"error\":\"bad token!\"}",
            )),
            "refused the credentials (HTTP 401)",
        ),
        // Prometheus' own query timeout is not "did not answer".
        (
            fake_server(Some(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 91\r\nconnection: close\r\n\r\n{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out in expression evaluation\"}",
            )),
            "gave up evaluating the query",
        ),
        // A body announced larger than the cap is not read at all.
        (
            fake_server(Some(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2147483648\r\nconnection: close\r\n\r\n{",
            )),
            "more than 32 MiB",
        ),
    ];
    for (port, want) in cases {
        let t0 = Instant::now();
        let r = analyse(&source(port), &svc, END).await;
        assert_eq!(r.phase, Phase::Error, "{want}: {r:#?}");
        assert!(r.reason.contains(want), "expected `{want}`, got: {}", r.reason);
        assert!(t0.elapsed() < Duration::from_secs(10), "{want}: bounded by the timeout");
    }
    let mut with_token = source(closed);
    with_token.auth = Auth::Bearer(flightdeck::metrics::Secret::Env("FD_TEST_UNSET_TOKEN".into()));
    let r = analyse(&with_token, &svc, END).await;
    assert!(r.reason.contains("FD_TEST_UNSET_TOKEN") && r.reason.contains("not set"), "{}", r.reason);
    let _ = QueryError::Http { status: 500 }; // the type is public for callers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verdict_flips_when_the_canary_degrades_on_live_data() {
    let errors = Arc::new(Mutex::new(false));
    let target = live_target(errors.clone());
    let prom = scraping(&format!("127.0.0.1:{target}"));
    let mut svc = service(vec![metric("error_ratio", Some(0.05), None)], 0.0);
    svc.window = "5s".into();
    svc.analysis.interval = Duration::from_secs(1);
    svc.analysis.count = 4;
    svc.analysis.failure_limit = 0;
    svc.analysis.inconclusive_limit = 4;
    svc.analysis.alpha = None;
    let now = || jiff::Timestamp::now().as_second();
    // Healthy first.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = analyse(&source(prom.port), &svc, now()).await;
        if r.phase == Phase::Successful {
            break;
        }
        assert!(Instant::now() < deadline, "never became healthy: {r:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    *errors.lock().unwrap() = true;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = analyse(&source(prom.port), &svc, now()).await;
        if r.phase == Phase::Failed {
            assert!(r.reason.contains("error_ratio"), "{}", r.reason);
            break;
        }
        assert!(Instant::now() < deadline, "never flipped to Failed: {r:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn the_cli_exits_by_verdict() {
    let prom = backfilled(STABLE, SLOW_CANARY);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[prometheus.main]\nurl = \"http://127.0.0.1:{}\"\n[services.payments]\ncanary = 'track=\"canary\"'\nstable = 'track=\"stable\"'\n", prom.port)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .arg("--config")
        .arg(&cfg)
        .args(["canary", "payments", "--json"])
        .output()
        .unwrap();
    // The fixture is in 2024: "now" has no data, so the verdict is not Successful and the exit says so.
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["service"], "payments");
    assert!(v["metrics"].as_array().unwrap().len() == 3);
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck")).arg("--config").arg(&cfg).args(["canary", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "an unknown service is an error, not a Failed verdict");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no service `nope`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_get_history_while_the_verdict_judges_only_the_analysis_intervals() {
    let prom = backfilled(STABLE, STABLE);
    let svc = service(default_metrics(), 10.0);
    // 60 one-minute points reach back before the fixture begins: no data there, which must not
    // make the verdict inconclusive, because only the last 8 intervals are judged.
    let r = flightdeck::metrics::analyse_with_history(&source(prom.port).into(), &svc, END, 60).await;
    assert_eq!(r.metrics[0].measurements.len(), 60);
    assert!(r.metrics[0].measurements[..20].iter().all(|m| m.canary == Reading::NoData));
    assert_eq!(r.phase, Phase::Successful, "{}", r.reason);
    assert!(r.metrics[0].reason.starts_with("8 measurements"), "{}", r.metrics[0].reason);
}

/// Wrong verdicts of the past, each against the real Prometheus: too few measurements to judge,
/// traffic that cannot be counted, a "higher is better" metric, and a query of several series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_that_used_to_be_wrong_are_right() {
    let prom = backfilled(STABLE, SLOW_CANARY);
    // One interval with a failure limit of 1 could never fail: it proves nothing.
    let mut one = service(default_metrics(), 10.0);
    one.analysis.count = 1;
    let r = analyse(&source(prom.port), &one, END).await;
    assert_eq!(r.phase, Phase::Running, "undecided, never Successful: {}", r.reason);
    assert!(r.reason.contains("cannot be judged with a failure limit of 1"), "{}", r.reason);

    // The request count cannot be read: the traffic minimum cannot be checked, so no Successful.
    let healthy = backfilled(STABLE, STABLE);
    let mut blind = service(vec![metric("error_ratio", Some(0.5), None)], 10.0);
    blind.requests_query = "sum(rate(no_such_metric{{selector}}[{window}]))".into();
    let r = analyse(&source(healthy.port), &blind, END).await;
    assert_eq!(r.phase, Phase::Inconclusive, "{}", r.reason);
    assert!(r.metrics[0].reason.contains("traffic minimum cannot be checked"), "{}", r.metrics[0].reason);

    // A success ratio (higher is better, bounded from below): a healthier canary is not failed.
    let success = MetricSpec {
        name: "success ratio".into(),
        query: "sum(rate(http_requests_total{{selector},code!~\"5..\"}[{window}])) / sum(rate(http_requests_total{{selector}}[{window}]))"
            .into(),
        max: None,
        min: Some(0.9),
        max_ratio: None,
        higher_is_worse: false,
        unit: "ratio".into(),
        ..MetricSpec::default()
    };
    let r = analyse(&source(healthy.port), &service(vec![success], 10.0), END).await;
    assert_eq!(r.phase, Phase::Successful, "{}", r.reason);

    // Several series (one per status code): the worst decides, and the reason says so.
    let per_code = MetricSpec {
        name: "requests per code".into(),
        query: "sum by (code) (rate(http_requests_total{{selector}}[{window}]))".into(),
        max: Some(1.0),
        min: None,
        max_ratio: None,
        higher_is_worse: true,
        unit: "req/s".into(),
        ..MetricSpec::default()
    };
    let r = analyse(&source(healthy.port), &service(vec![per_code], 10.0), END).await;
    assert_eq!(r.phase, Phase::Failed, "the busiest series (9.9 req/s of 200s) is above 1: {}", r.reason);
    assert!(r.metrics[0].reason.contains("series: the worst decides"), "{}", r.metrics[0].reason);
}

/// A 503 now and then is asked again within the deadline, not turned into a verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_503_is_retried() {
    let prom = backfilled(STABLE, STABLE);
    let flaky = Arc::new(support::prom::Flaky::default());
    let proxy = support::prom::flaky_proxy(prom.port, flaky.clone());
    let svc = service(default_metrics(), 10.0);
    // Seven queries at once; the first two connections are refused.
    flaky.next.store(2, std::sync::atomic::Ordering::SeqCst);
    let r = analyse(&source(proxy), &svc, END).await;
    assert_eq!(r.phase, Phase::Successful, "{}", r.reason);
    assert_eq!(flaky.next.load(std::sync::atomic::Ordering::SeqCst), 0, "the failures happened");
    // Refused every time: the error is the server's, after the retries.
    flaky.always.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = analyse(&source(proxy), &svc, END).await;
    assert_eq!(r.phase, Phase::Error);
    assert!(r.reason.contains("HTTP 503"), "{}", r.reason);
}

/// An answer that never ends is cut at the source's cap: memory stays bounded, and the error says
/// why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_refused_at_the_cap() {
    let (port, sent) = support::prom::endless_server();
    let mut small = source(port);
    small.max_response_bytes = 4 << 20;
    small.timeout = Duration::from_secs(20);
    let started = Instant::now();
    let r = analyse(&small, &service(default_metrics(), 0.0), END).await;
    assert_eq!(r.phase, Phase::Error, "{}", r.reason);
    assert!(r.reason.contains("more than 4 MiB"), "{}", r.reason);
    assert!(started.elapsed() < Duration::from_secs(15), "refused as the cap was passed, not at the deadline");
    // Every query was refused after about 4 MiB (the server is ahead by what the sockets buffer).
    let total = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(total > 4 << 20, "the server sent {total} bytes");
}

/// A hanging Prometheus costs one deadline for the whole analysis, not one per query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_prometheus_costs_one_deadline() {
    let hanging = fake_server(None);
    let svc = service(default_metrics(), 10.0);
    let started = Instant::now();
    let r = analyse(&source(hanging), &svc, END).await;
    let took = started.elapsed();
    assert_eq!(r.phase, Phase::Error, "{}", r.reason);
    // Three metrics, two tracks each, and the request count: seven queries, one 2 s deadline.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

/// A dry-run metric is measured and shown, never decisive; the score is of the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_metric_is_shown_and_never_decides() {
    let prom = backfilled(STABLE, SLOW_CANARY);
    let slow = MetricSpec { dry_run: true, ..metric("latency_p99", None, Some(1.2)) };
    let traffic = metric("request_rate", Some(1000.0), None);
    let r = analyse(&source(prom.port), &service(vec![slow.clone(), traffic.clone()], 0.0), END).await;
    assert_eq!(r.metrics[0].phase, Phase::Failed, "measured: {}", r.metrics[0].reason);
    assert_eq!((r.phase, r.score), (Phase::Successful, Some(100.0)), "{}", r.reason);
    // The same metric, critical instead, fails the analysis whatever the score.
    let critical = MetricSpec { dry_run: false, critical: true, ..slow };
    let r = analyse(&source(prom.port), &service(vec![critical, traffic], 0.0), END).await;
    assert_eq!(r.phase, Phase::Failed);
    assert!(r.reason.starts_with("critical metric latency_p99"), "{}", r.reason);
}
