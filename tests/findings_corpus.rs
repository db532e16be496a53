//! The parsers against real reports (see tests/fixtures/corpus/README.md): every report gives the
//! tool's own counts, exempts only what the report itself exempts, and the gate never lets
//! through what the tool calls HIGH or CRITICAL.

use std::collections::BTreeMap;
use std::path::Path;

use flightdeck::findings::{Acceptances, GatePolicy, Severity, evaluate, parse_report};

fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus"))
}

fn parse(name: &str) -> flightdeck::findings::ParsedReport {
    let bytes = std::fs::read(corpus().join(name)).unwrap();
    parse_report(&bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gate(max: Severity, fixable_only: bool) -> GatePolicy {
    GatePolicy { max_allowed: Some(max), fixable_only, ..GatePolicy::default() }
}

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 28)
}

#[test]
fn every_report_gives_the_tools_own_counts() {
    let expected: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).unwrap()).unwrap();
    assert!(expected.len() >= 64, "the corpus is all there");
    for (name, want) in &expected {
        if let Some(error) = want["error"].as_str() {
            let bytes = std::fs::read(corpus().join(name)).unwrap();
            let e = parse_report(&bytes, name).unwrap_err();
            assert!(e.problem.contains(error), "{name}: {e}");
            continue;
        }
        let report = parse(name);
        if let Some(want_tests) = want.get("tests") {
            let t = report.tests.as_ref().unwrap_or_else(|| panic!("{name}: read as test results"));
            let got = serde_json::json!({"tests": t.tests, "failures": t.failures, "errors": t.errors, "skipped": t.skipped,
                                         "flaky": t.flaky, "suites": t.suites});
            assert_eq!(&got, want_tests, "{name}: the test cases, counted");
            let declared =
                t.declared.map(|d| serde_json::json!({"tests": d.tests, "failures": d.failures, "errors": d.errors, "skipped": d.skipped}));
            assert_eq!(declared.unwrap_or(serde_json::Value::Null), want["declared"], "{name}: the totals it declares");
            assert_eq!(t.failed.len(), (t.failures + t.errors).min(500), "{name}: every failure kept with its detail");
        }
        if let Some(want_cov) = want.get("coverage") {
            let c = report.coverage.as_ref().unwrap_or_else(|| panic!("{name}: read as coverage"));
            let got = serde_json::json!({"files": c.files, "lines_valid": c.lines_valid, "lines_covered": c.lines_covered});
            assert_eq!(&got, want_cov, "{name}: the lines, counted");
            let declared = want["declared_rate"].as_f64();
            assert!(
                c.declared_rate.zip(declared).is_some_and(|(a, b)| (a - b).abs() < 1e-9)
                    || (c.declared_rate.is_none() && declared.is_none()),
                "{name}: the rate it declares: {:?} vs {declared:?}",
                c.declared_rate
            );
        }
        if let Some(want_load) = want.get("load") {
            let l = report.load.as_ref().unwrap_or_else(|| panic!("{name}: read as a load test"));
            assert_eq!(Some(l.requests), want_load["requests"].as_u64(), "{name}: requests");
            if let Some(n) = want_load["thresholds"].as_u64() {
                assert_eq!(l.thresholds.len() as u64, n, "{name}: thresholds");
                assert_eq!(l.failed_thresholds().count() as u64, want_load["crossed"].as_u64().unwrap(), "{name}: thresholds crossed");
            }
            if let Some(failed) = want_load["failed"].as_u64() {
                assert_eq!(l.failed_requests, failed, "{name}: failed requests");
            }
            if let Some(p95) = want_load["p95"].as_f64() {
                assert_eq!(l.p95_ms, Some(p95), "{name}: p95");
            }
        }
        if let Some(packages) = want.get("packages") {
            let s = report.sbom.as_ref().unwrap_or_else(|| panic!("{name}: read as an SBOM"));
            assert_eq!(&serde_json::json!(s.component_ids), packages, "{name}: the packages it lists");
        }
        let mut by_label: BTreeMap<String, u64> = BTreeMap::new();
        for f in &report.findings {
            // SARIF's raw severity is the level, with the score beside it when there is one.
            let own = f.raw_severity.split(" / ").next().unwrap_or_default();
            *by_label.entry(own.to_string()).or_default() += 1;
        }
        let want_labels: BTreeMap<String, u64> = serde_json::from_value(want["by_tool_severity"].clone()).unwrap();
        assert_eq!(by_label, want_labels, "{name}: findings by the tool's own severity");
        assert_eq!(report.findings.len() as u64, want["findings"].as_u64().unwrap(), "{name}");
        let exempt = report.findings.iter().filter(|f| f.suppressed.is_some()).count() as u64;
        assert_eq!(exempt, want["exempt"].as_u64().unwrap(), "{name}: only what the report exempts is exempt");
        if let Some(distinct) = want["distinct"].as_u64() {
            // Results are told apart by their rule and location: none collapse into another.
            assert_eq!(flightdeck::findings::group(report.findings.clone()).len() as u64, distinct, "{name}: distinct findings");
        }
        for f in &report.findings {
            // Never below the tool's own label.
            if let Some(own) = Severity::parse(&f.raw_severity) {
                assert!(f.severity >= own, "{name}: {} is {:?}, below the tool's {}", f.id, f.severity, f.raw_severity);
            }
        }
    }
}

#[test]
fn spring4shell_with_a_published_fix_blocks_the_gate() {
    let report = parse("trivy-spring4shell-jre8.json");
    let f = report.findings.iter().find(|f| f.id == "CVE-2022-22965").unwrap();
    // Status "fixed": a fix exists and this version is still vulnerable.
    assert_eq!(f.suppressed, None);
    assert!(f.fixable(), "{:?}", f.fixed);
    assert!(f.description.starts_with("Trivy status fixed: a fix exists"), "{}", f.description);
    // Trivy's label (from GHSA) says LOW; the CVSS 9.8 says CRITICAL: the higher counts, and the
    // reason names where each came from.
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.severity_reason.contains("CVSS 9.8 (ghsa)") && f.severity_reason.contains("LOW"), "{}", f.severity_reason);
    for fixable_only in [false, true] {
        let v = evaluate(&report.findings, &[], &gate(Severity::High, fixable_only), &Acceptances::default(), today());
        assert!(!v.pass && v.summary.contains("CVE-2022-22965"), "{}", v.summary);
    }
}

#[test]
fn trivy_statuses_keep_their_meaning() {
    for name in ["trivy-centos-7.json", "trivy-debian-buster.json", "trivy-almalinux-8.json", "trivy-pom.json"] {
        for f in parse(name).findings {
            assert_eq!(f.suppressed, None, "{name}: {} {}", f.id, f.description);
        }
    }
    let buster = parse("trivy-debian-buster.json");
    let critical = buster.findings.iter().find(|f| f.raw_severity == "CRITICAL").unwrap();
    let v = evaluate(&buster.findings, &[], &gate(Severity::High, false), &Acceptances::default(), today());
    assert!(!v.pass && v.blocking.iter().any(|b| b.id == critical.id), "{}", v.summary);
}

#[test]
fn cyclonedx_vulnerabilities_and_vex_are_findings() {
    // Trivy's own CycloneDX output: the ratings (GHSA critical, NVD 9.8) and the fix.
    let pom = parse("trivy-pom-cyclonedx.cdx.json");
    let f = pom.findings.iter().find(|f| f.id == "CVE-2020-9548").unwrap();
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.package.as_deref(), Some("com.fasterxml.jackson.core:jackson-databind"));
    assert!(f.fixed.as_deref().is_some_and(|x| x.contains("2.9.10.4")), "{:?}", f.fixed);
    assert!(pom.sbom.as_ref().is_some_and(|s| s.components > 0), "the SBOM summary stays");
    let v = evaluate(&pom.findings, &[], &gate(Severity::High, false), &Acceptances::default(), today());
    assert!(!v.pass, "{}", v.summary);

    // VEX: not affected is exempt, with who said so; the others count, unrated ones as HIGH.
    let not_affected = parse("cyclonedx-vex-not_affected.json");
    assert!(not_affected.findings[0].suppressed.as_deref().is_some_and(|s| s.contains("VEX analysis: not_affected")));
    for name in ["cyclonedx-vex-affected.json", "cyclonedx-vex-under_investigation.json"] {
        let r = parse(name);
        let f = &r.findings[0];
        assert_eq!((f.id.as_str(), f.severity, f.suppressed.as_deref()), ("CVE-2021-44228", Severity::High, None), "{name}");
        let v = evaluate(&r.findings, &[], &gate(Severity::Medium, false), &Acceptances::default(), today());
        assert!(!v.pass, "{name}: {}", v.summary);
    }
}

#[test]
fn incomplete_or_unknown_scans_fail_closed() {
    // Real logs of runs that did not complete (the SARIF SDK's test data): an empty `results`
    // there is not a clean scan, and errors the tool reported stop the gate with its own words.
    for name in ["sarif-failed-OneRunWithBasicInvocation.sarif", "sarif-failed-OneRunWithInvocationExitCode.sarif"] {
        let e = parse_report(&std::fs::read(corpus().join(name)).unwrap(), name).unwrap_err();
        assert!(e.problem.contains("CodeScanner reports that its run did not complete"), "{name}: {e}");
    }
    let name = "sarif-failed-Fortify-ScanWithFailureLevelMatrices.fpr.sarif";
    let e = parse_report(&std::fs::read(corpus().join(name)).unwrap(), name).unwrap_err();
    assert!(e.problem.contains("reports an error in its run: Assuming Java source level to be 1.8"), "{e}");
    // The same with the tool's message inside a failed invocation.
    let failed_run = br#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "scanner"}},
        "invocations": [{"executionSuccessful": false, "toolExecutionNotifications": [{"level": "error", "message": {"text": "out of memory"}}]}],
        "results": []}]}"#;
    let e = parse_report(failed_run, "a.sarif").unwrap_err();
    assert!(e.problem.contains("did not complete") && e.problem.contains("out of memory"), "{e}");
    let no_results = br#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "scanner"}}}]}"#;
    assert!(parse_report(no_results, "b.sarif").unwrap_err().problem.contains("has no `results`"));
    let odd_level = br#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "s"}}, "results": [{"ruleId": "R1", "level": "Error", "message": {"text": "x"}}, {"ruleId": "R2", "level": "critical", "message": {"text": "y"}}]}]}"#;
    let r = parse_report(odd_level, "c.sarif").unwrap();
    assert_eq!(r.findings.iter().map(|f| f.severity).collect::<Vec<_>>(), vec![Severity::High, Severity::Critical]);
    let bogus = br#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "s"}}, "results": [{"ruleId": "R1", "level": "severe", "message": {"text": "x"}}]}]}"#;
    assert!(parse_report(bogus, "d.sarif").unwrap_err().problem.contains("not a SARIF level"));
    let old = br#"{"version": "2.0.0", "runs": []}"#;
    assert!(parse_report(old, "e.sarif").unwrap_err().problem.contains("SARIF version 2.0.0 is not supported"));
    let bandit = br#"{"errors": [{"filename": "app/x.py", "reason": "syntax error while parsing AST from file"}], "generated_at": "2024-01-01T00:00:00Z", "results": []}"#;
    assert!(parse_report(bandit, "bandit.json").unwrap_err().problem.contains("could not scan 1 file(s)"));
    // A byte order mark is not a reason to refuse a report.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&std::fs::read(corpus().join("trivy-pom.json")).unwrap());
    assert_eq!(parse_report(&bom, "bom.json").unwrap().findings.len(), 2);
}

#[test]
fn a_report_must_be_a_regular_file() {
    let e = flightdeck::findings::read_report(Path::new("/dev/zero"), "zero.json", 1 << 20).unwrap_err();
    assert!(e.problem.contains("not a regular file"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let e = flightdeck::findings::read_report(&fifo, "report.fifo", 1 << 20).unwrap_err();
    assert!(e.problem.contains("not a regular file"), "{e}");
}

#[test]
fn grouping_never_hides_a_copy_and_an_acceptance_covers_only_its_target() {
    use flightdeck::findings::{Acceptance, group};
    let report = parse("trivy-spring4shell-jre8.json");
    let one = report.findings[0].clone();
    // The same package in another image, and another version of it in this one.
    let mut elsewhere = one.clone();
    elsewhere.target = Some("other-image:1.0".into());
    elsewhere.location = format!("{}@{} in other-image:1.0", one.package.clone().unwrap(), one.installed.clone().unwrap());
    let mut older = one.clone();
    older.installed = Some("5.3.0".into());
    // Another tool's report of the very same package and version joins it.
    let mut grype = one.clone();
    grype.tools = vec!["grype".into()];
    grype.target = Some("/app/lib/spring-beans.jar".into());
    let grouped = group(vec![one.clone(), elsewhere, older, grype]);
    assert_eq!(grouped.len(), 3, "{:#?}", grouped.iter().map(|f| (&f.location, &f.tools)).collect::<Vec<_>>());
    assert!(grouped.iter().any(|f| f.tools == ["trivy", "grype"]));

    let accept = |target: &str| Acceptance {
        id: one.id.clone(),
        package: None,
        target: Some(target.into()),
        reason: "mitigated".into(),
        by: "alice".into(),
        expires: jiff::civil::date(2027, 1, 1),
    };
    let acceptances = Acceptances { path: None, entries: vec![accept("other-image:1.0")] };
    let v = evaluate(&grouped, &[], &gate(Severity::High, false), &acceptances, today());
    assert_eq!((v.accepted.len(), v.blocking.len()), (1, 2), "{}", v.summary);
    // A part of a target is not the target.
    let partial = Acceptances { path: None, entries: vec![accept("other")] };
    let v = evaluate(&grouped, &[], &gate(Severity::High, false), &partial, today());
    assert_eq!((v.accepted.len(), v.blocking.len()), (0, 3), "{}", v.summary);
}

#[test]
fn a_grype_critical_is_stopped_by_a_high_gate() {
    for name in ["grype-TestJsonImgsPresenter.json", "grype-cyclonedx-image.cdx.json", "grype-sarif-image.sarif"] {
        let report = parse(name);
        let v = evaluate(&report.findings, &[], &gate(Severity::High, false), &Acceptances::default(), today());
        assert!(!v.pass, "{name}: {}", v.summary);
    }
}

/// Trivy's licence results are findings of their own kind, judged only by an environment's own
/// licence threshold: off by default, and then a licence above it blocks like a vulnerability.
#[test]
fn licences_have_their_own_gate_off_by_default() {
    let report = parse("trivy-license-cyclonedx.cdx.json");
    let licences: Vec<_> = report.findings.iter().filter(|f| f.kind == flightdeck::findings::FindingKind::Licence).collect();
    assert_eq!(licences.len(), 3, "EPL-1.0, BSD-3-Clause, MIT");
    let epl = licences.iter().find(|f| f.id == "EPL-1.0").unwrap();
    assert_eq!((epl.severity, epl.title.as_str()), (Severity::Medium, "licence EPL-1.0 (reciprocal)"));
    assert!(epl.location.starts_with("org.eclipse.sisu:org.eclipse.sisu.plexus in "), "{}", epl.location);

    let strict = gate(Severity::Info, false);
    let off = evaluate(&report.findings, &[], &strict, &Acceptances::default(), today());
    assert!(off.pass, "licences are not judged unless asked: {}", off.summary);
    assert_eq!(off.counts, flightdeck::findings::Counts::default(), "nor counted");

    let on = GatePolicy { max_licence: Some(Severity::Low), ..strict };
    let v = evaluate(&report.findings, &[], &on, &Acceptances::default(), today());
    assert!(!v.pass);
    assert_eq!(v.blocking.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["EPL-1.0"], "{}", v.summary);
    assert!(v.summary.contains("no licence above LOW"), "{}", v.summary);
}

#[test]
fn snyk_counts_each_issue_once_per_package_version_as_its_unique_count_does() {
    for name in [
        "snyk-single_project_many_vulns.json",
        "snyk-all-projects_many_vulns.json",
        "snyk-all_containers_target_output.json",
        "snyk-all_projects_issue4277.json",
        "snyk-single_project_no_vulns.json",
    ] {
        let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(corpus().join(name)).unwrap()).unwrap();
        let projects = raw.as_array().cloned().unwrap_or_else(|| vec![raw.clone()]);
        let report = parse(name);
        // The tool's own numbers: issues per project (`uniqueCount`), and the dependency paths
        // its summary counts, which the findings' descriptions account for.
        let mut by_target: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for f in &report.findings {
            by_target.entry(f.target.clone().unwrap_or_default()).or_default().insert(f.id.clone());
        }
        let unique: u64 = projects.iter().map(|p| p["uniqueCount"].as_u64().unwrap_or(0)).sum();
        assert_eq!(by_target.values().map(|ids| ids.len() as u64).sum::<u64>(), unique, "{name}: Snyk's uniqueCount");
        let paths: u64 = projects.iter().map(|p| p["vulnerabilities"].as_array().map(Vec::len).unwrap_or(0) as u64).sum();
        let described: u64 = report
            .findings
            .iter()
            .map(|f| match f.description.strip_prefix("Reached through ").and_then(|d| d.split_once(" paths")) {
                Some((n, _)) => n.parse::<u64>().unwrap_or(1),
                None => 1,
            })
            .sum();
        assert_eq!(described, paths, "{name}: every dependency path is accounted for");
    }
    // The container and manifest targets' critical Django SQL injection stops a HIGH gate; a
    // project with nothing found passes it.
    let containers = parse("snyk-all_containers_target_output.json");
    let django = containers.findings.iter().find(|f| f.id == "SNYK-PYTHON-DJANGO-2940618").unwrap();
    assert_eq!((django.severity, django.fixed.as_deref()), (Severity::Critical, Some("3.2.14, 4.0.6")));
    assert_eq!(django.target.as_deref(), Some("Mobile-Security-Framework-MobSF/requirements.txt"));
    let v = evaluate(&containers.findings, &[], &gate(Severity::High, false), &Acceptances::default(), today());
    assert!(!v.pass && v.blocking.iter().any(|b| b.id == django.id), "{}", v.summary);
    let clean = parse("snyk-single_project_no_vulns.json");
    assert!(evaluate(&clean.findings, &[], &gate(Severity::Low, false), &Acceptances::default(), today()).pass);
}

#[test]
fn a_failed_test_keeps_its_message_and_where_it_failed() {
    let pytest = parse("junit-pytest.xml");
    let t = pytest.tests.as_ref().unwrap();
    let f = t.failed.iter().find(|f| f.name == "test_always_fail").unwrap();
    assert_eq!((f.kind.as_str(), f.message.as_str(), f.location.as_deref()), ("failure", "assert False", Some("tests/test_lib.py:25")));
    assert!(f.detail.contains("> assert False"), "the entity is read: {}", f.detail);
    let jest = parse("junit-jest.xml");
    let f = &jest.tests.as_ref().unwrap().failed[0];
    assert!(f.location.as_deref().is_some_and(|l| l.ends_with("main.test.js:10")), "{f:?}");
    // TestNG under Surefire: the same test skipped, then failed: two cases, one failure.
    let testng = parse("junit-testng-surefire.xml");
    let f = &testng.tests.as_ref().unwrap().failed[0];
    assert_eq!(f.message, "expected [1.2.1] but found [1.2.0]");
    assert_eq!(f.location.as_deref(), Some("AddMissingPatchVersionTest.java:29"), "the test's own frame, not the assertion library's");
    // A suite that could not run is an error, with the compiler's words.
    let errors = parse("junit-jest-suite-errors.xml");
    let t = errors.tests.as_ref().unwrap();
    assert_eq!(t.errors, 2);
    assert!(t.failed[0].detail.contains("Test suite failed to run"), "{}", t.failed[0].detail);
    // Go (go-junit-report): the message is the test's first words, the place its `file:line`; a
    // package that did not build or panicked is an error, with the compiler's or runtime's words.
    let go = parse("junit-go-pass-fail-skip.xml");
    let f = &go.tests.as_ref().unwrap().failed[0];
    assert_eq!((f.name.as_str(), f.message.as_str(), f.location.as_deref()), ("TestOne", "Error message", Some("fail_test.go:6")));
    let built = parse("junit-go-build-failed.xml");
    let f = &built.tests.as_ref().unwrap().failed[0];
    assert_eq!((f.kind.as_str(), f.message.as_str()), ("error", "Build error"));
    assert_eq!(f.location.as_deref(), Some("failing1/failing_test.go:15"));
    let sub = parse("junit-go-subtests.xml");
    let names: Vec<&str> = sub.tests.as_ref().unwrap().failed.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"TestSubtests/Subtest#01"), "{names:?}");
    // mocha-junit-reporter (Cypress's `junit` reporter): the spec's own frame, the assertion's words.
    let cy = parse("junit-mocha-cypress.xml");
    let t = cy.tests.as_ref().unwrap();
    let f = t.failed.iter().find(|f| f.name == "checkout applies a discount code").unwrap();
    assert!(f.message.starts_with("expected the discounted total"), "{f:?}");
    assert_eq!(f.location.as_deref(), Some("cypress/e2e/checkout.cy.js:13"), "{f:?}");
}

#[test]
fn a_zap_alert_of_high_risk_is_stopped_by_its_own_rule_and_a_false_positive_is_exempt() {
    use flightdeck::findings::FindingKind;
    // ZAP's own test report: one XSS alert of high risk, seen twice.
    let report = parse("zap-basic-traditional.json");
    let xss = &report.findings[0];
    assert_eq!((xss.id.as_str(), xss.kind, xss.severity), ("ZAP-1", FindingKind::Dast, Severity::High));
    assert!(xss.location.starts_with("GET http://example.com/example_3 (Test Param) +1 more"), "{}", xss.location);
    let dast_medium = GatePolicy { max_dast: Some(Severity::Medium), ..GatePolicy::default() };
    let v = evaluate(&report.findings, &[], &dast_medium, &Acceptances::default(), today());
    assert!(!v.pass && v.summary.contains("no ZAP alert above MEDIUM") && v.summary.contains("ZAP-1"), "{}", v.summary);
    // The DAST limit is its own: a looser one lets the alert through a stricter severity gate.
    let dast_high = GatePolicy { max_allowed: Some(Severity::Low), max_dast: Some(Severity::High), ..GatePolicy::default() };
    assert!(evaluate(&report.findings, &[], &dast_high, &Acceptances::default(), today()).pass);

    // A real baseline scan: medium alerts at most, so a "no high risk" rule passes.
    let baseline = parse("zap-baseline-itsecgames.json");
    assert_eq!(baseline.findings.len(), 12);
    assert!(evaluate(&baseline.findings, &[], &dast_medium, &Acceptances::default(), today()).pass);

    // The same report with the alert marked a false positive in ZAP: kept, exempt, not blocking.
    let text = std::fs::read_to_string(corpus().join("zap-basic-traditional.json")).unwrap();
    let marked = text.replace("\"confidence\": \"2\"", "\"confidence\": \"0\"");
    assert_ne!(marked, text);
    let r = parse_report(marked.as_bytes(), "zap.json").unwrap();
    assert_eq!(r.findings[0].suppressed.as_deref(), Some("marked a false positive in ZAP"));
    assert!(evaluate(&r.findings, &[], &dast_medium, &Acceptances::default(), today()).pass);
}

#[test]
fn dependency_check_findings_carry_the_package_and_an_incomplete_scan_fails_closed() {
    let report = parse("dependency-check-reportMultiModuleMavenExample.json");
    let f = report.findings.iter().find(|f| f.id == "CVE-2014-0114").unwrap();
    assert_eq!(f.location, "commons-beanutils/commons-beanutils@1.7.0");
    assert_eq!((f.severity, f.raw_severity.as_str()), (Severity::High, "HIGH"));
    assert!(f.severity_reason.contains("CVSS 7.5 (CVSS v2)"), "{}", f.severity_reason);
    let v = evaluate(&report.findings, &[], &gate(Severity::Medium, false), &Acceptances::default(), today());
    assert!(!v.pass && v.counts.critical == 6, "{}", v.summary);
    // CVSS v4 is preferred where the report has it.
    let v4 = parse("dependency-check-reportWithCvssV4.json");
    assert!(v4.findings[0].severity_reason.contains("CVSS v4"), "{}", v4.findings[0].severity_reason);
    // A vulnerability moved to `suppressedVulnerabilities` by the suppression file is exempt.
    let text = std::fs::read_to_string(corpus().join("dependency-check-reportWithCvssV4.json")).unwrap();
    let suppressed = text.replacen("\"vulnerabilities\"", "\"suppressedVulnerabilities\"", 1);
    let r = parse_report(suppressed.as_bytes(), "dc.json").unwrap();
    assert!(r.findings[0].suppressed.as_deref().is_some_and(|s| s.contains("suppression file")));
    // A data source that could not be reached: the scan is refused, naming why.
    let name = "dependency-check-reportWithExceptions.json";
    let e = parse_report(&std::fs::read(corpus().join(name)).unwrap(), name).unwrap_err();
    assert!(e.problem.contains("first: Failed to request component-reports (java.net.SocketTimeoutException: connect timed out)"), "{e}");
}

#[test]
fn one_scan_written_as_spdx_and_as_cyclonedx_lists_the_same_packages() {
    for (spdx, cdx) in [
        ("syft-image.spdx.json", "syft-image.cdx.json"),
        ("syft-dir.spdx.json", "syft-dir.cdx.json"),
        ("trivy-conda.spdx.json", "trivy-conda.cdx.json"),
    ] {
        let (a, b) = (parse(spdx), parse(cdx));
        let (a, b) = (a.sbom.unwrap(), b.sbom.unwrap());
        assert!(!a.component_ids.is_empty(), "{spdx}");
        assert_eq!(a.component_ids, b.component_ids, "{spdx} vs {cdx}");
    }
    // The scanned image is the subject, not a package; packages without a purl go by name@version.
    let s = parse("syft-image.spdx.json").sbom.unwrap();
    assert!(s.subject.starts_with("user-image-input@sha256:"), "{}", s.subject);
    assert_eq!(parse("vendor-alpine.spdx.json").sbom.unwrap().subject, "alpine@3.10");
}
