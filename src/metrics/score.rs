//! The analysis' verdict from its metrics' verdicts: firing alerts first, then critical metrics,
//! then a canary score (Kayenta's idea: the weights of the passing metrics, out of 100) against a
//! pass and a marginal threshold. Dry-run metrics and traffic volumes are shown, never decisive.

use super::analysis::{AnalysisSpec, FiringAlert, MetricResult, Phase};

/// The verdict, why, and the score once every deciding metric has one.
pub fn verdict(
    metrics: &[MetricResult],
    a: &AnalysisSpec,
    alerts: &[FiringAlert],
    alert_problem: Option<String>,
) -> (Phase, String, Option<f64>) {
    if a.alerts_gate && !alerts.is_empty() {
        let names: Vec<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
        return (Phase::Failed, format!("alert firing: {}", names.join(", ")), None);
    }
    if metrics.is_empty() {
        return (Phase::Error, "no metric could be analysed".into(), None);
    }
    let deciding: Vec<&MetricResult> = metrics.iter().filter(|m| m.judged && !m.dry_run).collect();
    if deciding.is_empty() {
        let why = "no metric decides: every metric is dry-run or has no condition (max, min or max_ratio)";
        return (Phase::Inconclusive, why.into(), None);
    }
    let why = |m: &MetricResult| format!("{}: {}", m.name, m.reason);
    if let Some(m) = deciding.iter().find(|m| m.critical && m.phase == Phase::Failed) {
        return (Phase::Failed, format!("critical metric {}", why(m)), None);
    }
    let total: f64 = deciding.iter().map(|m| m.weight).sum();
    let weight_of = |p: Phase| deciding.iter().filter(|m| m.phase == p).map(|m| m.weight).sum::<f64>();
    let percent = |w: f64| if total > 0.0 { 100.0 * w / total } else { 0.0 };
    let first_failed = deciding.iter().find(|m| m.phase == Phase::Failed);
    // Fail as soon as the failures alone keep the score under the marginal threshold, whatever
    // the metrics still running turn out to be.
    let best_possible = percent(total - weight_of(Phase::Failed));
    if let Some(m) = first_failed.filter(|_| best_possible < a.marginal_score) {
        return (Phase::Failed, format!("score at most {best_possible:.0} < {:.0} — {}", a.marginal_score, why(m)), None);
    }
    if let Some(p) = alert_problem.filter(|_| a.alerts_gate) {
        return (Phase::Error, format!("alerts could not be read: {p}"), None);
    }
    for p in [Phase::Error, Phase::Inconclusive, Phase::Running] {
        if let Some(m) = deciding.iter().find(|m| m.phase == p) {
            return (p, why(m), None);
        }
    }
    let score = percent(weight_of(Phase::Successful));
    match first_failed {
        None => (Phase::Successful, format!("all {} deciding metrics within their conditions", deciding.len()), Some(score)),
        Some(m) if score >= a.pass_score => {
            (Phase::Successful, format!("score {score:.0} ≥ {:.0} despite {}", a.pass_score, why(m)), Some(score))
        }
        Some(m) => (
            Phase::Inconclusive,
            format!(
                "marginal score {score:.0} (pass {:.0}, fail below {:.0}): a human decides — {}",
                a.pass_score,
                a.marginal_score,
                why(m)
            ),
            Some(score),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, phase: Phase, weight: f64) -> MetricResult {
        MetricResult {
            name: name.into(),
            unit: "s".into(),
            phase,
            reason: format!("{} reason", phase.label()),
            canary_query: String::new(),
            stable_query: String::new(),
            measurements: Vec::new(),
            p_value: None,
            condition: String::new(),
            max: None,
            max_ratio: Some(1.2),
            judged: true,
            weight,
            critical: false,
            dry_run: false,
        }
    }

    #[test]
    fn the_score_weighs_the_passing_metrics() {
        let a = AnalysisSpec::default();
        let ok = |n| result(n, Phase::Successful, 1.0);
        // Twenty metrics, one failing: 95 passes (Kayenta's default thresholds).
        let mut many: Vec<MetricResult> = (0..19).map(|_| ok("m")).collect();
        many.push(result("p50", Phase::Failed, 1.0));
        let (p, why, score) = verdict(&many, &a, &[], None);
        assert_eq!((p, score), (Phase::Successful, Some(95.0)), "{why}");
        // Five metrics, one failing: 80 is marginal, so a human decides.
        let five: Vec<MetricResult> = (0..4).map(|_| ok("m")).chain([result("p50", Phase::Failed, 1.0)]).collect();
        let (p, why, score) = verdict(&five, &a, &[], None);
        assert_eq!((p, score), (Phase::Inconclusive, Some(80.0)), "{why}");
        assert!(why.contains("a human decides"), "{why}");
        // The default analysis (two deciding metrics): one failure fails, at once.
        let two = [result("p99", Phase::Running, 1.0), result("errors", Phase::Failed, 1.0)];
        assert_eq!(verdict(&two, &a, &[], None).0, Phase::Failed, "50 can never reach 75");
    }

    #[test]
    fn critical_dry_run_and_observed_metrics() {
        let a = AnalysisSpec::default();
        let mut heavy: Vec<MetricResult> = (0..30).map(|_| result("m", Phase::Successful, 1.0)).collect();
        let mut critical = result("errors", Phase::Failed, 1.0);
        critical.critical = true;
        heavy.push(critical);
        let (p, why, _) = verdict(&heavy, &a, &[], None);
        assert_eq!(p, Phase::Failed);
        assert!(why.starts_with("critical metric errors"), "{why}");
        let mut trial = result("new p99", Phase::Failed, 1.0);
        trial.dry_run = true;
        let mut volume = result("rate", Phase::Inconclusive, 1.0);
        volume.judged = false;
        let (p, why, score) = verdict(&[result("p99", Phase::Successful, 1.0), trial.clone(), volume], &a, &[], None);
        assert_eq!((p, score), (Phase::Successful, Some(100.0)), "{why}");
        let (p, why, _) = verdict(&[trial], &a, &[], None);
        assert_eq!(p, Phase::Inconclusive, "nothing decides: {why}");
    }

    #[test]
    fn an_error_or_an_open_question_is_never_a_pass() {
        let a = AnalysisSpec::default();
        for p in [Phase::Error, Phase::Inconclusive, Phase::Running] {
            let ms = [result("p99", Phase::Successful, 1.0), result("errors", p, 1.0)];
            let (got, _, score) = verdict(&ms, &a, &[], None);
            assert_eq!((got, score), (p, None));
        }
    }
}
