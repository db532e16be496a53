//! The judge of one metric: canary and stable at each interval against absolute conditions and
//! the traffic minimum, the relative condition over the whole analysis, and a Mann-Whitney test
//! on independent samples beyond the tolerance. Pure, so its error rates can be measured on
//! simulated canaries (`cargo bench --bench canary_judge`).

use super::analysis::{AnalysisSpec, Measurement, MetricResult, MetricSpec, Phase, Reading, format_value};
use super::mann_whitney::{Alternative, mann_whitney_u};
use super::source::QueryError;

/// Judges one metric from its canary and stable points (and the canary's request counts) at each
/// interval from `start` to `end`; the statistical judge takes every `stride`-th interval (the
/// ones whose rate windows do not overlap). Pure: the benchmark of the judge's error rates runs it
/// on simulated canaries.
#[allow(clippy::too_many_arguments)]
pub fn judge_metric(
    m: &MetricSpec,
    a: &AnalysisSpec,
    start: i64,
    end: i64,
    step: i64,
    canary: Result<Vec<(i64, f64)>, QueryError>,
    stable: Result<Vec<(i64, f64)>, QueryError>,
    requests: Result<&Vec<(i64, f64)>, &QueryError>,
    stride: usize,
    canary_query: String,
    stable_query: String,
) -> MetricResult {
    let condition = describe_condition(m);
    let mut out = MetricResult {
        name: m.name.clone(),
        unit: m.unit.clone(),
        phase: Phase::Running,
        reason: String::new(),
        canary_query,
        stable_query,
        measurements: Vec::new(),
        p_value: None,
        condition,
        max: m.max,
        max_ratio: m.max_ratio,
        judged: m.max.is_some() || m.min.is_some() || m.max_ratio.is_some(),
        weight: m.weight,
        critical: m.critical,
        dry_run: m.dry_run,
    };
    let (canary, stable) = match (canary, stable) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => {
            out.phase = Phase::Error;
            out.reason = e.to_string();
            return out;
        }
    };
    let at = |pts: &[(i64, f64)], t: i64| pts.iter().find(|p| p.0 == t).map(|p| p.1);
    let mut t = start;
    while t <= end {
        let c = Reading::of(at(&canary, t));
        let s = Reading::of(at(&stable, t));
        // Without a request count, there is no telling whether the canary had traffic.
        let counted = match requests {
            Ok(r) => at(r, t).ok_or_else(|| "no request count for the canary at this time".to_string()),
            Err(e) => Err(format!("the request count could not be read: {e}")),
        };
        let (phase, reason) = judge_point(m, a, c, s, counted.as_ref().map(|r| *r).map_err(String::as_str));
        let reqs = counted.ok();
        out.measurements.push(Measurement { time: t, canary: c, stable: s, requests: reqs, phase, reason });
        t += step;
    }
    // Only the analysis' own intervals are judged; earlier points are there for the charts. Nor
    // is a sample taken before the judged attempt began, or during its initial delay.
    let delay = a.initial_delay.as_secs() as i64;
    let fresh_from = a.since.max(a.judge_from).map(|s| s + delay);
    if let Some(from) = fresh_from.filter(|f| delay > 0 && end < *f) {
        out.phase = Phase::Running;
        out.reason = format!("initial delay: judging starts in {}s", from - end);
        return out;
    }
    let first_fresh = out.measurements.iter().position(|x| fresh_from.is_none_or(|f| x.time >= f)).unwrap_or(out.measurements.len());
    let judged_from = out.measurements.len().saturating_sub(a.count).max(first_fresh);
    let recent = &out.measurements[judged_from..];
    let count = |p: Phase| recent.iter().filter(|x| x.phase == p).count();
    let (failed, inconclusive, errors) = (count(Phase::Failed), count(Phase::Inconclusive), count(Phase::Error));
    let taken = recent.iter().filter(|x| x.canary != Reading::NoData || x.stable != Reading::NoData).count();
    let judged_len = recent.len();
    // The judge compares like with like; metrics that are only observed (traffic) are not judged.
    let judged = out.judged;
    // An analysis of no more intervals than its failure limit could never fail: it proves
    // nothing yet (never Successful; a script gets "undecided").
    if judged_len <= a.failure_limit && judged && failed <= a.failure_limit {
        out.phase = Phase::Running;
        out.reason = format!("{judged_len} measurement(s) cannot be judged with a failure limit of {}", a.failure_limit);
        return out;
    }
    // The statistical judge: only on independent samples (non-overlapping windows), only about
    // a difference beyond the tolerance (the metric's max_ratio, else 10 %), and never on a
    // traffic volume, which differs with the weight by design.
    let volume = m.unit == "req/s";
    // Looking again at every interval would multiply its false alarms: the test decides once,
    // when the analysis is complete.
    let complete = taken >= a.count;
    if let Some(alpha) = a.alpha.filter(|_| judged && !volume && complete) {
        let independent: Vec<&Measurement> = recent.iter().rev().step_by(stride.max(1)).collect();
        let cs: Vec<f64> = independent.iter().filter_map(|x| x.canary.value()).filter(|v| v.is_finite()).collect();
        let tolerance = m.max_ratio.unwrap_or(1.0 + DEFAULT_TOLERANCE);
        // Stable moved to the edge of what is tolerated: only a canary beyond it counts.
        let edge = |v: f64| if m.higher_is_worse { v * tolerance } else { v / tolerance };
        let ss: Vec<f64> = independent.iter().filter_map(|x| x.stable.value()).filter(|v| v.is_finite()).map(edge).collect();
        let alt = if m.higher_is_worse { Alternative::Greater } else { Alternative::Less };
        if cs.len() >= 3
            && ss.len() >= 3
            && let Some(r) = mann_whitney_u(&cs, &ss, alt)
        {
            out.p_value = Some(r.p_value);
            if r.p_value < alpha && failed <= a.failure_limit {
                out.phase = Phase::Failed;
                out.reason = format!(
                    "significant degradation: canary {} than {tolerance} × stable (Mann-Whitney p = {:.4} < {alpha}, {} independent samples)",
                    if m.higher_is_worse { "higher" } else { "lower" },
                    r.p_value,
                    cs.len()
                );
                return out;
            }
        }
    }
    // The relative condition over the analysis: the canary's typical value against `max_ratio` ×
    // the stable's, so that one noisy interval does not fail a good release. It needs a few
    // independent windows: two minutes of a 1 m rate are two samples, and their median is noise.
    // Before the analysis is complete it fails only on a margin as many times wider as the data
    // is short (3 × the tolerance with a third of the windows): a gross regression is stopped
    // early, and looking at every interval does not multiply the false alarms.
    let windows = recent.len().div_ceil(stride.max(1));
    let planned = a.count.div_ceil(stride.max(1)).max(windows);
    let mut too_little = None;
    if let Some(limit) = m.max_ratio.filter(|_| failed <= a.failure_limit) {
        let widen = if complete { 1.0 } else { planned as f64 / windows.max(1) as f64 };
        let ratio = 1.0 + (limit - 1.0) * widen;
        if windows < MIN_INDEPENDENT_WINDOWS {
            too_little = Some(format!(
                "too little data to judge ≤ {limit} × stable: {windows} independent window(s) of {}, {MIN_INDEPENDENT_WINDOWS} needed",
                if stride > 1 { "a rate window" } else { "an interval" }
            ));
        } else if let (Some(c), Some(s)) = (typical(m, recent, |x| x.canary), typical(m, recent, |x| x.stable))
            && s > 0.0
        {
            let worse = if m.higher_is_worse { c > ratio * s } else { c * ratio < s };
            if worse {
                out.phase = Phase::Failed;
                let early = if complete { String::new() } else { format!(" (early: {ratio:.2} until the analysis is complete)") };
                out.reason = format!(
                    "canary {} {} {} {limit} × stable {} over {judged_len} intervals{early}",
                    typical_name(m),
                    format_value(c, &m.unit),
                    if m.higher_is_worse { ">" } else { "<" },
                    format_value(s, &m.unit)
                );
                return out;
            }
        }
    }
    let last_reason =
        |p: Phase| out.measurements[judged_from..].iter().rev().find(|x| x.phase == p).map(|x| x.reason.clone()).unwrap_or_default();
    (out.phase, out.reason) = if failed > a.failure_limit {
        (
            Phase::Failed,
            format!("{failed} of {} measurements failed (limit {}): {}", judged_len, a.failure_limit, last_reason(Phase::Failed)),
        )
    } else if errors > a.inconclusive_limit {
        (Phase::Error, format!("{errors} measurements could not be taken: {}", last_reason(Phase::Error)))
    } else if inconclusive > a.inconclusive_limit {
        (
            Phase::Inconclusive,
            format!(
                "{inconclusive} of {} measurements inconclusive (limit {}): {}",
                judged_len,
                a.inconclusive_limit,
                last_reason(Phase::Inconclusive)
            ),
        )
    } else if taken < a.count {
        (Phase::Running, format!("{taken} of {} measurements so far", a.count))
    } else if let Some(why) = too_little {
        // Never Successful on a condition that could not be checked.
        (Phase::Running, why)
    } else {
        (Phase::Successful, format!("{judged_len} measurements within {}", out.condition))
    };
    out
}

/// Independent windows needed before a relative condition can be judged.
pub const MIN_INDEPENDENT_WINDOWS: usize = 3;

/// A ratio (errors per request) is pooled over the analysis, weighted by requests: its median
/// over intervals with a handful of errors each is mostly noise. Anything else (latency) takes
/// the median, which one slow interval does not move.
fn typical(m: &MetricSpec, recent: &[Measurement], side: impl Fn(&Measurement) -> Reading) -> Option<f64> {
    let values: Vec<(f64, f64)> =
        recent.iter().filter_map(|x| side(x).value().filter(|v| v.is_finite()).map(|v| (v, x.requests.unwrap_or(1.0).max(0.0)))).collect();
    if values.is_empty() {
        return None;
    }
    if m.unit == "ratio" {
        let weight: f64 = values.iter().map(|(_, w)| w).sum();
        return Some(if weight > 0.0 {
            values.iter().map(|(v, w)| v * w).sum::<f64>() / weight
        } else {
            values.iter().map(|(v, _)| v).sum::<f64>() / values.len() as f64
        });
    }
    let mut v: Vec<f64> = values.into_iter().map(|(v, _)| v).collect();
    v.sort_by(f64::total_cmp);
    Some(if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 })
}

fn typical_name(m: &MetricSpec) -> &'static str {
    if m.unit == "ratio" { "pooled" } else { "median" }
}

/// The smallest relative difference the statistical judge looks for when a metric has no
/// `max_ratio` of its own.
pub const DEFAULT_TOLERANCE: f64 = 0.10;

pub(super) fn judge_point(m: &MetricSpec, a: &AnalysisSpec, c: Reading, s: Reading, requests: Result<f64, &str>) -> (Phase, String) {
    match requests {
        Ok(r) if r < a.min_requests => {
            return (Phase::Inconclusive, format!("no traffic: {r:.0} canary requests < {} minimum", a.min_requests));
        }
        Err(why) if a.min_requests > 0.0 => return (Phase::Inconclusive, format!("{why}: the traffic minimum cannot be checked")),
        _ => {}
    }
    let v = match c {
        Reading::Value(v) => v,
        Reading::NoData => return (Phase::Inconclusive, "no data for the canary (missing series)".into()),
        Reading::NaN => return (Phase::Inconclusive, "canary value is NaN (0/0: nothing to measure in the window)".into()),
        Reading::PosInf if m.higher_is_worse => {
            return (Phase::Failed, "canary value is +Inf (beyond the largest histogram bucket)".into());
        }
        Reading::PosInf | Reading::NegInf => return (Phase::Inconclusive, format!("canary value is {}", c.describe(&m.unit))),
    };
    if let Some(max) = m.max
        && v >= max
    {
        return (Phase::Failed, format!("canary {} ≥ {}", format_value(v, &m.unit), format_value(max, &m.unit)));
    }
    if let Some(min) = m.min
        && v <= min
    {
        return (Phase::Failed, format!("canary {} ≤ {}", format_value(v, &m.unit), format_value(min, &m.unit)));
    }
    if let Some(ratio) = m.max_ratio {
        match s {
            // One interval above the ratio is noise as often as not (a 1 m p99 of a few hundred
            // requests); the ratio is judged over the whole analysis (see `judge_metric`).
            Reading::Value(sv) if sv > 0.0 && v > ratio * sv => {
                return (
                    Phase::Successful,
                    format!("canary {} > {ratio} × stable {} in this interval", format_value(v, &m.unit), format_value(sv, &m.unit)),
                );
            }
            Reading::Value(_) => {}
            other if m.max.is_none() && m.min.is_none() => {
                return (Phase::Inconclusive, format!("stable is {}; cannot compare", other.describe(&m.unit)));
            }
            _ => {}
        }
    }
    (Phase::Successful, format!("canary {}", format_value(v, &m.unit)))
}

pub(super) fn describe_condition(m: &MetricSpec) -> String {
    let mut parts = Vec::new();
    if let Some(max) = m.max {
        parts.push(format!("< {}", format_value(max, &m.unit)));
    }
    if let Some(min) = m.min {
        parts.push(format!("> {}", format_value(min, &m.unit)));
    }
    if let Some(r) = m.max_ratio {
        parts.push(format!("≤ {r} × stable"));
    }
    if parts.is_empty() { "observed only".into() } else { parts.join(" and ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_new_attempt_is_not_judged_on_the_samples_of_the_last_one() {
        let m = MetricSpec {
            name: "error ratio".into(),
            query: String::new(),
            max: Some(0.02),
            min: None,
            max_ratio: None,
            higher_is_worse: true,
            unit: "ratio".into(),
            ..MetricSpec::default()
        };
        let mut a = AnalysisSpec {
            interval: Duration::from_secs(15),
            count: 8,
            min_requests: 0.0,
            alpha: None,
            metrics: vec![],
            ..AnalysisSpec::default()
        };
        // The last attempt failed (10 % errors) until t = 60; the retry began at t = 60, healthy.
        let canary: Vec<(i64, f64)> = (0..8).map(|i| (i * 15, if i * 15 < 60 { 0.10 } else { 0.001 })).collect();
        let stable: Vec<(i64, f64)> = (0..8).map(|i| (i * 15, 0.001)).collect();
        let requests: Vec<(i64, f64)> = (0..8).map(|i| (i * 15, 100.0)).collect();
        let judge = |a: &AnalysisSpec| {
            judge_metric(&m, a, 0, 105, 15, Ok(canary.clone()), Ok(stable.clone()), Ok(&requests), 1, String::new(), String::new()).phase
        };
        assert_eq!(judge(&a), Phase::Failed, "judged over everything, the old failure shows");
        a.since = Some(60);
        assert_ne!(judge(&a), Phase::Failed, "judged from the retry on");
    }
}
