//! The canary analysis: per metric, canary and stable measured at each interval over the window;
//! absolute and relative conditions, a minimum of traffic, failure and inconclusive limits, and a
//! Mann-Whitney judge over the samples. Every measurement keeps its value, time, phase and the
//! query behind it, so "why did it fail?" always has an answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::judge::{DEFAULT_TOLERANCE, judge_metric};
use super::source::{QueryError, Source};

/// Where the analysis stands, as Argo Rollouts' AnalysisRun phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    Successful,
    Running,
    Inconclusive,
    Error,
    Failed,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Successful => "Successful",
            Phase::Running => "Running",
            Phase::Inconclusive => "Inconclusive",
            Phase::Error => "Error",
            Phase::Failed => "Failed",
        }
    }
}

/// One metric of a service's analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSpec {
    pub name: String,
    /// PromQL with `{selector}`, `{window}`, `{service}`, `{namespace}` placeholders.
    pub query: String,
    /// Absolute conditions: the canary's value must stay below `max` / above `min`.
    pub max: Option<f64>,
    pub min: Option<f64>,
    /// Relative condition: canary ≤ max_ratio × stable.
    pub max_ratio: Option<f64>,
    /// Larger is worse (latency, errors); the statistical judge looks for an increase.
    pub higher_is_worse: bool,
    /// Shown with values (`s`, `ratio`, `req/s`).
    pub unit: String,
    /// Share of the canary score.
    pub weight: f64,
    /// A failure fails the analysis whatever the score.
    pub critical: bool,
    /// Shown, never decisive.
    pub dry_run: bool,
}

impl MetricSpec {
    /// A built-in metric (`latency_p99`, `error_ratio`…) named `label`, with its conditions.
    pub fn built_in(query: &str, label: &str, max: Option<f64>, max_ratio: Option<f64>) -> Option<MetricSpec> {
        MetricSpec::built_in_from(builtin, query, label, max, max_ratio)
    }

    /// Like `built_in`, from another table of built-ins (CloudWatch's).
    pub fn built_in_from(table: Builtins, query: &str, label: &str, max: Option<f64>, max_ratio: Option<f64>) -> Option<MetricSpec> {
        let (q, unit, higher_is_worse) = table(query)?;
        Some(MetricSpec {
            name: label.into(),
            query: q.into(),
            max,
            max_ratio,
            higher_is_worse,
            unit: unit.into(),
            ..MetricSpec::default()
        })
    }
}

impl Default for MetricSpec {
    fn default() -> Self {
        MetricSpec {
            name: String::new(),
            query: String::new(),
            max: None,
            min: None,
            max_ratio: None,
            higher_is_worse: true,
            unit: String::new(),
            weight: 1.0,
            critical: false,
            dry_run: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisSpec {
    pub interval: Duration,
    pub count: usize,
    pub failure_limit: usize,
    pub inconclusive_limit: usize,
    /// Below this many canary requests in the rate window ending at a measurement, it is
    /// inconclusive.
    pub min_requests: f64,
    /// Significance level of the Mann-Whitney judge (None: off).
    pub alpha: Option<f64>,
    pub metrics: Vec<MetricSpec>,
    /// Firing alerts matching these labels fail the analysis.
    pub alert_matchers: Vec<(String, String)>,
    pub alerts_gate: bool,
    /// When the judged attempt began (unix seconds): samples and alerts from before it say
    /// nothing about it (a retry is not judged on the failure that aborted the last attempt).
    pub since: Option<i64>,
    /// When this analysis began, if later than `since` (an analysis step): only its own
    /// intervals are judged, while alerts count from the start of the attempt.
    pub judge_from: Option<i64>,
    /// Intervals from the first `initial_delay` after `since` are not judged (a canary warming
    /// its caches).
    pub initial_delay: Duration,
    /// Analyses in a row that could not be taken before the verdict becomes Error.
    pub consecutive_error_limit: usize,
    /// Canary score thresholds (0–100).
    pub pass_score: f64,
    pub marginal_score: f64,
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        AnalysisSpec {
            interval: Duration::from_secs(15),
            count: DEFAULT_COUNT,
            failure_limit: 0,
            inconclusive_limit: 1,
            min_requests: 1.0,
            alpha: Some(0.05),
            metrics: default_metrics(),
            alert_matchers: Vec::new(),
            alerts_gate: false,
            since: None,
            judge_from: None,
            initial_delay: Duration::ZERO,
            consecutive_error_limit: 4,
            pass_score: 95.0,
            marginal_score: 75.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub namespace: String,
    pub canary: String,
    pub stable: String,
    /// Rate window, e.g. `1m`.
    pub window: String,
    /// Query counting requests (for the traffic minimum).
    pub requests_query: String,
    pub analysis: AnalysisSpec,
}

/// What one query point said, kept distinct: no data is not zero, NaN is not healthy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value")]
pub enum Reading {
    Value(f64),
    NoData,
    NaN,
    PosInf,
    NegInf,
}

impl Reading {
    pub fn of(v: Option<f64>) -> Reading {
        match v {
            None => Reading::NoData,
            Some(v) if v.is_nan() => Reading::NaN,
            Some(v) if v == f64::INFINITY => Reading::PosInf,
            Some(v) if v == f64::NEG_INFINITY => Reading::NegInf,
            Some(v) => Reading::Value(v),
        }
    }
    pub fn value(self) -> Option<f64> {
        if let Reading::Value(v) = self { Some(v) } else { None }
    }
    pub fn describe(self, unit: &str) -> String {
        match self {
            Reading::Value(v) => format_value(v, unit),
            Reading::NoData => "no data".into(),
            Reading::NaN => "NaN".into(),
            Reading::PosInf => "+Inf".into(),
            Reading::NegInf => "-Inf".into(),
        }
    }
}

pub fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "s" if v < 1.0 => format!("{:.1}ms", v * 1000.0),
        "s" => format!("{v:.3}s"),
        "ratio" => format!("{:.2}%", v * 100.0),
        "req/s" => format!("{v:.1} req/s"),
        _ => format!("{v:.4}"),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Unix seconds.
    pub time: i64,
    pub canary: Reading,
    pub stable: Reading,
    pub requests: Option<f64>,
    pub phase: Phase,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricResult {
    pub name: String,
    pub unit: String,
    pub phase: Phase,
    pub reason: String,
    pub canary_query: String,
    pub stable_query: String,
    pub measurements: Vec<Measurement>,
    /// Mann-Whitney p-value for "canary worse than stable" over the window.
    pub p_value: Option<f64>,
    pub condition: String,
    /// The numeric limits, for drawing them.
    pub max: Option<f64>,
    pub max_ratio: Option<f64>,
    /// Whether it has a condition to judge (a traffic volume is only observed).
    pub judged: bool,
    pub weight: f64,
    pub critical: bool,
    pub dry_run: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FiringAlert {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalysisResult {
    pub service: String,
    pub phase: Phase,
    pub reason: String,
    pub metrics: Vec<MetricResult>,
    pub alerts: Vec<FiringAlert>,
    /// Unix seconds of the last point considered.
    pub end: i64,
    /// The canary score (0–100) once every deciding metric has a verdict.
    pub score: Option<f64>,
}

impl AnalysisResult {
    /// The canary's latest error ratio minus stable's (both from the same interval), if the
    /// analysis has an error-ratio metric with both values.
    pub fn error_delta(&self) -> Option<f64> {
        let m = self.metrics.iter().find(|m| m.unit == "ratio")?;
        m.measurements.iter().rev().find_map(|x| Some(x.canary.value()? - x.stable.value()?))
    }
}

/// Fills the placeholders of a query template.
pub fn render(template: &str, svc: &ServiceSpec, selector: &str) -> String {
    template
        .replace("{selector}", selector)
        .replace("{window}", &svc.window)
        .replace("{service}", &svc.name)
        .replace("{namespace}", &svc.namespace)
}

/// How the series of one query become one value per time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Combine {
    /// The worst series decides: the highest where higher is worse, else the lowest (a healthy
    /// pod listed first never hides a bad one).
    Worst { higher_is_worse: bool },
    /// Counts add up (requests of every canary pod).
    Sum,
}

/// The points of a range query, by time, with every series it returned combined as `how` says;
/// and how many series there were.
async fn range(
    source: &Source,
    client: &prometheus_http_query::Client,
    query: &str,
    start: i64,
    end: i64,
    step: f64,
    how: Combine,
) -> Result<(Vec<(i64, f64)>, usize), QueryError> {
    let res: prometheus_http_query::response::PromqlResult = super::fetch::with_retries(source, query, || async {
        client.query_range(query, start, end, step).get_raw().await.map_err(|e| source.explain(e, query))
    })
    .await?;
    let data = res.data();
    let Some(m) = data.as_matrix() else {
        return Err(QueryError::Garbage { detail: "a range query did not return a matrix".into() });
    };
    let mut by_time: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    for series in m {
        for p in series.samples() {
            let (t, v) = (p.timestamp().round() as i64, p.value());
            by_time
                .entry(t)
                .and_modify(|acc| {
                    *acc = match how {
                        Combine::Sum => *acc + v,
                        // NaN never wins over a number: it says nothing about that series.
                        Combine::Worst { .. } if v.is_nan() => *acc,
                        Combine::Worst { .. } if acc.is_nan() => v,
                        Combine::Worst { higher_is_worse: true } => acc.max(v),
                        Combine::Worst { higher_is_worse: false } => acc.min(v),
                    }
                })
                .or_insert(v);
        }
    }
    Ok((by_time.into_iter().collect(), m.len()))
}

/// Where an analysis' measurements come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Backend {
    Prometheus(Source),
    CloudWatch(super::cloudwatch::CloudWatch),
}

impl From<Source> for Backend {
    fn from(source: Source) -> Backend {
        Backend::Prometheus(source)
    }
}

impl Backend {
    pub fn name(&self) -> &str {
        match self {
            Backend::Prometheus(s) => &s.name,
            Backend::CloudWatch(c) => &c.name,
        }
    }
}

/// Runs the analysis for the `count` intervals ending at `end` (unix seconds).
pub async fn analyse(backend: &Backend, svc: &ServiceSpec, end: i64) -> AnalysisResult {
    analyse_with_history(backend, svc, end, 0).await
}

/// Like `analyse`, and also returns up to `history` earlier points per metric for charts. The
/// verdict still judges only the last `count` intervals.
pub async fn analyse_with_history(backend: &Backend, svc: &ServiceSpec, end: i64, history: usize) -> AnalysisResult {
    match backend {
        Backend::Prometheus(source) => from_prometheus(source, svc, end, history).await,
        Backend::CloudWatch(cw) => super::cloudwatch::analyse(cw, svc, end, history).await,
    }
}

/// The times an analysis measures at: every `step` seconds from `start` to its end; the
/// statistical judge takes every `stride`-th (samples are independent only when their rate
/// windows do not overlap).
#[derive(Clone, Copy)]
pub(super) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub stride: usize,
}

impl Grid {
    pub(super) fn of(svc: &ServiceSpec, end: i64, history: usize) -> Grid {
        let a = &svc.analysis;
        let step = a.interval.as_secs().max(1) as i64;
        let start = end - step * (a.count.max(history).max(1) as i64 - 1);
        let window = crate::util::parse_duration(&svc.window).map(|d| d.as_secs() as i64).unwrap_or(step);
        let stride = ((window + step - 1) / step).max(1) as usize;
        Grid { start, end, step, stride }
    }
}

/// One metric's answers: canary's and stable's points with how many series each had, and the
/// queries behind them.
pub(super) type Answer = (Result<(Vec<(i64, f64)>, usize), QueryError>, Result<(Vec<(i64, f64)>, usize), QueryError>, String, String);

async fn from_prometheus(source: &Source, svc: &ServiceSpec, end: i64, history: usize) -> AnalysisResult {
    let a = &svc.analysis;
    let grid = Grid::of(svc, end, history);
    let (start, step) = (grid.start, grid.step);
    let (client, http) = match source.http().and_then(|http| Ok((source.client()?, http))) {
        Ok(c) => c,
        Err(e) => return failed_all(svc, end, Phase::Error, e.to_string()),
    };
    let requests_q = render(&svc.requests_query, svc, &svc.canary);
    let requests = range(source, &client, &requests_q, start, end, step as f64, Combine::Sum);
    let queries = a.metrics.iter().map(|m| {
        let cq = render(&m.query, svc, &svc.canary);
        let sq = render(&m.query, svc, &svc.stable);
        let how = Combine::Worst { higher_is_worse: m.higher_is_worse };
        let client = &client;
        async move {
            let (c, s) = futures::join!(
                range(source, client, &cq, start, end, step as f64, how),
                range(source, client, &sq, start, end, step as f64, how)
            );
            (c, s, cq, sq)
        }
    });
    let alerts = async { if a.alert_matchers.is_empty() { Ok(Vec::new()) } else { super::fetch::alerts(source, &http).await } };
    // Every query of the analysis at once, the alerts included, under one deadline.
    let everything = futures::future::join3(requests, futures::future::join_all(queries), alerts);
    let (requests, answers, alerts) = match tokio::time::timeout(source.timeout, everything).await {
        Ok(answers) => answers,
        Err(_) => {
            let why = format!("Prometheus did not answer within {}s (one deadline for the whole analysis)", source.timeout.as_secs());
            return failed_all(svc, end, Phase::Error, why);
        }
    };
    let alerts = alerts.map(|list| firing(a, list)).map_err(|e| e.to_string());
    conclude(svc, grid, requests.map(|(pts, _)| pts), answers, alerts)
}

/// Judges every metric from its answers and gives the verdict.
pub(super) fn conclude(
    svc: &ServiceSpec,
    grid: Grid,
    requests: Result<Vec<(i64, f64)>, QueryError>,
    answers: Vec<Answer>,
    alerts: Result<Vec<FiringAlert>, String>,
) -> AnalysisResult {
    let a = &svc.analysis;
    let Grid { start, end, step, stride } = grid;
    let mut metrics = Vec::new();
    for (m, (c, s, cq, sq)) in a.metrics.iter().zip(answers) {
        let series = c.as_ref().map(|(_, n)| *n).unwrap_or(0);
        let mut r = judge_metric(m, a, start, end, step, c.map(|(p, _)| p), s.map(|(p, _)| p), requests.as_ref(), stride, cq, sq);
        if series > 1 {
            r.reason.push_str(&format!(" ({series} canary series: the worst decides)"));
        }
        metrics.push(r);
    }
    let (alerts, alert_problem) = match alerts {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let (phase, reason, score) = super::score::verdict(&metrics, a, &alerts, alert_problem);
    AnalysisResult { service: svc.name.clone(), phase, reason, metrics, alerts, end, score }
}

/// The firing alerts that match the analysis' labels and began during the judged attempt.
fn firing(a: &AnalysisSpec, list: Vec<prometheus_http_query::response::Alert>) -> Vec<FiringAlert> {
    let mut out = Vec::new();
    for al in list {
        if !al.state().is_firing() {
            continue;
        }
        let labels = al.labels();
        // An alert that began before this attempt is about the previous one.
        let earlier = a.since.is_some_and(|since| al.active_at().unix_timestamp() < since);
        if !earlier && a.alert_matchers.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            let mut l: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            l.sort();
            out.push(FiringAlert {
                name: labels.get("alertname").cloned().unwrap_or_default(),
                labels: l,
                summary: al.annotations().get("summary").cloned().unwrap_or_default(),
            });
        }
    }
    out
}

pub(super) fn failed_all(svc: &ServiceSpec, end: i64, phase: Phase, reason: String) -> AnalysisResult {
    AnalysisResult { service: svc.name.clone(), phase, reason, metrics: Vec::new(), alerts: Vec::new(), end, score: None }
}

/// The built-in query templates for the common shapes.
pub fn builtin(name: &str) -> Option<(&'static str, &'static str, bool)> {
    // (query, unit, higher_is_worse)
    Some(match name {
        "latency_p50" => {
            ("histogram_quantile(0.50, sum by (le) (rate(http_request_duration_seconds_bucket{{selector}}[{window}])))", "s", true)
        }
        "latency_p95" => {
            ("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{selector}}[{window}])))", "s", true)
        }
        "latency_p99" => {
            ("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{selector}}[{window}])))", "s", true)
        }
        "error_ratio" => (
            "sum(rate(http_requests_total{{selector},code=~\"5..\"}[{window}])) / sum(rate(http_requests_total{{selector}}[{window}]))",
            "ratio",
            true,
        ),
        "request_rate" => ("sum(rate(http_requests_total{{selector}}[{window}]))", "req/s", false),
        _ => return None,
    })
}

/// Intervals in an analysis by default: ten minutes at 15 s, so that ten independent 1 m
/// windows judge the relative conditions (two minutes of data cannot tell a 20 % regression
/// from noise at ordinary traffic; see the judge's benchmark).
pub const DEFAULT_COUNT: usize = 40;

/// Requests counted per interval for the traffic minimum.
pub const DEFAULT_REQUESTS_QUERY: &str = "sum(increase(http_requests_total{{selector}}[{window}]))";

/// The default analysis when a service names none: p99 no more than 10 % over stable, error
/// ratio under 2 % and no more than 1.5 × stable's (so that a 20 % slower p99 or twice the errors
/// are caught), request rate observed.
pub fn default_metrics() -> Vec<MetricSpec> {
    default_metrics_from(builtin)
}

/// A table of built-in metrics: name → (query, unit, higher is worse).
pub type Builtins = fn(&str) -> Option<(&'static str, &'static str, bool)>;

/// The default analysis, with the queries of `table`.
pub fn default_metrics_from(table: Builtins) -> Vec<MetricSpec> {
    let b = |name: &str, label: &str, max: Option<f64>, ratio: Option<f64>| {
        MetricSpec::built_in_from(table, name, label, max, ratio)
            .unwrap_or_else(|| MetricSpec { name: label.into(), ..MetricSpec::default() })
    };
    vec![
        b("latency_p99", "p99 latency", None, Some(1.1)),
        b("error_ratio", "error ratio", Some(0.02), Some(1.5)),
        b("request_rate", "request rate", None, None),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::judge::judge_point;
    use super::*;

    fn metric() -> MetricSpec {
        MetricSpec {
            name: "p99".into(),
            query: String::new(),
            max: Some(0.25),
            min: None,
            max_ratio: Some(1.2),
            higher_is_worse: true,
            unit: "s".into(),
            ..MetricSpec::default()
        }
    }
    fn spec() -> AnalysisSpec {
        AnalysisSpec { count: 4, min_requests: 10.0, alpha: None, metrics: vec![], ..AnalysisSpec::default() }
    }

    #[test]
    fn each_kind_of_reading_is_told_apart() {
        let (m, a) = (metric(), spec());
        assert_eq!(judge_point(&m, &a, Reading::Value(0.1), Reading::Value(0.1), Ok(100.0)).0, Phase::Successful);
        assert_eq!(judge_point(&m, &a, Reading::Value(0.3), Reading::Value(0.3), Ok(100.0)).0, Phase::Failed, "absolute");
        // One interval above the ratio is noted, not a failure: the ratio is judged over the analysis.
        let (p, why) = judge_point(&m, &a, Reading::Value(0.2), Reading::Value(0.1), Ok(100.0));
        assert_eq!(p, Phase::Successful);
        assert!(why.contains("in this interval"), "{why}");
        let (p, why) = judge_point(&m, &a, Reading::NaN, Reading::Value(0.1), Ok(100.0));
        assert_eq!(p, Phase::Inconclusive);
        assert!(why.contains("NaN"));
        assert!(judge_point(&m, &a, Reading::NoData, Reading::Value(0.1), Ok(100.0)).1.contains("no data"));
        assert_eq!(judge_point(&m, &a, Reading::PosInf, Reading::Value(0.1), Ok(100.0)).0, Phase::Failed);
        let (p, why) = judge_point(&m, &a, Reading::Value(0.01), Reading::Value(0.01), Ok(2.0));
        assert_eq!(p, Phase::Inconclusive, "no traffic is not healthy");
        assert!(why.contains("no traffic"));
        // Without a request count the traffic minimum cannot be checked: never Successful.
        let (p, why) = judge_point(&m, &a, Reading::Value(0.01), Reading::Value(0.01), Err("the request count could not be read"));
        assert_eq!(p, Phase::Inconclusive, "{why}");
    }

    #[test]
    fn templates_fill_their_placeholders() {
        let svc = ServiceSpec {
            name: "payments".into(),
            namespace: "prod".into(),
            canary: "track=\"canary\"".into(),
            stable: "track=\"stable\"".into(),
            window: "1m".into(),
            requests_query: DEFAULT_REQUESTS_QUERY.into(),
            analysis: spec(),
        };
        let (q, _, _) = builtin("error_ratio").unwrap();
        assert_eq!(
            render(q, &svc, &svc.canary),
            "sum(rate(http_requests_total{track=\"canary\",code=~\"5..\"}[1m])) / sum(rate(http_requests_total{track=\"canary\"}[1m]))"
        );
    }
}
