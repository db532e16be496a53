//! The canary judge's error rates, on canaries simulated request by request and measured the way
//! Prometheus would: a 1 m window every 15 s (so neighbouring measurements overlap), and judged by
//! the default analysis exactly as the controller judges it, interval after interval. Prints, at
//! two traffic levels, the false-failure rate over healthy canaries, how often a change inside
//! the tolerance fails, the detection rates of a 20 % p99 regression and of a 2× error-ratio
//! regression, and how long a verdict takes. `JUDGE_SOURCE=cloudwatch` measures as CloudWatch
//! does instead: one statistic per minute (no overlap), judged by a CloudWatch service's default
//! analysis (ten minutes).
//!
//! The random numbers come from a small seeded generator (splitmix64): a simulation needs them
//! reproducible, not cryptographic, and no dependency is worth adding for it.

use std::time::Instant;

use flightdeck::metrics::analysis::{AnalysisSpec, Phase, default_metrics, default_metrics_from, judge_metric};

/// How the series are measured: Prometheus' 1 m rate window every 15 s, or CloudWatch's
/// one-minute statistics.
#[derive(Clone, Copy)]
struct Source {
    /// Seconds between measurements (a bucket of requests lasts as long).
    step: i64,
    /// Buckets a measurement covers.
    window: usize,
    cloudwatch: bool,
}

impl Source {
    fn chosen() -> Source {
        match std::env::var("JUDGE_SOURCE").as_deref() {
            Ok("cloudwatch") => Source { step: 60, window: 1, cloudwatch: true },
            _ => Source { step: 15, window: 4, cloudwatch: false },
        }
    }
}

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

/// One side's requests in one bucket: latencies (lognormal, median 120 ms) and errors.
struct Bucket {
    latencies: Vec<f64>,
    errors: usize,
}

fn bucket(rng: &mut Rng, seconds: f64, rps: f64, slower: f64, error_ratio: f64) -> Bucket {
    let n = rng.poisson(rps * seconds);
    let latencies = (0..n).map(|_| slower * 0.12 * (0.45 * rng.normal()).exp()).collect();
    let errors = (0..n).filter(|_| rng.uniform() < error_ratio).count();
    Bucket { latencies, errors }
}

/// p99 and error ratio over the last `width` buckets (the window), for each step.
fn measure(buckets: &[Bucket], width: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut p99, mut errors, mut requests) = (Vec::new(), Vec::new(), Vec::new());
    for end in width..=buckets.len() {
        let window = &buckets[end - width..end];
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

/// The default analysis, as a service without settings of its own gets it.
fn spec(source: Source) -> AnalysisSpec {
    if source.cloudwatch {
        let metrics = default_metrics_from(flightdeck::metrics::cloudwatch::builtin);
        AnalysisSpec { metrics, count: 10, interval: std::time::Duration::from_secs(60), ..AnalysisSpec::default() }
    } else {
        AnalysisSpec { metrics: default_metrics(), ..AnalysisSpec::default() }
    }
}

/// One simulated canary and its stable: the measured series, 8 intervals of 15 s.
struct Simulated {
    canary: (Vec<f64>, Vec<f64>, Vec<f64>),
    stable: (Vec<f64>, Vec<f64>, Vec<f64>),
}

/// Traffic of the canary (req/s); stable gets four times as much (a 20 % canary).
fn simulate(rng: &mut Rng, source: Source, a: &AnalysisSpec, rps: f64, slower: f64, error_factor: f64) -> Simulated {
    let steps = a.count + source.window - 1;
    let base_errors = 0.005;
    let secs = source.step as f64;
    let canary: Vec<Bucket> = (0..steps).map(|_| bucket(rng, secs, rps, slower, base_errors * error_factor)).collect();
    let stable: Vec<Bucket> = (0..steps).map(|_| bucket(rng, secs, 4.0 * rps, 1.0, base_errors)).collect();
    Simulated { canary: measure(&canary, source.window), stable: measure(&stable, source.window) }
}

/// The verdict after the first `intervals` intervals, judged as the controller judges an
/// analysis under way (its count grows with the time elapsed).
fn judge(source: Source, a: &AnalysisSpec, sim: &Simulated, intervals: usize) -> Phase {
    let step = source.step;
    let times = |v: &[f64]| v.iter().take(intervals).enumerate().map(|(i, x)| (i as i64 * step, *x)).collect::<Vec<_>>();
    let end = (intervals as i64 - 1) * step;
    let requests = times(&sim.canary.2);
    let now = a.clone();
    let mut results = Vec::new();
    for m in &a.metrics {
        let (c, s) = match m.unit.as_str() {
            "s" => (times(&sim.canary.0), times(&sim.stable.0)),
            "ratio" => (times(&sim.canary.1), times(&sim.stable.1)),
            _ => continue,
        };
        let r = judge_metric(m, &now, 0, end, step, Ok(c), Ok(s), Ok(&requests), source.window, String::new(), String::new());
        if r.phase == Phase::Failed && std::env::var_os("JUDGE_WHY").is_some() {
            eprintln!("{}: {}", m.name, r.reason.split(':').next().unwrap_or_default());
        }
        results.push(r);
    }
    // The analysis' verdict as the controller gets it: critical metrics, then the score.
    flightdeck::metrics::verdict(&results, &now, &[], None).0
}

/// Simulates `n` canaries; prints how many the analysis failed at its end, how many it failed
/// at any interval on the way (what a controller aborting on the first Failed does), and when.
fn rate(source: Source, label: &str, n: usize, rps: f64, slower: f64, error_factor: f64, seed: u64) {
    let mut rng = Rng(seed);
    let a = spec(source);
    let started = Instant::now();
    let (mut at_end, mut first_failure) = (0, Vec::new());
    for _ in 0..n {
        let sim = simulate(&mut rng, source, &a, rps, slower, error_factor);
        if judge(source, &a, &sim, a.count) == Phase::Failed {
            at_end += 1;
        }
        if let Some(k) = (1..=a.count).find(|k| judge(source, &a, &sim, *k) == Phase::Failed) {
            first_failure.push(k * source.step as usize);
        }
    }
    first_failure.sort_unstable();
    let pct = |k: usize| 100.0 * k as f64 / n as f64;
    let at = |q: f64| first_failure.get(((first_failure.len() as f64 * q) as usize).min(first_failure.len().saturating_sub(1))).copied();
    let when = match (at(0.5), at(0.95)) {
        (Some(p50), Some(p95)) => format!("first Failed after {p50} s median, {p95} s p95"),
        _ => "never Failed".into(),
    };
    println!(
        "{label:<36} {rps:>4} req/s  {:>6.2} % at the end, {:>6.2} % at any interval of {n}; {when} ({:.0} s)",
        pct(at_end),
        pct(first_failure.len()),
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let source = Source::chosen();
    let a = spec(source);
    println!(
        "canary judge, default {} analysis ({} × {} s, 1 m windows, 0.5 % errors, lognormal latency), stable at 4 × the canary's traffic",
        if source.cloudwatch { "CloudWatch" } else { "Prometheus" },
        a.count,
        a.interval.as_secs()
    );
    let healthy = std::env::var("JUDGE_HEALTHY").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    for rps in [10.0, 20.0, 50.0] {
        rate(source, "healthy canaries (false failures)", healthy, rps, 1.0, 1.0, 1);
        rate(source, "p99 latency 1 % worse (inside tolerance)", 2_000, rps, 1.01, 1.0, 5);
        rate(source, "p99 latency 20 % worse (detection)", 2_000, rps, 1.2, 1.0, 2);
        rate(source, "error ratio 2× worse (detection)", 2_000, rps, 1.0, 2.0, 3);
    }
}
