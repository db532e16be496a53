//! Load test results: k6's end-of-test summary (`--summary-export`, or the data a
//! `handleSummary` writes with `JSON.stringify`) with the thresholds as k6 judged them, and
//! Locust's stats (`--csv` writes `<prefix>_stats.csv`, `--json` prints one entry per request
//! name). Locust has no thresholds of its own: its 95th percentile, failure ratio and request
//! rate are judged against the limits the environment configures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ParsedReport;
use crate::findings::detect::Format;
use crate::logstore::sanitize::excerpt;

/// What one load test measured, and the thresholds its tool judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `k6` or `locust`.
    pub tool: String,
    pub requests: u64,
    pub failed_requests: u64,
    /// Failed requests over all requests (k6's `http_req_failed` rate).
    pub failure_ratio: Option<f64>,
    /// 95th percentile of the request duration, in milliseconds.
    pub p95_ms: Option<f64>,
    /// Requests per second over the test.
    pub rps: Option<f64>,
    /// k6's thresholds, each as k6 judged it. Locust writes none.
    pub thresholds: Vec<Threshold>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The metric, with its tags as written (`http_req_duration{expected_response:true}`).
    pub metric: String,
    /// The expression (`p(95)<500`).
    pub expression: String,
    pub passed: bool,
}

impl LoadSummary {
    pub fn failed_thresholds(&self) -> impl Iterator<Item = &Threshold> {
        self.thresholds.iter().filter(|t| !t.passed)
    }

    /// One line: requests, failures, p95 and rate, and the thresholds.
    pub fn text(&self) -> String {
        let mut parts = vec![format!("{} requests", self.requests)];
        if let Some(r) = self.failure_ratio {
            parts.push(format!("{:.2} % failed", r * 100.0));
        }
        if let Some(p) = self.p95_ms {
            parts.push(format!("p95 {p:.1} ms"));
        }
        if let Some(r) = self.rps {
            parts.push(format!("{r:.1} req/s"));
        }
        if !self.thresholds.is_empty() {
            let failed = self.failed_thresholds().count();
            parts.push(format!("{} of {} thresholds passed", self.thresholds.len() - failed, self.thresholds.len()));
        }
        parts.join(", ")
    }
}

fn report(shown_as: &str, format: Format, summary: LoadSummary) -> ParsedReport {
    ParsedReport { tool: summary.tool.clone(), load: Some(summary), ..ParsedReport::empty(shown_as, format) }
}

/// A metric name or threshold from the report, shown in verdicts: plain and short.
fn name(text: &str) -> String {
    excerpt(text, 120)
}

/// k6's summary. Two shapes: `--summary-export` puts a metric's values beside `thresholds`,
/// each `true` when the threshold was *crossed*; `handleSummary` data has `values` and
/// `thresholds: {expr: {ok}}`.
pub fn parse_k6(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    #[derive(Deserialize)]
    struct Summary {
        metrics: BTreeMap<String, serde_json::Value>,
    }
    let s: Summary = serde_json::from_slice(bytes).map_err(|e| super::json_problem(&e, "k6 summary"))?;
    let mut out = LoadSummary { tool: "k6".into(), ..LoadSummary::default() };
    let value = |metric: &str, key: &str| -> Option<f64> {
        let m = s.metrics.get(metric)?;
        m.get("values").unwrap_or(m).get(key)?.as_f64().filter(|v| v.is_finite())
    };
    out.requests = value("http_reqs", "count").map_or(0, |c| c.max(0.0) as u64);
    out.rps = value("http_reqs", "rate");
    out.p95_ms = value("http_req_duration", "p(95)");
    // A rate metric: `rate` in handleSummary data, `value` in the export.
    out.failure_ratio = value("http_req_failed", "rate").or_else(|| value("http_req_failed", "value"));
    // `passes` of http_req_failed counts requests that failed (the rate is of failures).
    out.failed_requests = value("http_req_failed", "passes").map_or(0, |c| c.max(0.0) as u64);
    for (metric, m) in &s.metrics {
        let Some(thresholds) = m.get("thresholds").and_then(|t| t.as_object()) else { continue };
        for (expression, judged) in thresholds {
            let passed = match judged {
                serde_json::Value::Bool(crossed) => !crossed,
                serde_json::Value::Object(o) => match o.get("ok") {
                    Some(serde_json::Value::Bool(ok)) => *ok,
                    _ => return Err(format!("threshold {} of {} has no `ok` verdict", name(expression), name(metric))),
                },
                _ => return Err(format!("threshold {} of {} is neither true/false nor {{ok}}", name(expression), name(metric))),
            };
            out.thresholds.push(Threshold { metric: name(metric), expression: name(expression), passed });
        }
    }
    Ok(report(shown_as, Format::K6, out))
}

/// Locust's `--json` output: one entry per request name, each with a histogram of response times
/// (rounded milliseconds → count).
pub fn parse_locust_json(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    #[derive(Deserialize)]
    struct Entry {
        num_requests: u64,
        num_failures: u64,
        start_time: f64,
        last_request_timestamp: Option<f64>,
        #[serde(default)]
        response_times: BTreeMap<String, u64>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| super::json_problem(&e, "Locust stats"))?;
    let mut histogram: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = LoadSummary { tool: "locust".into(), ..LoadSummary::default() };
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for e in &entries {
        out.requests = out.requests.saturating_add(e.num_requests);
        out.failed_requests = out.failed_requests.saturating_add(e.num_failures);
        for (ms, n) in &e.response_times {
            let ms: f64 = ms.parse().map_err(|_| format!("response time {} is not a number", name(ms)))?;
            *histogram.entry(ms.max(0.0) as u64).or_default() += n;
        }
        if e.start_time.is_finite() {
            first = first.min(e.start_time);
        }
        if let Some(l) = e.last_request_timestamp.filter(|l| l.is_finite()) {
            last = last.max(l);
        }
    }
    if out.requests > 0 {
        out.failure_ratio = Some(out.failed_requests as f64 / out.requests as f64);
        out.p95_ms = percentile(&histogram, out.requests, 0.95).map(|ms| ms as f64);
    }
    out.rps = (last > first).then(|| out.requests as f64 / (last - first));
    Ok(report(shown_as, Format::LocustJson, out))
}

/// The response time under which `share` of the requests fell, read from the top of the
/// histogram as Locust computes its percentiles.
fn percentile(histogram: &BTreeMap<u64, u64>, total: u64, share: f64) -> Option<u64> {
    let within = (total as f64 * share) as u64;
    let mut above = 0u64;
    for (ms, n) in histogram.iter().rev() {
        above = above.saturating_add(*n);
        if total.saturating_sub(above) <= within {
            return Some(*ms);
        }
    }
    histogram.keys().next().copied()
}

/// Locust's `_stats.csv`: one row per request name and an `Aggregated` row, which is judged.
pub fn parse_locust_csv(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the Locust stats are not UTF-8: {e}"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let column = |title: &str| header.iter().position(|h| *h == title).ok_or_else(|| format!("the Locust stats have no `{title}` column"));
    let (name_at, count_at, failures_at, p95_at, rps_at) =
        (column("Name")?, column("Request Count")?, column("Failure Count")?, column("95%")?, column("Requests/s")?);
    let aggregated = lines
        .map(|l| l.split(',').map(str::trim).collect::<Vec<_>>())
        .find(|row| row.get(name_at) == Some(&"Aggregated"))
        .ok_or("the Locust stats have no `Aggregated` row (was the test stopped before any request?)")?;
    let field = |at: usize| -> Result<f64, String> {
        let raw = aggregated.get(at).copied().unwrap_or_default();
        // Locust writes "N/A" for a percentile with no requests behind it.
        raw.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| format!("`{}` is not a number", name(raw)))
    };
    let mut out = LoadSummary { tool: "locust".into(), ..LoadSummary::default() };
    out.requests = field(count_at)? as u64;
    out.failed_requests = field(failures_at)? as u64;
    if out.requests > 0 {
        out.failure_ratio = Some(out.failed_requests as f64 / out.requests as f64);
        out.p95_ms = field(p95_at).ok();
    }
    out.rps = field(rps_at).ok();
    Ok(report(shown_as, Format::LocustCsv, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_is_read_from_the_top_of_the_histogram() {
        // 100 requests: 90 at 10 ms, 6 at 50 ms, 4 at 200 ms → 95 % fall at or under 50 ms.
        let h = BTreeMap::from([(10, 90), (50, 6), (200, 4)]);
        assert_eq!(percentile(&h, 100, 0.95), Some(50));
        assert_eq!(percentile(&h, 100, 0.5), Some(10));
        assert_eq!(percentile(&h, 100, 0.99), Some(200));
    }

    #[test]
    fn a_k6_threshold_true_in_the_export_was_crossed() {
        let export = br#"{"root_group":{},"metrics":{"http_req_duration":{"p(95)":12.5,"thresholds":{"p(95)<500":false,"p(99)<1":true}}}}"#;
        let p = parse_k6(export, "k6.json").expect("parsed");
        let t = &p.load.expect("load").thresholds;
        assert_eq!(t.iter().map(|t| (t.expression.as_str(), t.passed)).collect::<Vec<_>>(), [("p(95)<500", true), ("p(99)<1", false)]);
    }
}
