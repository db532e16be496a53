//! CloudWatch as a source of canary measurements (`[cloudwatch.NAME]`): the same judge as
//! Prometheus, fed by `GetMetricData`. A metric is `NAMESPACE METRIC STAT`, a ratio of two such
//! (`… / …`), or one per second; canary and stable are dimension sets (`Name=Value,Name=Value`),
//! typically the load balancer and the target group each side is served from.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::analysis::{AnalysisResult, Grid, Phase, ServiceSpec, conclude, failed_all};
use super::source::QueryError;
use crate::aws::json_rpc::{CLOUDWATCH, Session};
use crate::logstore::sanitize::plain;

/// Where CloudWatch is asked: region, profile and endpoint as the AWS CLI takes them. The session
/// (and the credentials it has read) is made once and shared by every analysis.
#[derive(Clone)]
pub struct CloudWatch {
    pub name: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// One deadline for all of an analysis' requests.
    pub timeout: Duration,
    session: Arc<OnceLock<Result<Arc<Session>, String>>>,
}

impl CloudWatch {
    pub fn new(name: &str, region: Option<String>, profile: Option<String>, endpoint_url: Option<String>, timeout: Duration) -> Self {
        CloudWatch { name: name.into(), region, profile, endpoint_url, timeout, session: Arc::new(OnceLock::new()) }
    }

    fn session(&self) -> Result<Arc<Session>, QueryError> {
        self.session
            .get_or_init(|| {
                Session::new(self.region.clone(), self.profile.clone(), self.endpoint_url.clone()).map(Arc::new).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(QueryError::CloudWatch)
    }
}

impl PartialEq for CloudWatch {
    fn eq(&self, o: &Self) -> bool {
        (&self.name, &self.region, &self.profile, &self.endpoint_url, self.timeout)
            == (&o.name, &o.region, &o.profile, &o.endpoint_url, o.timeout)
    }
}

impl std::fmt::Debug for CloudWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatch").field("name", &self.name).field("region", &self.region).field("profile", &self.profile).finish()
    }
}

/// One statistic of one metric.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricStat {
    pub namespace: String,
    pub metric: String,
    pub stat: String,
}

/// What a metric of the analysis measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Formula {
    Stat(MetricStat),
    /// The first over the second; a missing numerator is zero where the denominator has a value
    /// (the load balancer publishes no 5XX count for a minute without errors).
    Ratio(MetricStat, MetricStat),
    /// The statistic divided by the period (a count per second).
    PerSecond(MetricStat),
}

/// The built-in metrics for services behind an Application Load Balancer, by the names the
/// Prometheus built-ins have: (formula, unit, higher is worse).
pub fn builtin(name: &str) -> Option<(&'static str, &'static str, bool)> {
    Some(match name {
        "latency_p50" => ("AWS/ApplicationELB TargetResponseTime p50", "s", true),
        "latency_p95" => ("AWS/ApplicationELB TargetResponseTime p95", "s", true),
        "latency_p99" => ("AWS/ApplicationELB TargetResponseTime p99", "s", true),
        "error_ratio" => ("AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum / AWS/ApplicationELB RequestCount Sum", "ratio", true),
        "request_rate" => ("AWS/ApplicationELB RequestCount Sum per second", "req/s", false),
        _ => return None,
    })
}

/// Requests counted per period for the traffic minimum, by default.
pub const DEFAULT_REQUESTS: &str = "AWS/ApplicationELB RequestCount Sum";

/// Reads `NAMESPACE METRIC STAT`, `… / NAMESPACE METRIC STAT` or `… per second`.
pub fn parse(text: &str) -> Result<Formula, String> {
    let one = |part: &str| -> Result<MetricStat, String> {
        let words: Vec<&str> = part.split_whitespace().collect();
        let [namespace, metric, stat] = words[..] else {
            return Err(format!(
                "`{}` is not `NAMESPACE METRIC STATISTIC` (e.g. `AWS/ApplicationELB TargetResponseTime p99`)",
                part.trim()
            ));
        };
        if !valid_stat(stat) {
            return Err(format!("`{stat}` is not a CloudWatch statistic (Sum, Average, Minimum, Maximum, SampleCount, p99, tm90…)"));
        }
        Ok(MetricStat { namespace: namespace.into(), metric: metric.into(), stat: stat.into() })
    };
    if let Some(rate) = text.trim().strip_suffix("per second") {
        return Ok(Formula::PerSecond(one(rate)?));
    }
    match text.split_once(" / ") {
        // A namespace holds a slash (`AWS/ECS`); the ratio's slash stands between spaces.
        Some((a, b)) => Ok(Formula::Ratio(one(a)?, one(b)?)),
        None => Ok(Formula::Stat(one(text)?)),
    }
}

fn valid_stat(s: &str) -> bool {
    const PLAIN: [&str; 5] = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"];
    if PLAIN.contains(&s) {
        return true;
    }
    ["p", "tm", "wm", "tc", "ts"].iter().any(|prefix| {
        s.strip_prefix(prefix).is_some_and(|n| n.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v) && !n.starts_with('+')))
    })
}

/// `Name=Value,Name=Value` as CloudWatch's dimensions.
pub fn dimensions(selector: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("`{pair}` is not `Name=Value` (canary and stable are CloudWatch dimensions)"));
        };
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    if out.is_empty() {
        return Err(
            "no dimensions say which canary and stable to measure (give them, or let the ECS deployment name its target groups)".into()
        );
    }
    Ok(out)
}

/// The statistics to fetch, each for a side: answers come back by these ids.
#[derive(Default)]
pub(super) struct Batch {
    queries: Vec<Value>,
    ids: BTreeMap<(MetricStat, String), String>,
}

impl Batch {
    /// The id for `stat` measured on `selector`, added once.
    fn id(&mut self, stat: &MetricStat, selector: &str, period: i64) -> Result<String, String> {
        let key = (stat.clone(), selector.to_string());
        if let Some(id) = self.ids.get(&key) {
            return Ok(id.clone());
        }
        let dims: Vec<Value> = dimensions(selector)?.into_iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect();
        let id = format!("q{}", self.ids.len());
        self.queries.push(json!({
            "Id": id,
            "MetricStat": {
                "Metric": {"Namespace": stat.namespace, "MetricName": stat.metric, "Dimensions": dims},
                "Period": period,
                "Stat": stat.stat,
            },
            "ReturnData": true,
        }));
        self.ids.insert(key, id.clone());
        Ok(id)
    }

    /// Asks for what `formula` needs on `selector`; the plan to compute it from the answers.
    pub(super) fn plan(&mut self, formula: &Formula, selector: &str, period: i64) -> Result<Plan, String> {
        Ok(match formula {
            Formula::Stat(s) => Plan::Stat(self.id(s, selector, period)?),
            Formula::Ratio(a, b) => Plan::Ratio(self.id(a, selector, period)?, self.id(b, selector, period)?),
            Formula::PerSecond(s) => Plan::PerSecond(self.id(s, selector, period)?, period as f64),
        })
    }
}

pub(super) enum Plan {
    Stat(String),
    Ratio(String, String),
    PerSecond(String, f64),
}

/// Each id's points: period end (unix seconds) → value. A statistic CloudWatch could not compute
/// for a period (`null`) is left out, as no data.
pub(super) type Answers = BTreeMap<String, BTreeMap<i64, f64>>;

impl Plan {
    pub(super) fn points(&self, answers: &Answers) -> Vec<(i64, f64)> {
        let empty = BTreeMap::new();
        let get = |id: &str| answers.get(id).unwrap_or(&empty);
        match self {
            Plan::Stat(id) => get(id).iter().map(|(t, v)| (*t, *v)).collect(),
            Plan::PerSecond(id, period) => get(id).iter().map(|(t, v)| (*t, v / period)).collect(),
            Plan::Ratio(top, bottom) => {
                let top = get(top);
                get(bottom).iter().map(|(t, d)| (*t, top.get(t).copied().unwrap_or(0.0) / d)).collect()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[derive(Default)]
struct Page {
    metric_data_results: Vec<Result_>,
    next_token: Option<String>,
    messages: Vec<Message>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Result_ {
    id: String,
    timestamps: Vec<Stamp>,
    values: Vec<Option<f64>>,
    status_code: Option<String>,
    messages: Vec<Message>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Message {
    code: Option<String>,
    value: Option<String>,
}

/// A timestamp as AWS's JSON protocols send it (seconds), or as ISO text.
#[derive(Deserialize)]
struct Stamp(#[serde(deserialize_with = "crate::aws::time::epoch")] Option<f64>);

/// Pages of one `GetMetricData` at most (each holds 100,800 points; an analysis needs hundreds).
const MAX_PAGES: usize = 20;

impl Batch {
    /// Fetches every query for the periods that end in (start − period, end], keyed by period end.
    pub(super) async fn fetch(&self, cw: &CloudWatch, start: i64, end: i64, period: i64) -> Result<Answers, QueryError> {
        let session = cw.session()?;
        let mut answers = Answers::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut input = json!({
                "MetricDataQueries": self.queries,
                // A datapoint is stamped with the start of its period; each measurement here is
                // the period ending at its time.
                "StartTime": start - period,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            });
            if let Some(t) = &token {
                input["NextToken"] = json!(t);
            }
            let answer = session.call(&CLOUDWATCH, "GetMetricData", &input).await.map_err(|e| QueryError::CloudWatch(e.to_string()))?;
            let page: Page = serde_json::from_value(answer)
                .map_err(|e| QueryError::CloudWatch(format!("an answer that is not GetMetricData's: {e}")))?;
            for r in page.metric_data_results {
                if matches!(r.status_code.as_deref(), Some("Forbidden" | "InternalError")) {
                    let why = r.messages.iter().chain(&page.messages).filter_map(|m| m.value.as_deref()).collect::<Vec<_>>().join("; ");
                    let code = r.status_code.unwrap_or_default();
                    return Err(QueryError::CloudWatch(plain(&format!("{code} for a metric of the analysis: {why}"))));
                }
                let points = answers.entry(r.id).or_default();
                for (stamp, value) in r.timestamps.into_iter().zip(r.values) {
                    if let (Some(t), Some(v)) = (stamp.0, value) {
                        points.insert(t.round() as i64 + period, v);
                    }
                }
            }
            if let Some(m) = page.messages.iter().find(|m| m.code.as_deref() == Some("MaxQueryTimeRangeExceed")) {
                return Err(QueryError::CloudWatch(plain(m.value.as_deref().unwrap_or("the time range is too long"))));
            }
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(answers);
            }
        }
        Err(QueryError::CloudWatch(format!("GetMetricData kept paging past {MAX_PAGES} pages; shorten the analysis")))
    }
}

/// The analysis of `svc` over CloudWatch: one `GetMetricData` (paged) for every statistic of
/// both sides, under one deadline.
pub(super) async fn analyse(cw: &CloudWatch, svc: &ServiceSpec, end: i64, history: usize) -> AnalysisResult {
    let grid = Grid::of(svc, end, history);
    let period = grid.step;
    let mut batch = Batch::default();
    let planned = (|| -> Result<_, String> {
        let requests = batch.plan(&parse(&svc.requests_query)?, &svc.canary, period)?;
        let mut metrics = Vec::new();
        for m in &svc.analysis.metrics {
            let formula = parse(&m.query).map_err(|e| format!("metric `{}`: {e}", m.name))?;
            metrics.push((batch.plan(&formula, &svc.canary, period)?, batch.plan(&formula, &svc.stable, period)?));
        }
        Ok((requests, metrics))
    })();
    let (requests, metrics) = match planned {
        Ok(p) => p,
        Err(e) => return failed_all(svc, end, Phase::Error, e),
    };
    let answers = match tokio::time::timeout(cw.timeout, batch.fetch(cw, grid.start, end, period)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return failed_all(svc, end, Phase::Error, e.to_string()),
        Err(_) => {
            let why = format!("CloudWatch did not answer within {}s (one deadline for the whole analysis)", cw.timeout.as_secs());
            return failed_all(svc, end, Phase::Error, why);
        }
    };
    let shown = |m: &str, selector: &str| format!("{m} {{{selector}}}");
    let per_metric = svc
        .analysis
        .metrics
        .iter()
        .zip(metrics)
        .map(|(m, (c, s))| {
            (Ok((c.points(&answers), 1)), Ok((s.points(&answers), 1)), shown(&m.query, &svc.canary), shown(&m.query, &svc.stable))
        })
        .collect();
    conclude(svc, grid, Ok(requests.points(&answers)), per_metric, Ok(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_read_as_written() {
        let s = |ns: &str, m: &str, st: &str| MetricStat { namespace: ns.into(), metric: m.into(), stat: st.into() };
        assert_eq!(
            parse("AWS/ApplicationELB TargetResponseTime p99"),
            Ok(Formula::Stat(s("AWS/ApplicationELB", "TargetResponseTime", "p99")))
        );
        let (q, _, _) = builtin("error_ratio").unwrap();
        assert_eq!(
            parse(q),
            Ok(Formula::Ratio(s("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum"), s("AWS/ApplicationELB", "RequestCount", "Sum")))
        );
        assert_eq!(
            parse("AWS/ApplicationELB RequestCount Sum per second"),
            Ok(Formula::PerSecond(s("AWS/ApplicationELB", "RequestCount", "Sum")))
        );
        assert!(parse("AWS/ApplicationELB TargetResponseTime").unwrap_err().contains("NAMESPACE METRIC STATISTIC"));
        assert!(parse("AWS/ApplicationELB TargetResponseTime p101").unwrap_err().contains("not a CloudWatch statistic"));
        assert!(parse("AWS/ApplicationELB TargetResponseTime Median").is_err());
    }

    #[test]
    fn dimensions_are_name_value_pairs() {
        assert_eq!(
            dimensions("LoadBalancer=app/pay/50dc6c495c0c9188, TargetGroup=targetgroup/pay-green/6d0ecf831eec9f09"),
            Ok(vec![
                ("LoadBalancer".into(), "app/pay/50dc6c495c0c9188".into()),
                ("TargetGroup".into(), "targetgroup/pay-green/6d0ecf831eec9f09".into())
            ])
        );
        assert!(dimensions("").is_err());
        assert!(dimensions("track=\"canary\"").is_ok_and(|d| d[0].1 == "\"canary\""));
        assert!(dimensions("canary").is_err());
    }

    #[test]
    fn a_ratio_counts_a_missing_numerator_as_zero_and_a_rate_divides_by_the_period() {
        let answers: Answers =
            [("q0".to_string(), [(60, 3.0)].into_iter().collect()), ("q1".to_string(), [(60, 300.0), (120, 200.0)].into_iter().collect())]
                .into_iter()
                .collect();
        assert_eq!(Plan::Ratio("q0".into(), "q1".into()).points(&answers), vec![(60, 0.01), (120, 0.0)]);
        assert_eq!(Plan::PerSecond("q1".into(), 60.0).points(&answers), vec![(60, 5.0), (120, 200.0 / 60.0)]);
        assert_eq!(Plan::Stat("q9".into()).points(&answers), vec![]);
    }
}
