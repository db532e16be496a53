//! The demo service (`flightdeck demo-service`, hidden): a tiny payments API that answers after a
//! realistic, random delay and exposes real Prometheus metrics — a latency histogram and a request
//! counter by status code. The stable and the canary version are two processes of it; the canary's
//! behaviour can be changed at `/fault/{healthy,slow,errors}`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;

use super::fault::Fault;
use super::http::{read_request, respond};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 15] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Stats {
    /// Cumulative per bucket, then +Inf.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    ok: u64,
    errors: u64,
}

impl Stats {
    fn observe(&mut self, secs: f64, ok: bool) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i] += 1;
            }
        }
        self.buckets[BUCKETS.len()] += 1;
        self.sum += secs;
        if ok {
            self.ok += 1;
        } else {
            self.errors += 1;
        }
    }

    /// The Prometheus text exposition format.
    fn exposition(&self, version: &str, fault: Fault) -> String {
        let mut w = String::with_capacity(2048);
        w.push_str("# HELP http_request_duration_seconds Time to answer a request.\n");
        w.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(w, "http_request_duration_seconds_bucket{{le=\"{le}\"}} {}", self.buckets[i]);
        }
        let total = self.buckets[BUCKETS.len()];
        let _ = writeln!(w, "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(w, "http_request_duration_seconds_sum {}", self.sum);
        let _ = writeln!(w, "http_request_duration_seconds_count {total}");
        w.push_str("# HELP http_requests_total Requests answered, by status code.\n# TYPE http_requests_total counter\n");
        let _ = writeln!(w, "http_requests_total{{code=\"200\"}} {}", self.ok);
        let _ = writeln!(w, "http_requests_total{{code=\"500\"}} {}", self.errors);
        w.push_str("# HELP demo_build_info The running version.\n# TYPE demo_build_info gauge\n");
        let _ = writeln!(w, "demo_build_info{{version=\"{version}\"}} 1");
        w.push_str("# HELP demo_fault_injected Whether a fault is injected (by kind).\n# TYPE demo_fault_injected gauge\n");
        for f in Fault::ALL {
            let _ = writeln!(w, "demo_fault_injected{{kind=\"{f}\"}} {}", u8::from(f == fault));
        }
        w
    }
}

/// xorshift64*: plenty for jitter, and no dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Rng(t ^ (u64::from(std::process::id()) << 32) | 1)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    stats: Mutex<Stats>,
    fault: Mutex<Fault>,
    rng: Mutex<Rng>,
    version: String,
}

impl Shared {
    /// How long a request takes and whether it fails: 15 ms plus an exponential tail (mean 25 ms,
    /// so p99 ≈ 130 ms), 0.2 % errors; then the injected fault.
    fn plan(&self) -> (Duration, bool) {
        let fault = self.fault.lock().map(|f| *f).unwrap_or_default();
        let (u, v) = match self.rng.lock() {
            Ok(mut r) => (r.next(), r.next()),
            Err(_) => (0.5, 0.5),
        };
        let mut ms = 15.0 - 25.0 * (1.0 - u).ln();
        let mut fail = v < 0.002;
        match fault {
            Fault::Healthy => {}
            Fault::Slow => ms += Fault::SLOW_MS as f64,
            Fault::Errors => fail = v < Fault::ERROR_SHARE,
        }
        (Duration::from_micros((ms.min(9_000.0) * 1000.0) as u64), fail)
    }
}

/// Serves until the process is ended. Prints `listening ADDR` on stdout once bound, so whoever
/// started it on port 0 learns the port.
pub fn run(listen: SocketAddr, version: String) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        println!("listening {addr}");
        let shared = Arc::new(Shared { stats: Mutex::default(), fault: Mutex::default(), rng: Mutex::new(Rng::seeded()), version });
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(_) => continue,
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let Ok(Some(req)) = read_request(&mut stream).await else { return };
                let _ = handle(&mut stream, &req, &shared).await;
            });
        }
    })
}

async fn handle(stream: &mut tokio::net::TcpStream, req: &super::http::Request, shared: &Shared) -> std::io::Result<()> {
    let path = req.path.split('?').next().unwrap_or("/");
    if path == "/metrics" {
        let fault = shared.fault.lock().map(|f| *f).unwrap_or_default();
        let body = shared.stats.lock().map(|s| s.exposition(&shared.version, fault)).unwrap_or_default();
        return respond(stream, 200, "text/plain; version=0.0.4", body.as_bytes()).await;
    }
    if let Some(kind) = path.strip_prefix("/fault") {
        let kind = kind.trim_start_matches('/');
        if kind.is_empty() {
            let fault = shared.fault.lock().map(|f| *f).unwrap_or_default();
            return respond(stream, 200, "text/plain", format!("{fault}\n").as_bytes()).await;
        }
        if req.method != "POST" && req.method != "PUT" {
            return respond(stream, 405, "text/plain", b"use POST to change the fault\n").await;
        }
        let Some(fault) = Fault::parse(kind) else {
            return respond(stream, 404, "text/plain", b"faults: healthy, slow, errors\n").await;
        };
        if let Ok(mut f) = shared.fault.lock() {
            *f = fault;
        }
        return respond(stream, 200, "text/plain", format!("{fault}\n").as_bytes()).await;
    }
    if path == "/healthz" {
        return respond(stream, 200, "text/plain", b"ok\n").await;
    }
    let started = Instant::now();
    let (delay, fail) = shared.plan();
    tokio::time::sleep(delay).await;
    let status = if fail { 500 } else { 200 };
    let body = format!("payments-api {}\n", shared.version);
    let result = respond(stream, status, "text/plain", body.as_bytes()).await;
    if let Ok(mut s) = shared.stats.lock() {
        s.observe(started.elapsed().as_secs_f64(), !fail);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut s = Stats::default();
        s.observe(0.02, true);
        s.observe(0.3, false);
        let text = s.exposition("1.0", Fault::Slow);
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.025\"} 1\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("http_requests_total{code=\"500\"} 1\n"));
        assert!(text.contains("demo_fault_injected{kind=\"slow\"} 1\n"));
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng(42);
        let mean = (0..10_000).map(|_| r.next()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
