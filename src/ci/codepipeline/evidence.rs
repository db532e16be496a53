//! A run's evidence from CodeBuild report groups: each CodeBuild action's build names its reports
//! (`reportArns`); a test report's cases (`DescribeTestCases`) and a coverage report's summary
//! and files (`DescribeCodeCoverages`) become the test results and coverage the release gate
//! judges, as if the JUnit or Cobertura file had been read here.

use serde::Deserialize;
use serde_json::{Value, json};

use super::CodePipelineProvider;
use crate::aws::json_rpc::CODEBUILD;
use crate::ci::{CiError, RunEvidence};
use crate::findings::{CoverageReport, CoverageSummary, Declared, TestFailure, TestReport, TestSummary};
use crate::logstore::sanitize::{excerpt, plain};

/// Pages of test cases or files read per report at most (100 or 1,000 each).
const PAGES: usize = 100;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Builds {
    #[serde(default)]
    builds: Vec<BuildReports>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BuildReports {
    #[serde(default)]
    report_arns: Vec<String>,
    artifacts: Option<Artifact>,
    #[serde(default)]
    secondary_artifacts: Vec<Artifact>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    location: Option<String>,
    artifact_identifier: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Reports {
    #[serde(default)]
    reports: Vec<Report>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Report {
    arn: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    test_summary: Option<Totals>,
    code_coverage_summary: Option<CoverageTotals>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Totals {
    total: usize,
    #[serde(default)]
    status_counts: std::collections::BTreeMap<String, usize>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CoverageTotals {
    lines_covered: Option<usize>,
    lines_missed: Option<usize>,
    line_coverage_percentage: Option<f64>,
    branches_covered: Option<usize>,
    branches_missed: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Cases {
    #[serde(default)]
    test_cases: Vec<Case>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Case {
    #[serde(default)]
    name: String,
    #[serde(default)]
    prefix: String,
    /// SUCCEEDED, FAILED, ERROR, SKIPPED, UNKNOWN.
    #[serde(default)]
    status: String,
    message: Option<String>,
    test_suite_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Files {
    #[serde(default)]
    code_coverages: Vec<Value>,
    next_token: Option<String>,
}

async fn call<T: serde::de::DeserializeOwned + Default>(p: &CodePipelineProvider, op: &str, input: Value) -> Result<T, CiError> {
    let v = p.inner.session.call(&CODEBUILD, op, &input).await?;
    serde_json::from_value(v).map_err(|e| CiError::Other(format!("CodeBuild's answer to {op}: {e}")))
}

/// The reports of these builds, read into test results and coverage.
pub async fn read(p: &CodePipelineProvider, builds: &[String]) -> Result<RunEvidence, CiError> {
    let mut out = RunEvidence::default();
    if builds.is_empty() {
        return Ok(out);
    }
    let got: Builds = call(p, "BatchGetBuilds", json!({"ids": builds})).await?;
    let wanted = &p.inner.settings.report_artifacts;
    if !wanted.is_empty() {
        // The primary artifact is `primary` unless it names itself; secondary ones by identifier.
        let artifacts: Vec<(String, String)> = got
            .builds
            .iter()
            .flat_map(|b| {
                let primary = b.artifacts.clone().map(|a| (a.artifact_identifier.clone().unwrap_or_else(|| "primary".into()), a));
                primary
                    .into_iter()
                    .chain(b.secondary_artifacts.iter().map(|a| (a.artifact_identifier.clone().unwrap_or_default(), a.clone())))
            })
            .filter(|(id, _)| wanted.contains(id))
            .filter_map(|(id, a)| a.location.map(|l| (id, l)))
            .collect();
        for (id, location) in artifacts {
            super::artifacts::read(&p.inner.session, &id, &location, &mut out).await;
        }
    }
    let arns: Vec<String> = got.builds.into_iter().flat_map(|b| b.report_arns).collect();
    // BatchGetReports takes at most 100 at a time.
    for chunk in arns.chunks(100) {
        let reports: Reports = call(p, "BatchGetReports", json!({"reportArns": chunk})).await?;
        for r in reports.reports {
            let path = format!("codebuild:{}", plain(r.name.as_deref().unwrap_or_else(|| r.arn.rsplit('/').next().unwrap_or(&r.arn))));
            match r.kind.as_deref() {
                Some("TEST") => out.tests.push(TestReport { path, summary: tests(p, &r).await? }),
                Some("CODE_COVERAGE") => out.coverage.push(CoverageReport { path, summary: coverage(p, &r).await? }),
                _ => {}
            }
        }
    }
    Ok(out)
}

async fn tests(p: &CodePipelineProvider, r: &Report) -> Result<TestSummary, CiError> {
    let mut s = TestSummary { suites: 0, ..TestSummary::default() };
    let mut suites = std::collections::BTreeSet::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let mut input = json!({"reportArn": r.arn, "maxResults": 100});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page: Cases = call(p, "DescribeTestCases", input).await?;
        for c in page.test_cases {
            s.tests += 1;
            suites.insert(c.test_suite_name.clone().unwrap_or_else(|| c.prefix.clone()));
            let kind = match c.status.as_str() {
                "FAILED" => {
                    s.failures += 1;
                    "failure"
                }
                "ERROR" => {
                    s.errors += 1;
                    "error"
                }
                "SKIPPED" => {
                    s.skipped += 1;
                    continue;
                }
                _ => continue,
            };
            if s.failed.len() < 500 {
                s.failed.push(TestFailure {
                    suite: excerpt(&plain(c.test_suite_name.as_deref().unwrap_or(&c.prefix)), 300),
                    name: excerpt(&plain(&c.name), 300),
                    classname: excerpt(&plain(&c.prefix), 300),
                    kind: kind.into(),
                    message: excerpt(&plain(c.message.as_deref().unwrap_or_default().lines().next().unwrap_or_default()), 500),
                    location: None,
                    detail: excerpt(&plain(c.message.as_deref().unwrap_or_default()), 4000),
                });
            }
        }
        match page.next_token {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => break,
        }
    }
    s.suites = suites.len();
    s.declared = r.test_summary.as_ref().map(|t| Declared {
        tests: t.total,
        failures: t.status_counts.get("FAILED").copied().unwrap_or(0),
        errors: t.status_counts.get("ERROR").copied().unwrap_or(0),
        skipped: t.status_counts.get("SKIPPED").copied().unwrap_or(0),
    });
    Ok(s)
}

async fn coverage(p: &CodePipelineProvider, r: &Report) -> Result<CoverageSummary, CiError> {
    let totals = r.code_coverage_summary.as_ref();
    let covered = totals.and_then(|t| t.lines_covered).unwrap_or(0);
    let missed = totals.and_then(|t| t.lines_missed).unwrap_or(0);
    let mut files = 0;
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let mut input = json!({"reportArn": r.arn, "maxResults": 1000});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page: Files = call(p, "DescribeCodeCoverages", input).await?;
        files += page.code_coverages.len();
        match page.next_token {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => break,
        }
    }
    Ok(CoverageSummary {
        files,
        lines_valid: covered + missed,
        lines_covered: covered,
        branches_valid: totals.map(|t| t.branches_covered.unwrap_or(0) + t.branches_missed.unwrap_or(0)).unwrap_or(0),
        branches_covered: totals.and_then(|t| t.branches_covered).unwrap_or(0),
        declared_rate: totals.and_then(|t| t.line_coverage_percentage).map(|p| p / 100.0),
        ..CoverageSummary::default()
    })
}

/// The builds of the CodeBuild actions of an execution (the newest attempt of each).
pub fn builds_of(declaration: &super::model::PipelineDeclaration, actions: &[super::model::ActionExecutionDetail]) -> Vec<String> {
    declaration.stages.iter().flat_map(|s| s.actions.iter().filter_map(move |a| super::logs::build_id(a, actions, &s.name))).collect()
}
