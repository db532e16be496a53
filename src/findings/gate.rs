//! The release gate: no unaccepted finding above the environment's maximum severity (optionally
//! only those with a fix), no unreadable report — a gate that cannot see fails closed — and the
//! rules of the other kinds of evidence (tests, coverage, load, quality, signatures).

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::{Acceptance, Acceptances, Counts, Finding, FindingKind, ReportError, Severity};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatePolicy {
    /// The environment these rules are for (exceptions name it).
    pub environment: String,
    /// The most severe finding allowed through; `None`: no gate in this environment.
    pub max_allowed: Option<Severity>,
    /// Only findings that have a fix block.
    pub fixable_only: bool,
    /// Whether break-glass may override a failed gate.
    pub break_glass: bool,
    /// The most severe licence finding allowed through; `None` (the default): licences are
    /// shown, never judged.
    pub max_licence: Option<Severity>,
    /// No failing test: the run's test results (JUnit XML) must exist and show no failure or
    /// error (a flaky test passed in the end).
    pub tests_must_pass: bool,
    /// The least line coverage allowed, in hundredths of a percent (8000: 80 %), over the run's
    /// coverage reports; none: not judged. Without a coverage report the rule fails closed.
    pub min_coverage: Option<u32>,
    /// The least coverage of the lines the change added (hundredths of a percent); not known
    /// (no diff base, no git) fails closed.
    pub min_changed_coverage: Option<u32>,
    /// Load tests must pass: the run's load test reports must exist, every k6 threshold must
    /// have passed, and every report must be within `load_limits`.
    pub load_must_pass: bool,
    pub load_limits: LoadLimits,
    /// The most severe dynamic-scan (ZAP) alert allowed through; none: judged as any finding.
    pub max_dast: Option<Severity>,
    /// SonarQube's quality gate must be OK for the analysed revision (a `report-task.txt` among
    /// the run's reports, and the server's answer).
    pub quality_gate_must_pass: bool,
    /// The image being promoted must be signed (cosign) by this key; none: not judged.
    pub signed_by: Option<super::signature::TrustedKey>,
    /// With `signed_by`: a CycloneDX SBOM attestation signed by the same key must exist for the
    /// image, and match the SBOM the pipeline produced where it produced one.
    pub sbom_attested: bool,
}

/// What a load test must show, where the environment sets it (k6 judges its own thresholds;
/// Locust has none, so these are what it is judged by).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadLimits {
    pub max_p95_ms: Option<f64>,
    pub max_failure_ratio: Option<f64>,
    pub min_rps: Option<f64>,
}

impl GatePolicy {
    /// Whether this environment has any rule to judge.
    pub fn judges(&self) -> bool {
        self.max_allowed.is_some()
            || self.tests_must_pass
            || self.min_coverage.is_some()
            || self.load_must_pass
            || self.max_dast.is_some()
            || self.quality_gate_must_pass
            || self.signed_by.is_some()
    }

    /// The limit that applies to a finding, if any: licences have their own.
    fn limit_for(&self, f: &Finding) -> Option<Severity> {
        match f.kind {
            FindingKind::Licence => self.max_licence,
            FindingKind::Dast => self.max_dast.or(self.max_allowed),
            _ => self.max_allowed,
        }
    }
}

/// A finding that stops the gate, as the verdict names it (a report can hold tens of thousands:
/// the verdict does not copy them whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blocking {
    pub id: String,
    pub severity: super::Severity,
    pub location: String,
}

impl Blocking {
    fn of(f: &Finding) -> Blocking {
        Blocking { id: f.id.clone(), severity: f.severity, location: f.location.clone() }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub pass: bool,
    pub blocking: Vec<Blocking>,
    pub unreadable: Vec<ReportError>,
    /// Findings over the limit that a valid acceptance lets through.
    pub accepted: Vec<(String, Acceptance)>,
    /// Acceptances that would have applied but have expired (flagged; they do not count).
    pub expired: Vec<Acceptance>,
    /// Every finding that counts (neither exempt by its tool nor accepted), by severity.
    #[serde(default)]
    pub counts: Counts,
    pub summary: String,
    /// The tests rule's verdict, where the environment has one.
    #[serde(default)]
    pub tests: Option<TestsVerdict>,
    /// The coverage rule's verdict, where the environment has one.
    #[serde(default)]
    pub coverage: Option<CoverageVerdict>,
    /// The changed-lines coverage rule's verdict, where the environment has one.
    #[serde(default)]
    pub changed_coverage: Option<CoverageVerdict>,
    /// The load test rule's verdict, where the environment has one.
    #[serde(default)]
    pub load: Option<LoadVerdict>,
    /// The SonarQube quality gate rule's verdict, where the environment has one.
    #[serde(default)]
    pub quality: Option<QualityVerdict>,
    /// The signature rule's verdict, where the environment has one.
    #[serde(default)]
    pub signature: Option<SignatureVerdict>,
    /// Each rule the environment has, in order, with its outcome: what a screen lists line by line.
    #[serde(default)]
    pub rules: Vec<RuleOutcome>,
}

/// One rule of the release gate and what it said.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    pub rule: String,
    pub pass: bool,
    pub summary: String,
}

/// The signature rule: each image the run built signed by the trusted key (and, where asked, with
/// a signed SBOM attestation matching the pipeline's SBOM).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SignatureVerdict {
    pub pass: bool,
    pub key: String,
    /// Per image: `image@digest`, what its signatures say, and its SBOM check.
    pub images: Vec<ImageVerdict>,
    pub summary: String,
    #[serde(default)]
    pub excepted: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageVerdict {
    pub image: String,
    pub signed: super::signature::Signed,
    pub sbom: Option<super::signature::SbomCheck>,
}

/// Signed by the key, with an image to show it: no image, an unsigned or wrongly signed one, or a
/// registry that could not be read all fail closed.
pub fn judge_signatures(
    images: &[super::signature::ImageEvidence],
    key: &super::signature::TrustedKey,
    sbom_attested: bool,
    pipeline_sbom: Option<&[String]>,
) -> SignatureVerdict {
    use super::signature::{Signed, check_sbom, verify};
    let mut v = SignatureVerdict { key: key.name.clone(), ..SignatureVerdict::default() };
    let mut said = Vec::new();
    let mut pass = !images.is_empty();
    for ev in images {
        let signed = verify(ev, key);
        let sbom = (sbom_attested && matches!(signed, Signed::By(_))).then(|| check_sbom(ev, key, pipeline_sbom));
        let ok = matches!(signed, Signed::By(_)) && sbom.as_ref().is_none_or(|s| s.attested && s.added.is_empty() && s.missing.is_empty());
        pass &= ok;
        let sbom_text = sbom.as_ref().map(|s| format!("; {}", s.text)).unwrap_or_default();
        let short = &ev.digest[..ev.digest.len().min(19)];
        said.push(format!("{}@{short}…: {}{sbom_text}", ev.image, signed.text()));
        v.images.push(ImageVerdict { image: format!("{}@{}", ev.image, ev.digest), signed, sbom });
    }
    v.pass = pass;
    v.summary = if images.is_empty() {
        "no image to check: the rule needs the build's metadata (docker buildx build --metadata-file) among a stage's reports".into()
    } else {
        said.join("; ")
    };
    v
}

/// The quality gate rule: every SonarQube analysis of the run passed its gate on the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityVerdict {
    pub pass: bool,
    pub analyses: usize,
    /// Each analysis: project, status (`OK`, `ERROR`…) and the conditions that failed.
    pub gates: Vec<String>,
    pub summary: String,
    /// Who excepted the failing rule, until when and why, when an exception lets it through.
    #[serde(default)]
    pub excepted: Option<String>,
}

/// SonarQube's gate OK for every analysis, with one to show it; a gate the server could not be
/// asked about fails closed.
pub fn judge_quality(gates: &[super::sonar::QualityGate]) -> QualityVerdict {
    let texts: Vec<String> = gates.iter().map(|g| g.text()).collect();
    let pass = !gates.is_empty() && gates.iter().all(|g| g.passed());
    let summary = if gates.is_empty() {
        "no SonarQube analysis: the rule needs one (the scanner's report-task.txt among a stage's reports)".to_string()
    } else if pass {
        format!("{} OK", texts.join("; ").replace(" quality gate OK", ""))
    } else {
        texts.iter().zip(gates).filter(|(_, g)| !g.passed()).map(|(t, _)| t.clone()).collect::<Vec<_>>().join("; ")
    };
    QualityVerdict { pass, analyses: gates.len(), gates: texts, summary, excepted: None }
}

/// The load test rule: every load test report within its thresholds and the environment's limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadVerdict {
    pub pass: bool,
    pub reports: usize,
    pub thresholds: usize,
    pub thresholds_failed: usize,
    /// Each way a report fell short, as `path: what` (k6 thresholds crossed, limits exceeded).
    pub failures: Vec<String>,
    pub summary: String,
    /// Who excepted the failing rule, until when and why, when an exception lets it through.
    #[serde(default)]
    pub excepted: Option<String>,
}

/// Load tests within bounds, with reports to show it: missing reports fail closed.
pub fn judge_load(reports: &[super::LoadReport], limits: &LoadLimits) -> LoadVerdict {
    let mut v = LoadVerdict { reports: reports.len(), ..LoadVerdict::default() };
    for r in reports {
        let s = &r.summary;
        v.thresholds += s.thresholds.len();
        for t in s.failed_thresholds() {
            v.thresholds_failed += 1;
            v.failures.push(format!("{}: k6 threshold {} on {} crossed", r.path, t.expression, t.metric));
        }
        let mut short = |what: String| v.failures.push(format!("{}: {what}", r.path));
        match (limits.max_p95_ms, s.p95_ms) {
            (Some(max), Some(p)) if p > max => short(format!("p95 {p:.1} ms over {max} ms")),
            (Some(_), None) => short("no p95 to judge (no requests measured)".into()),
            _ => {}
        }
        match (limits.max_failure_ratio, s.failure_ratio) {
            (Some(max), Some(f)) if f > max => short(format!("{:.2} % of requests failed, over {:.2} %", f * 100.0, max * 100.0)),
            (Some(_), None) => short("no failure ratio to judge (no requests measured)".into()),
            _ => {}
        }
        match (limits.min_rps, s.rps) {
            (Some(min), Some(r)) if r < min => short(format!("{r:.1} req/s, under {min} req/s")),
            (Some(_), None) => short("no request rate to judge".into()),
            _ => {}
        }
        // A Locust report with no limit to meet would pass on nothing: its failures must be zero.
        let unlimited = limits.max_p95_ms.is_none() && limits.max_failure_ratio.is_none() && limits.min_rps.is_none();
        if s.thresholds.is_empty() && unlimited && s.failed_requests > 0 {
            short(format!("{} of {} requests failed (no limits configured: none may fail)", s.failed_requests, s.requests));
        }
        if s.requests == 0 && s.thresholds.is_empty() {
            short("measured no requests".into());
        }
    }
    v.pass = !reports.is_empty() && v.failures.is_empty();
    v.summary = if reports.is_empty() {
        "no load test results: the rule needs them (a k6 summary or Locust stats among a stage's reports)".into()
    } else if let Some(first) = v.failures.first() {
        let more = if v.failures.len() > 1 { format!(" (+{} more)", v.failures.len() - 1) } else { String::new() };
        format!(
            "{} of {} load test(s) short: {first}{more}",
            reports.iter().filter(|r| v.failures.iter().any(|f| f.starts_with(&r.path))).count(),
            reports.len()
        )
    } else {
        let requests: u64 = reports.iter().map(|r| r.summary.requests).sum();
        format!("{} load test(s) passed ({requests} requests, {} thresholds)", reports.len(), v.thresholds)
    };
    v
}

/// The coverage rule: lines covered over the run's coverage reports, against the least allowed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageVerdict {
    pub pass: bool,
    pub reports: usize,
    pub lines_valid: usize,
    pub lines_covered: usize,
    pub percent: Option<f64>,
    pub min: f64,
    pub summary: String,
    /// Who excepted the failing rule, until when and why, when an exception lets it through.
    #[serde(default)]
    pub excepted: Option<String>,
}

/// Coverage of the added lines at least `min` percent, summed over the reports that judged them.
pub fn judge_changed_coverage(reports: &[super::CoverageReport], min: f64) -> CoverageVerdict {
    let mut v = CoverageVerdict { reports: reports.len(), min, ..CoverageVerdict::default() };
    let judged: Vec<&super::coverage::ChangedCoverage> = reports.iter().filter_map(|r| r.summary.changed.as_ref()).collect();
    let problem = judged.iter().find_map(|c| c.problem.clone());
    for c in judged.iter().filter(|c| c.problem.is_none()) {
        v.lines_valid = v.lines_valid.saturating_add(c.lines);
        v.lines_covered = v.lines_covered.saturating_add(c.covered);
    }
    v.percent = (v.lines_valid > 0).then(|| v.lines_covered as f64 * 100.0 / v.lines_valid as f64);
    // No measured line changed: nothing the tests could have missed.
    v.pass = problem.is_none() && !judged.is_empty() && v.percent.is_none_or(|p| p >= min);
    let base = judged.first().map(|c| c.base.clone()).unwrap_or_default();
    v.summary = match (problem, v.percent) {
        (Some(p), _) => format!("changed lines not judged: {p}"),
        (None, _) if judged.is_empty() => {
            "changed lines not known: the rule needs a coverage report and `[findings] diff_base` (the revision the change is compared with)".into()
        }
        (None, None) => format!("no measured line changed since {base}"),
        (None, Some(p)) => format!("{p:.1} % of {} changed lines since {base} (at least {min} % wanted)", v.lines_valid),
    };
    v
}

/// Line coverage at least `min` percent, with reports to show it: missing reports fail closed.
pub fn judge_coverage(reports: &[super::CoverageReport], min: f64) -> CoverageVerdict {
    let mut v = CoverageVerdict { reports: reports.len(), min, ..CoverageVerdict::default() };
    for r in reports {
        v.lines_valid = v.lines_valid.saturating_add(r.summary.lines_valid);
        v.lines_covered = v.lines_covered.saturating_add(r.summary.lines_covered);
    }
    v.percent = (v.lines_valid > 0).then(|| v.lines_covered as f64 * 100.0 / v.lines_valid as f64);
    v.pass = v.percent.is_some_and(|p| p >= min);
    v.summary = match v.percent {
        None if reports.is_empty() => "no coverage report: the rule needs one (Cobertura XML or LCOV among a stage's reports)".into(),
        None => "the coverage reports measured no lines".into(),
        Some(p) => format!("{p:.1} % of {} lines (at least {min} % wanted)", v.lines_valid),
    };
    v
}

/// The tests rule: what the run's test results say, summed over its reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestsVerdict {
    pub pass: bool,
    pub reports: usize,
    pub tests: usize,
    pub failing: usize,
    pub skipped: usize,
    pub flaky: usize,
    pub summary: String,
    /// Who excepted the failing rule, until when and why, when an exception lets it through.
    #[serde(default)]
    pub excepted: Option<String>,
}

/// No failing test, and results to show it: missing results fail closed.
pub fn judge_tests(reports: &[super::TestReport]) -> TestsVerdict {
    let mut v = TestsVerdict { reports: reports.len(), ..TestsVerdict::default() };
    for r in reports {
        v.tests += r.summary.tests;
        v.failing += r.summary.failing();
        v.skipped += r.summary.skipped;
        v.flaky += r.summary.flaky;
    }
    let first = reports.iter().flat_map(|r| r.summary.failed.first().map(|f| (r, f))).next();
    v.pass = !reports.is_empty() && v.failing == 0;
    v.summary = if reports.is_empty() {
        "no test results: the rule needs them (a stage's reports must include JUnit XML)".to_string()
    } else if v.failing > 0 {
        let (r, f) = first.map(|(r, f)| (r.path.as_str(), format!("{} — {}", f.name, f.message))).unwrap_or_default();
        format!("{} of {} tests failing (first: {f}, in {r})", v.failing, v.tests)
    } else {
        let flaky = if v.flaky > 0 { format!(", {} flaky", v.flaky) } else { String::new() };
        format!("{} tests passed ({} skipped{flaky})", v.tests - v.skipped, v.skipped)
    };
    v
}

pub fn evaluate(
    findings: &[Finding],
    unreadable: &[ReportError],
    policy: &GatePolicy,
    acceptances: &Acceptances,
    today: Date,
) -> GateVerdict {
    if policy.max_allowed.is_none() && policy.max_dast.is_none() {
        return GateVerdict { pass: true, summary: "no severity limit here".into(), ..GateVerdict::default() };
    }
    let mut v = GateVerdict { unreadable: unreadable.to_vec(), ..GateVerdict::default() };
    let judged = |f: &&Finding| policy.limit_for(f).is_some();
    let counting =
        findings.iter().filter(judged).filter(|f| f.suppressed.is_none() && acceptances.find(f).is_none_or(|a| a.expired(today)));
    v.counts = Counts::of(counting);
    for f in findings {
        let Some(limit) = policy.limit_for(f) else { continue };
        // A licence has no fix to wait for: `fixable_only` is about vulnerabilities.
        let waits_for_fix = policy.fixable_only && f.kind != FindingKind::Licence && !f.fixable();
        if f.suppressed.is_some() || f.severity <= limit || waits_for_fix {
            continue;
        }
        match acceptances.find(f) {
            Some(a) if !a.expired(today) => v.accepted.push((f.id.clone(), a.clone())),
            Some(a) => {
                if !v.expired.contains(a) {
                    v.expired.push(a.clone());
                }
                v.blocking.push(Blocking::of(f));
            }
            None => v.blocking.push(Blocking::of(f)),
        }
    }
    v.pass = v.blocking.is_empty() && v.unreadable.is_empty();
    let licences = policy.max_licence.map(|l| format!(", no licence above {}", l.label())).unwrap_or_default();
    let mut limits = Vec::new();
    if let Some(max) = policy.max_allowed {
        limits.push(format!("nothing above {}{}", max.label(), if policy.fixable_only { " with a fix" } else { "" }));
    }
    if let Some(max) = policy.max_dast {
        limits.push(format!("no ZAP alert above {}", max.label()));
    }
    let limit = format!("{}{licences}", limits.join(", "));
    v.summary = if v.pass {
        let acc = if v.accepted.is_empty() { String::new() } else { format!(", {} accepted", v.accepted.len()) };
        format!("pass ({limit}{acc}; open: {})", v.counts.badge())
    } else {
        let mut parts = Vec::new();
        if !v.blocking.is_empty() {
            let ids: Vec<&str> = v.blocking.iter().take(3).map(|f| f.id.as_str()).collect();
            let more = if v.blocking.len() > 3 { format!(" +{}", v.blocking.len() - 3) } else { String::new() };
            parts.push(format!(
                "{} blocking ({}): {}{more}",
                v.blocking.len(),
                Counts::of_severities(v.blocking.iter().map(|b| b.severity)).badge(),
                ids.join(", ")
            ));
        }
        if !v.unreadable.is_empty() {
            parts.push(format!("{} unreadable report(s): {}", v.unreadable.len(), v.unreadable[0]));
        }
        if !v.expired.is_empty() {
            parts.push(format!("{} acceptance(s) expired", v.expired.len()));
        }
        format!("FAIL ({limit}): {}", parts.join("; "))
    };
    v
}
