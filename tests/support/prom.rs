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

/// When a `flaky_proxy` fails: always, or for the next few connections.
#[derive(Default)]
pub struct Flaky {
    pub always: std::sync::atomic::AtomicBool,
    pub next: std::sync::atomic::AtomicUsize,
}

/// A TCP proxy in front of `target` that, while `flaky` says so, answers a new connection with
/// `503 Service Unavailable` instead (a load balancer in front of a Prometheus that is
/// restarting). Each analysis opens its own connections, so a change takes effect at the next.
pub fn flaky_proxy(target: u16, flaky: std::sync::Arc<Flaky>) -> u16 {
    use std::sync::atomic::Ordering;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let once = flaky.next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            if once || flaky.always.load(Ordering::SeqCst) {
                let mut client = client;
                let mut buf = [0u8; 8192];
                let _ = client.read(&mut buf);
                let _ = client.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nunavailable",
                );
                continue;
            }
            let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else { continue };
            let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else { continue };
            let (mut c1, mut u1) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// A tiny /metrics endpoint whose canary starts failing when told to.
pub fn live_target(errors: std::sync::Arc<std::sync::Mutex<bool>>) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let started = Instant::now();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut err_total = 0.0f64;
        let mut last = Instant::now();
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let t = started.elapsed().as_secs_f64() + 100.0;
            let bad = *errors.lock().unwrap();
            let dt = last.elapsed().as_secs_f64();
            last = Instant::now();
            if bad {
                err_total += 5.0 * dt;
            } else {
                err_total += 0.01 * dt;
            }
            let body = format!(
                "http_requests_total{{track=\"stable\",code=\"200\"}} {}\nhttp_requests_total{{track=\"stable\",code=\"500\"}} {}\nhttp_requests_total{{track=\"canary\",code=\"200\"}} {}\nhttp_requests_total{{track=\"canary\",code=\"500\"}} {}\n",
                10.0 * t,
                0.01 * t,
                10.0 * t,
                err_total
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A server that answers every request with a JSON body that never ends (a runaway query, or a
/// hostile endpoint), until the client hangs up. Returns the port and the bytes sent so far.
pub fn endless_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let counter = sent.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[";
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let series = "{\"metric\":{},\"values\":[[1,\"1\"]]},".repeat(2000);
                while s.write_all(series.as_bytes()).is_ok() {
                    counter.fetch_add(series.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    (port, sent)
}
