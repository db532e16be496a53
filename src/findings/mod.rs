//! Release evidence: scan reports (SARIF, Trivy, Grype, Bandit, Snyk, Dependency-Check, ZAP;
//! CycloneDX summarised) turned into one normalised table of findings, grouped across tools; test
//! results, coverage and load tests summarised; all judged by the release gate. Parsers are
//! tolerant of what they do not need and never silent: a report that cannot be read is a
//! diagnostic naming the file and the problem, and a gate with such a report fails closed.

mod acceptances;
pub mod archive;
mod bandit;
pub mod coverage;
pub mod cyclonedx;
mod dependency_check;
mod detect;
mod gate;
mod group;
mod grype;
mod junit;
mod load;
mod read;
pub mod registry;
pub mod registry_auth;
mod sarif;
pub mod severity;
pub mod signature;
mod snyk;
pub mod sonar;
pub mod spdx;
mod trivy;
mod zap;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use acceptances::{Acceptance, Acceptances, EXCEPTABLE_RULES, RULE_PREFIX};
pub use coverage::{ChangedCoverage, CoverageSummary, added_lines};
pub use detect::{Format, detect};
pub use gate::{
    Blocking, CoverageVerdict, GatePolicy, GateVerdict, LoadLimits, LoadVerdict, QualityVerdict, RuleOutcome, SignatureVerdict,
    TestsVerdict, evaluate, judge_changed_coverage, judge_coverage, judge_load, judge_quality, judge_signatures, judge_tests,
};
pub use group::group;
pub use junit::{Declared, TestFailure, TestSummary};
pub use load::{LoadSummary, Threshold};
pub use severity::Severity;

/// Reports larger than this are refused (and a gate depending on them fails closed).
pub const DEFAULT_MAX_REPORT_BYTES: u64 = 128 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Vulnerability,
    Code,
    Misconfiguration,
    Secret,
    /// A licence of note: judged by its own gate threshold, off unless an environment sets one.
    Licence,
    /// An alert from a dynamic scan of the running application (ZAP).
    Dast,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule or vulnerability id (CVE-…, GHSA-…, B301, a SARIF rule id).
    pub id: String,
    /// Every tool that reported it (more than one after grouping).
    #[serde(deserialize_with = "exactly_sized")]
    pub tools: Vec<String>,
    pub kind: FindingKind,
    pub severity: Severity,
    /// The severity as the tool wrote it.
    pub raw_severity: String,
    /// Why it got its normalised severity (score, label or level).
    pub severity_reason: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `file:line`, or `package@version` in a target.
    pub location: String,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub installed: Option<String>,
    /// Version that fixes it, when one exists.
    #[serde(default)]
    pub fixed: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// Why the tool itself marks it as not counting (suppression, baseline, status).
    #[serde(default)]
    pub suppressed: Option<String>,
    /// Report files it came from.
    #[serde(deserialize_with = "exactly_sized")]
    pub reports: Vec<String>,
}

/// A list read back at its length: one read from a stream is given room for four, and a stored
/// report holds 100,000 findings with two lists each.
fn exactly_sized<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut v = Vec::<String>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

impl Finding {
    pub fn fixable(&self) -> bool {
        self.fixed.as_deref().is_some_and(|f| !f.trim().is_empty())
    }
    pub fn tool(&self) -> &str {
        self.tools.first().map(String::as_str).unwrap_or("")
    }
}

/// An SBOM is summarised rather than turned into findings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SbomSummary {
    pub subject: String,
    pub components: usize,
    pub by_type: std::collections::BTreeMap<String, usize>,
    /// Licences worth a look (copyleft), with how many components carry each.
    pub licences_of_note: std::collections::BTreeMap<String, usize>,
    pub without_licence: usize,
    /// Each component by identity (purl, else group/name@version), sorted: what an SBOM
    /// attestation is compared with.
    #[serde(default)]
    pub component_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParsedReport {
    pub path: String,
    pub format: Format,
    pub tool: String,
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub sbom: Option<SbomSummary>,
    /// Test results (JUnit XML), summarised rather than turned into findings.
    #[serde(default)]
    pub tests: Option<TestSummary>,
    /// Code coverage (Cobertura XML, LCOV), summarised.
    #[serde(default)]
    pub coverage: Option<CoverageSummary>,
    /// A load test (k6 summary, Locust stats), summarised.
    #[serde(default)]
    pub load: Option<LoadSummary>,
    /// A SonarQube analysis (`report-task.txt`) and its quality gate, once the server was asked.
    #[serde(default)]
    pub quality: Option<sonar::QualityGate>,
    /// The image a build pushed, and its signatures and attestations once the registry was read.
    #[serde(default)]
    pub image: Option<signature::ImageEvidence>,
}

impl ParsedReport {
    /// A report of this format with nothing in it yet.
    pub fn empty(shown_as: &str, format: Format) -> ParsedReport {
        ParsedReport {
            path: shown_as.into(),
            format,
            tool: String::new(),
            findings: Vec::new(),
            sbom: None,
            tests: None,
            coverage: None,
            load: None,
            quality: None,
            image: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{path}: {problem}")]
pub struct ReportError {
    pub path: String,
    pub problem: String,
}

/// Reads and parses one report file.
pub fn read_report(path: &Path, shown_as: &str, max_bytes: u64) -> Result<ParsedReport, ReportError> {
    let err = |problem: String| ReportError { path: shown_as.to_string(), problem };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read the report: {e}")))?;
    // A device or a pipe would be read forever (or block): a report is a regular file.
    if !meta.is_file() {
        return Err(err("not a regular file (a device, pipe or directory); a report must be a file the scanner wrote".into()));
    }
    if meta.len() > max_bytes {
        return Err(err(format!(
            "the report is {} MB, over the {} MB limit (findings.max_report_size); it was not read",
            meta.len() / (1024 * 1024),
            max_bytes / (1024 * 1024)
        )));
    }
    if meta.len() >= read::MAPPED_FROM
        && let Some(parsed) = read::mapped(path, shown_as, max_bytes)
    {
        return parsed;
    }
    use std::io::Read;
    // Never more than the limit, even if the file grows while it is read.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes))
        .map_err(|e| err(format!("cannot read the report: {e}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(err(format!("the report grew over the {} MB limit while it was read", max_bytes / (1024 * 1024))));
    }
    parse_report(&bytes, shown_as)
}

/// Parses report bytes of any supported format (detected from the content).
pub fn parse_report(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, ReportError> {
    parse_report_releasing(bytes, shown_as, &mut |_| {})
}

/// `parse_report`, telling `done_with` how much of the text will not be read again.
fn parse_report_releasing(bytes: &[u8], shown_as: &str, done_with: &mut dyn FnMut(usize)) -> Result<ParsedReport, ReportError> {
    let err = |problem: String| ReportError { path: shown_as.to_string(), problem };
    // Some tools on Windows start their JSON with a byte order mark.
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let bytes = &bytes[bom..];
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(err("the report is empty".into()));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(err(format!("the report is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to())));
    }
    let format = detect(bytes).ok_or_else(|| {
        err("not a report format flightdeck knows (SARIF 2.1.0, Trivy JSON, Grype JSON, Bandit JSON, CycloneDX, Snyk JSON, Dependency-Check JSON, ZAP JSON, JUnit XML, Cobertura XML, LCOV, k6 summary JSON, Locust stats, SonarQube report-task.txt, buildx metadata)"
            .into())
    })?;
    let parsed = match format {
        Format::Sarif => sarif::parse(bytes, shown_as, &mut |n| done_with(n + bom)),
        Format::Trivy => trivy::parse(bytes, shown_as),
        Format::Grype => grype::parse(bytes, shown_as),
        Format::Bandit => bandit::parse(bytes, shown_as),
        Format::CycloneDx => cyclonedx::parse(bytes, shown_as),
        Format::Spdx => spdx::parse(bytes, shown_as),
        Format::Snyk => snyk::parse(bytes, shown_as),
        Format::JUnit => junit::parse(bytes, shown_as),
        Format::Cobertura => coverage::parse_cobertura(bytes, shown_as),
        Format::Lcov => coverage::parse_lcov(bytes, shown_as),
        Format::DependencyCheck => dependency_check::parse(bytes, shown_as),
        Format::Zap => zap::parse(bytes, shown_as),
        Format::K6 => load::parse_k6(bytes, shown_as),
        Format::LocustJson => load::parse_locust_json(bytes, shown_as),
        Format::LocustCsv => load::parse_locust_csv(bytes, shown_as),
        Format::SonarTask => sonar::parse_task(bytes, shown_as),
        Format::BuildMetadata => signature::parse_metadata(bytes, shown_as),
    };
    parsed.map_err(err).map(|mut p| {
        // A vector grown one finding at a time holds up to twice its length.
        p.findings.shrink_to_fit();
        p
    })
}

/// A short, plain excerpt of a value from a report, for a diagnostic: reports are outside text
/// and can be huge.
pub(crate) fn excerpt(value: &str) -> String {
    crate::logstore::sanitize::excerpt(value, 80)
}

/// A serde_json error in words an engineer can act on. serde quotes the offending value, which
/// can be megabytes of outside text: only a short, plain excerpt of it is kept.
pub(crate) fn json_problem(e: &serde_json::Error, what: &str) -> String {
    use serde_json::error::Category;
    let said = crate::logstore::sanitize::excerpt(&e.to_string(), 240);
    match e.classify() {
        Category::Eof => format!("the {what} is truncated (it ends in the middle, at line {} column {})", e.line(), e.column()),
        Category::Syntax if said.contains("recursion limit") => {
            format!("the {what} is nested too deeply to be a real report (line {})", e.line())
        }
        Category::Syntax => format!("the {what} is not valid JSON: {said}"),
        Category::Data => format!("the {what} does not have the expected structure: {said}"),
        Category::Io => format!("cannot read the {what}: {said}"),
    }
}

/// What a run's reports say, as its CI provider reads them: the findings (grouped), the test
/// results, and the reports that could not be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunReports {
    pub findings: Vec<Finding>,
    pub unreadable: Vec<ReportError>,
    pub tests: Vec<TestReport>,
    pub coverage: Vec<CoverageReport>,
    pub load: Vec<LoadReport>,
    pub quality: Vec<sonar::QualityGate>,
    pub images: Vec<signature::ImageEvidence>,
    /// The components of the SBOMs the run produced (CycloneDX among its reports), by identity.
    pub sbom_components: Option<Vec<String>>,
}

/// One load test report and what it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub path: String,
    pub summary: LoadSummary,
}

/// One coverage report and what it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageReport {
    pub path: String,
    pub summary: CoverageSummary,
}

/// One test results file and what it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub path: String,
    pub summary: TestSummary,
}

impl RunReports {
    /// Every report read into findings, test results or a diagnostic.
    pub fn add(&mut self, mut parsed: ParsedReport) {
        if let Some(summary) = parsed.tests.take() {
            self.tests.push(TestReport { path: parsed.path.clone(), summary });
        }
        if let Some(summary) = parsed.coverage.take() {
            self.coverage.push(CoverageReport { path: parsed.path.clone(), summary });
        }
        if let Some(summary) = parsed.load.take() {
            self.load.push(LoadReport { path: parsed.path.clone(), summary });
        }
        if let Some(gate) = parsed.quality.take() {
            self.quality.push(gate);
        }
        if let Some(image) = parsed.image.take() {
            self.images.push(image);
        }
        if let Some(sbom) = parsed.sbom.as_mut() {
            let all = self.sbom_components.get_or_insert_with(Vec::new);
            all.append(&mut sbom.component_ids);
            all.sort();
            all.dedup();
        }
        // Moved, not copied: a large report's findings are not held twice.
        if self.findings.is_empty() {
            self.findings = std::mem::take(&mut parsed.findings);
        } else {
            self.findings.append(&mut parsed.findings);
        }
    }

    /// What the gate judges: these, with the acceptances in force.
    pub fn judged_with(self, acceptances: Acceptances) -> Evidence {
        Evidence {
            findings: self.findings,
            unreadable: self.unreadable,
            tests: self.tests,
            coverage: self.coverage,
            load: self.load,
            quality: self.quality,
            images: self.images,
            sbom_components: self.sbom_components,
            acceptances,
        }
    }
}

/// What a release gate judges: the run's findings (grouped), its test results, the reports that
/// could not be read, and the acceptances in force.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    pub findings: Vec<Finding>,
    pub unreadable: Vec<ReportError>,
    pub acceptances: Acceptances,
    pub tests: Vec<TestReport>,
    pub coverage: Vec<CoverageReport>,
    pub load: Vec<LoadReport>,
    pub quality: Vec<sonar::QualityGate>,
    pub images: Vec<signature::ImageEvidence>,
    pub sbom_components: Option<Vec<String>>,
}

impl Evidence {
    /// The gate's verdict: the findings against the severity limit, and the test results
    /// against the tests rule, each where the environment has one.
    pub fn judge(&self, policy: &GatePolicy, today: jiff::civil::Date) -> GateVerdict {
        let mut v = evaluate(&self.findings, &self.unreadable, policy, &self.acceptances, today);
        let mut outcomes = Vec::new();
        if policy.max_allowed.is_some() || policy.max_dast.is_some() {
            outcomes.push(gate::RuleOutcome { rule: "findings".into(), pass: v.pass, summary: v.summary.clone() });
        }
        // Each further rule: whether it passes, and what it says.
        let mut rules: Vec<(bool, String)> = Vec::new();
        let mut rule = |name: &str, pass: &mut bool, summary: &mut String, excepted: &mut Option<String>| {
            self.except(name, &policy.environment, today, pass, summary, excepted);
            rules.push((*pass, format!("{name}: {} {summary}", mark(*pass))));
            outcomes.push(gate::RuleOutcome { rule: name.to_string(), pass: *pass, summary: summary.clone() });
        };
        if policy.tests_must_pass {
            let mut t = gate::judge_tests(&self.tests);
            rule("tests", &mut t.pass, &mut t.summary, &mut t.excepted);
            v.tests = Some(t);
        }
        if let Some(min) = policy.min_coverage {
            let mut c = gate::judge_coverage(&self.coverage, f64::from(min) / 100.0);
            rule("coverage", &mut c.pass, &mut c.summary, &mut c.excepted);
            v.coverage = Some(c);
        }
        if let Some(min) = policy.min_changed_coverage {
            let mut c = gate::judge_changed_coverage(&self.coverage, f64::from(min) / 100.0);
            rule("changed_coverage", &mut c.pass, &mut c.summary, &mut c.excepted);
            v.changed_coverage = Some(c);
        }
        if policy.load_must_pass {
            let mut l = gate::judge_load(&self.load, &policy.load_limits);
            rule("load", &mut l.pass, &mut l.summary, &mut l.excepted);
            v.load = Some(l);
        }
        if policy.quality_gate_must_pass {
            let mut q = gate::judge_quality(&self.quality);
            rule("quality", &mut q.pass, &mut q.summary, &mut q.excepted);
            v.quality = Some(q);
        }
        if let Some(key) = &policy.signed_by {
            let mut s = gate::judge_signatures(&self.images, key, policy.sbom_attested, self.sbom_components.as_deref());
            rule("signature", &mut s.pass, &mut s.summary, &mut s.excepted);
            v.signature = Some(s);
        }
        v.rules = outcomes;
        if rules.is_empty() {
            return v;
        }
        let said: Vec<&str> = rules.iter().map(|(_, s)| s.as_str()).collect();
        let rules_pass = rules.iter().all(|(p, _)| *p);
        if policy.max_allowed.is_none() && policy.max_dast.is_none() {
            // No severity limit here: an unreadable report still fails the gate closed.
            v.unreadable = self.unreadable.clone();
            v.pass = rules_pass && self.unreadable.is_empty();
            let unreadable =
                self.unreadable.first().map(|u| format!("; {} unreadable report(s): {u}", self.unreadable.len())).unwrap_or_default();
            v.summary = format!("{} ({}{unreadable})", if v.pass { "pass" } else { "FAIL" }, said.join("; "));
        } else {
            v.pass &= rules_pass;
            v.summary = format!("{} — findings: {}; {}", if v.pass { "pass" } else { "FAIL" }, v.summary, said.join("; "));
        }
        v
    }
}

impl Evidence {
    /// A failing rule that an exception in force lets through passes, saying who excepted it,
    /// until when and why; an expired exception is named and changes nothing.
    fn except(
        &self,
        rule: &str,
        environment: &str,
        today: jiff::civil::Date,
        pass: &mut bool,
        summary: &mut String,
        excepted: &mut Option<String>,
    ) {
        if *pass {
            return;
        }
        let Some(a) = self.acceptances.exception(rule, environment) else { return };
        let reason = crate::logstore::sanitize::excerpt(&a.reason, 120);
        if a.expired(today) {
            summary.push_str(&format!(" (the exception by {} expired {})", a.by, a.expires));
            return;
        }
        *pass = true;
        let said = format!("excepted by {} until {}: {reason}", a.by, a.expires);
        *summary = format!("{said} — {summary}");
        *excepted = Some(said);
    }
}

/// A rule's outcome at a glance, beside what it says.
fn mark(pass: bool) -> &'static str {
    if pass { "✓" } else { "✗" }
}

/// Counts by severity for badges: `C2 H5 M10 L3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl Counts {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Counts {
        Counts::of_severities(findings.into_iter().map(|f| f.severity))
    }

    pub fn of_severities(severities: impl IntoIterator<Item = Severity>) -> Counts {
        let mut c = Counts::default();
        for severity in severities {
            match severity {
                Severity::Critical => c.critical += 1,
                Severity::High => c.high += 1,
                Severity::Medium => c.medium += 1,
                Severity::Low => c.low += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }

    /// Totals over several summaries (e.g. every scan job of a run).
    pub fn total<'a>(counts: impl IntoIterator<Item = &'a Counts>) -> Counts {
        counts.into_iter().fold(Counts::default(), |a, c| Counts {
            critical: a.critical + c.critical,
            high: a.high + c.high,
            medium: a.medium + c.medium,
            low: a.low + c.low,
            info: a.info + c.info,
        })
    }

    pub fn badge(&self) -> String {
        let parts: Vec<String> = [("C", self.critical), ("H", self.high), ("M", self.medium), ("L", self.low)]
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(l, n)| format!("{l}{n}"))
            .collect();
        if parts.is_empty() { "clean".into() } else { parts.join(" ") }
    }
}
