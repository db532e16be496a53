//! The canary judge's error rates, on canaries simulated request by request and measured the way
//! Prometheus would: a 1 m window every 15 s (so neighbouring measurements overlap), the default
//! analysis (8 intervals, p99 latency ≤ 1.2 × stable, error ratio < 2 % and ≤ 2 × stable, Mann-
//! Whitney at 0.05). Prints the false-failure rate over healthy canaries and the detection rates
//! of a 20 % p99 regression and of a 2× error-ratio regression.
//!
//! The random numbers come from a small seeded generator (splitmix64): a simulation needs them
//! reproducible, not cryptographic, and no dependency is worth adding for it.

use std::time::{Duration, Instant};

use flightdeck::metrics::analysis::{AnalysisSpec, Phase, default_metrics, judge_metric};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// Poisson by its normal approximation (the counts here are in the hundreds).
    fn poisson(&mut self, mean: f64) -> usize {
        (mean + mean.sqrt() * self.normal()).round().max(0.0) as usize
    }
}

/// One side's requests in one 15 s bucket: latencies (lognormal, median 120 ms) and errors.
struct Bucket {
    latencies: Vec<f64>,
    errors: usize,
}

fn bucket(rng: &mut Rng, rps: f64, slower: f64, error_ratio: f64) -> Bucket {
    let n = rng.poisson(rps * 15.0);
    let latencies = (0..n).map(|_| slower * 0.12 * (0.45 * rng.normal()).exp()).collect();
    let errors = (0..n).filter(|_| rng.uniform() < error_ratio).count();
    Bucket { latencies, errors }
}

/// p99 and error ratio over the last four buckets (the 1 m window), for each 15 s step.
fn measure(buckets: &[Bucket]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut p99, mut errors, mut requests) = (Vec::new(), Vec::new(), Vec::new());
    for end in 4..=buckets.len() {
        let window = &buckets[end - 4..end];
        let mut all: Vec<f64> = window.iter().flat_map(|b| b.latencies.iter().copied()).collect();
        all.sort_by(f64::total_cmp);
        let n = all.len();
        p99.push(if n == 0 { f64::NAN } else { all[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1] });
        let errs: usize = window.iter().map(|b| b.errors).sum();
        errors.push(if n == 0 { f64::NAN } else { errs as f64 / n as f64 });
        requests.push(window.last().map(|b| b.latencies.len() as f64).unwrap_or(0.0));
    }
    (p99, errors, requests)
}

fn spec() -> AnalysisSpec {
    AnalysisSpec {
        interval: Duration::from_secs(15),
        count: 8,
        failure_limit: 0,
        inconclusive_limit: 1,
        min_requests: 1.0,
        alpha: Some(0.05),
        metrics: default_metrics(),
        alert_matchers: Vec::new(),
        alerts_gate: false,
        since: None,
    }
}

/// The verdict on one simulated canary (the worst metric's phase).
fn verdict(rng: &mut Rng, a: &AnalysisSpec, slower: f64, error_factor: f64) -> Phase {
    const STEPS: usize = 8 + 3;
    let base_errors = 0.005;
    let canary: Vec<Bucket> = (0..STEPS).map(|_| bucket(rng, 10.0, slower, base_errors * error_factor)).collect();
    let stable: Vec<Bucket> = (0..STEPS).map(|_| bucket(rng, 40.0, 1.0, base_errors)).collect();
    let (cp, ce, creq) = measure(&canary);
    let (sp, se, _) = measure(&stable);
    let times = |v: &[f64]| v.iter().enumerate().map(|(i, x)| (i as i64 * 15, *x)).collect::<Vec<_>>();
    let end = (cp.len() as i64 - 1) * 15;
    let requests = times(&creq);
    let mut worst = Phase::Successful;
    for m in &a.metrics {
        let (c, s) = match m.unit.as_str() {
            "s" => (times(&cp), times(&sp)),
            "ratio" => (times(&ce), times(&se)),
            _ => continue,
        };
        let r = judge_metric(m, a, 0, end, 15, Ok(c), Ok(s), Ok(&requests), 4, String::new(), String::new());
        if r.phase == Phase::Failed && std::env::var_os("JUDGE_WHY").is_some() {
            eprintln!("{}: {}", m.name, r.reason.split(':').next().unwrap_or_default());
        }
        worst = worst.max(r.phase);
    }
    worst
}

fn rate(label: &str, n: usize, slower: f64, error_factor: f64, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let a = spec();
    let started = Instant::now();
    let failed = (0..n).filter(|_| verdict(&mut rng, &a, slower, error_factor) == Phase::Failed).count();
    let r = failed as f64 / n as f64;
    println!("{label:<48} {:>6.2} % Failed of {n} ({:.1} s)", r * 100.0, started.elapsed().as_secs_f64());
    r
}

fn main() {
    println!("canary judge, default analysis (8 × 15 s, 1 m windows), canary 10 req/s, stable 40 req/s");
    rate("healthy canaries (false failures)", 10_000, 1.0, 1.0, 1);
    rate("p99 latency 20 % worse (detection)", 2_000, 1.2, 1.0, 2);
    rate("error ratio 2× worse (detection)", 2_000, 1.0, 2.0, 3);
    rate("error ratio 4× worse (detection)", 2_000, 1.0, 4.0, 4);
}
