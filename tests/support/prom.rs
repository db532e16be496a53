//! A real Prometheus for tests: backfilled from an OpenMetrics fixture, or scraping a target, on a
//! free loopback port; stopped when dropped. Missing binaries fail with how to install them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prom {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    flightdeck::demo::lab::free_port().unwrap()
}

fn require(bin: &str) {
    let ok = Command::new(bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    assert!(ok, "`{bin}` is not installed; install it with: apt-get install -y --no-install-recommends prometheus");
}

/// Per-track traffic profile of the fixture (per second).
#[derive(Clone, Copy)]
pub struct Profile {
    /// Cumulative observations per second for le 0.05, 0.1, 0.25, 0.5, 1, 2.5, +Inf.
    pub buckets: [f64; 7],
    pub mean: f64,
    pub ok_rps: f64,
    pub err_rps: f64,
}

pub const STABLE: Profile = Profile { buckets: [5.0, 8.0, 9.8, 10.0, 10.0, 10.0, 10.0], mean: 0.08, ok_rps: 9.9, err_rps: 0.1 };
pub const SLOW_CANARY: Profile = Profile { buckets: [0.5, 1.0, 1.5, 1.8, 1.9, 2.0, 2.0], mean: 0.30, ok_rps: 1.9, err_rps: 0.1 };

pub const STEP: i64 = 15;
pub const POINTS: i64 = 121;
/// 2024-01-01T00:30:00Z: fixed so results do not depend on the clock.
pub const END: i64 = 1_704_069_000;

/// OpenMetrics for 30 minutes of both tracks (counters grow linearly so rates are exact).
pub fn openmetrics(stable: Profile, canary: Profile) -> String {
    let le = ["0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf"];
    let start = END - (POINTS - 1) * STEP;
    let mut w = String::new();
    w.push_str("# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n# UNIT http_request_duration_seconds seconds\n");
    for (track, p) in [("stable", stable), ("canary", canary)] {
        for i in 0..POINTS {
            let k = ((i + 100) * STEP) as f64;
            let ts = start + i * STEP;
            for (l, c) in le.iter().zip(p.buckets) {
                w.push_str(&format!("http_request_duration_seconds_bucket{{track=\"{track}\",le=\"{l}\"}} {} {ts}\n", c * k));
            }
            w.push_str(&format!("http_request_duration_seconds_count{{track=\"{track}\"}} {} {ts}\n", p.buckets[6] * k));
            w.push_str(&format!("http_request_duration_seconds_sum{{track=\"{track}\"}} {} {ts}\n", p.buckets[6] * p.mean * k));
        }
    }
    w.push_str("# HELP http_requests Requests served.\n# TYPE http_requests counter\n");
    for (track, p) in [("stable", stable), ("canary", canary)] {
        for (code, rps) in [("200", p.ok_rps), ("500", p.err_rps)] {
            for i in 0..POINTS {
                let k = ((i + 100) * STEP) as f64;
                w.push_str(&format!("http_requests_total{{track=\"{track}\",code=\"{code}\"}} {} {}\n", rps * k, start + i * STEP));
            }
        }
    }
    w.push_str("# EOF\n");
    w
}

fn start(dir: tempfile::TempDir, config: &str, extra: &[&str]) -> Prom {
    require("prometheus");
    let port = free_port();
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prom = Prom { port, child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !flightdeck::demo::lab::prometheus_ready(port) {
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    prom
}

/// A Prometheus holding the fixture's 30 minutes.
pub fn backfilled(stable: Profile, canary: Profile) -> Prom {
    require("promtool");
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("fixture.om");
    std::fs::write(&om, openmetrics(stable, canary)).unwrap();
    let st = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&om)
        .arg(dir.path().join("data"))
        .status()
        .expect("run promtool");
    assert!(st.success(), "promtool could not backfill the fixture");
    start(dir, "", &[])
}

/// A Prometheus scraping `target` (host:port) every second.
pub fn scraping(target: &str) -> Prom {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{target}']\n"
    );
    start(dir, &cfg, &[])
}

/// A fake HTTP server answering every request with `response` (for failure modes). `None` accepts
/// connections and never answers.
pub fn fake_server(response: Option<&'static str>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            match response {
                Some(r) => {
                    let mut s = s;
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(r.as_bytes());
                }
                None => held.push(s), // hang: keep the socket open, say nothing
            }
        }
    });
    port
}
