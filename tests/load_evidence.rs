//! Load tests as release evidence, read from what the real tools write: k6 (its release binary)
//! and Locust, run here against a loopback HTTP service. flightdeck's reading of k6's thresholds
//! must agree with k6's own judgement (exit code 99 when one was crossed), and its Locust p95 with
//! Locust's own percentile function; the load rule of the release gate then judges them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use flightdeck::findings::{LoadLimits, LoadReport, LoadSummary, judge_load, read_report};
use support::python_tools::{Server, python};

fn tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-tools/venv/bin").join(name);
    assert!(path.exists(), "`{name}` is missing: run `make test-tools` (make test runs it)");
    path
}

fn target() -> Server {
    Server::start("json", "http_target.py", &[])
}

/// A k6 script: 2 users, 40 iterations, each asking `/ok` and `/missing`, with the thresholds
/// given (metric → expressions).
fn k6_script(dir: &Path, thresholds: &str) -> PathBuf {
    let script = format!(
        r#"import http from 'k6/http';
import {{ check }} from 'k6';
export const options = {{ vus: 2, iterations: 40, thresholds: {{ {thresholds} }} }};
export default function () {{
  const res = http.get(`${{__ENV.TARGET}}/ok`);
  check(res, {{ 'status is 200': (r) => r.status === 200 }});
  http.get(`${{__ENV.TARGET}}/missing`);
}}
export function handleSummary(data) {{
  return {{ 'handle-summary.json': JSON.stringify(data) }};
}}
"#
    );
    let path = dir.join("script.js");
    std::fs::write(&path, script).unwrap();
    path
}

/// Runs k6; returns its exit code and the two summaries it wrote (export, handleSummary data).
fn run_k6(dir: &Path, port: u16, thresholds: &str) -> (i32, LoadSummary, LoadSummary) {
    let script = k6_script(dir, thresholds);
    let status = Command::new(tool("k6"))
        .current_dir(dir)
        .env("K6_NO_USAGE_REPORT", "true")
        .args(["run", "--quiet", "--no-color", "-e", &format!("TARGET=http://127.0.0.1:{port}"), "--summary-export", "export.json"])
        .arg(&script)
        .output()
        .unwrap();
    let read = |name: &str| {
        let p = read_report(&dir.join(name), name, 1 << 20).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.tool, "k6");
        p.load.expect("a load summary")
    };
    (status.status.code().unwrap_or(-1), read("export.json"), read("handle-summary.json"))
}

#[test]
fn k6_thresholds_read_as_k6_judged_them_in_both_summary_shapes() {
    let server = target();
    let dir = tempfile::tempdir().unwrap();
    // Every request to /missing fails: the failure threshold is crossed, as is a p99 under 0.1 µs.
    let (code, export, data) = run_k6(
        dir.path(),
        server.port,
        "http_req_failed: ['rate<0.01'], http_req_duration: ['p(95)<5000', 'p(99)<0.0001'], checks: ['rate>0.99']",
    );
    assert_eq!(code, 99, "k6 says a threshold was crossed with exit code 99");
    for s in [&export, &data] {
        assert_eq!(s.requests, 80, "{s:?}");
        assert_eq!(s.failed_requests, 40);
        assert_eq!(s.failure_ratio, Some(0.5));
        assert!(s.p95_ms.is_some_and(|p| p > 0.0) && s.rps.is_some_and(|r| r > 0.0), "{s:?}");
        let mut judged: Vec<(String, bool)> = s.thresholds.iter().map(|t| (format!("{} {}", t.metric, t.expression), t.passed)).collect();
        judged.sort();
        assert_eq!(
            judged,
            [
                ("checks rate>0.99".to_string(), true),
                ("http_req_duration p(95)<5000".to_string(), true),
                ("http_req_duration p(99)<0.0001".to_string(), false),
                ("http_req_failed rate<0.01".to_string(), false),
            ]
        );
    }
    let verdict = judge_load(&[LoadReport { path: "export.json".into(), summary: export }], &LoadLimits::default());
    assert!(!verdict.pass);
    assert_eq!((verdict.thresholds, verdict.thresholds_failed), (4, 2));
    assert!(verdict.summary.contains("k6 threshold"), "{}", verdict.summary);

    // Thresholds the service meets: k6 exits 0, and so does the rule pass.
    let dir = tempfile::tempdir().unwrap();
    let (code, export, data) = run_k6(dir.path(), server.port, "http_req_duration: ['p(95)<5000'], checks: ['rate>0.99']");
    assert_eq!(code, 0);
    for s in [export, data] {
        assert!(s.thresholds.iter().all(|t| t.passed), "{s:?}");
        let v = judge_load(&[LoadReport { path: "k6.json".into(), summary: s }], &LoadLimits::default());
        assert!(v.pass, "{}", v.summary);
    }
}

/// Runs Locust headless for a couple of seconds: 3 in 4 requests to /ok, 1 in 4 to /missing.
fn run_locust(dir: &Path, port: u16) {
    std::fs::write(
        dir.join("locustfile.py"),
        "from locust import HttpUser, task, constant\n\nclass Visitor(HttpUser):\n    wait_time = constant(0.01)\n\n    @task(3)\n    def ok(self):\n        self.client.get('/slow?ms=5')\n\n    @task\n    def missing(self):\n        self.client.get('/missing')\n",
    )
    .unwrap();
    let out = Command::new(tool("locust"))
        .current_dir(dir)
        .args(["-f", "locustfile.py", "--headless", "-u", "2", "-r", "2", "-t", "2s", "--only-summary", "--csv", "run", "--json"])
        .args(["-H", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    // Locust exits 1 when any request failed; its stats are what matter here.
    assert!(!out.stdout.is_empty(), "locust wrote no stats: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("locust.json"), &out.stdout).unwrap();
}

#[test]
fn locust_stats_match_locusts_own_numbers_and_meet_or_miss_the_limits() {
    let server = target();
    let dir = tempfile::tempdir().unwrap();
    run_locust(dir.path(), server.port);

    let json = read_report(&dir.path().join("locust.json"), "locust.json", 1 << 24).unwrap_or_else(|e| panic!("{e}"));
    let json = json.load.expect("load");
    // Locust's own numbers for the same stats: its percentile function over the merged histogram.
    let own = Command::new(python("locust"))
        .arg("-c")
        .arg(
            "import json, sys\nfrom locust.stats import calculate_response_time_percentile as p\nd = json.load(open(sys.argv[1]))\nh = {}\nfor e in d:\n    for k, v in e['response_times'].items():\n        h[int(float(k))] = h.get(int(float(k)), 0) + v\nn = sum(e['num_requests'] for e in d)\nprint(n, sum(e['num_failures'] for e in d), p(h, n, 0.95))",
        )
        .arg(dir.path().join("locust.json"))
        .output()
        .unwrap();
    let (text, said) = (String::from_utf8_lossy(&own.stdout).into_owned(), String::from_utf8_lossy(&own.stderr).into_owned());
    let own: Vec<f64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("Locust's percentile printed {text:?} (stderr: {said})")))
        .collect();
    assert_eq!(own.len(), 3, "Locust's own numbers: {own:?}");
    assert!(json.requests > 10, "{json:?}");
    assert_eq!((json.requests as f64, json.failed_requests as f64, json.p95_ms), (own[0], own[1], Some(own[2])));

    // The CSV's Aggregated row, as Locust wrote it.
    let csv_text = std::fs::read_to_string(dir.path().join("run_stats.csv")).unwrap();
    let header: Vec<&str> = csv_text.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv_text.lines().find(|l| l.contains(",Aggregated,")).unwrap().split(',').collect();
    let col = |t: &str| row[header.iter().position(|h| *h == t).unwrap()].parse::<f64>().unwrap();
    let csv = read_report(&dir.path().join("run_stats.csv"), "run_stats.csv", 1 << 24).unwrap_or_else(|e| panic!("{e}")).load.unwrap();
    assert_eq!(
        (csv.requests as f64, csv.failed_requests as f64, csv.p95_ms),
        (col("Request Count"), col("Failure Count"), Some(col("95%")))
    );
    assert!(csv.failure_ratio.is_some_and(|r| r > 0.1 && r < 0.5), "a quarter of the requests fail: {csv:?}");

    let fastest_p95 = json.p95_ms.unwrap().min(csv.p95_ms.unwrap());
    let reports = [LoadReport { path: "locust.json".into(), summary: json }, LoadReport { path: "run_stats.csv".into(), summary: csv }];
    // No limits configured: a Locust test passes only when no request failed.
    let v = judge_load(&reports, &LoadLimits::default());
    assert!(!v.pass && v.summary.contains("none may fail"), "{}", v.summary);
    // Limits it meets, then ones it misses.
    let generous = LoadLimits { max_p95_ms: Some(5_000.0), max_failure_ratio: Some(0.5), min_rps: Some(1.0) };
    let v = judge_load(&reports, &generous);
    assert!(v.pass, "{}", v.summary);
    let strict = LoadLimits { max_p95_ms: Some(fastest_p95 - 1.0), max_failure_ratio: Some(0.01), min_rps: Some(1e6) };
    let v = judge_load(&reports, &strict);
    assert!(!v.pass);
    assert_eq!(v.failures.len(), 6, "p95, failures and rate, in each of the two reports: {:?}", v.failures);
}

#[test]
fn no_load_report_fails_the_rule_closed() {
    let v = judge_load(&[], &LoadLimits::default());
    assert!(!v.pass);
    assert!(v.summary.contains("no load test results"), "{}", v.summary);
}
