//! Scan reports: golden results for each format, severity mapping, grouping across tools,
//! suppression, acceptance expiry, the gate, and the fail-closed cases.

use std::path::Path;

use flightdeck::findings::{Acceptance, Acceptances, Finding, GatePolicy, Severity, evaluate, group, parse_report, read_report, severity};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports").join(name)).unwrap()
}

fn parse(name: &str) -> flightdeck::findings::ParsedReport {
    parse_report(&fixture(name), name).unwrap_or_else(|e| panic!("{e}"))
}

/// The columns that matter, one line per finding, for readable goldens.
fn table(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{:<8} {:<26} {:<22} {:<46} fix={:<18} {}{}",
                f.severity.label(),
                f.id,
                f.tools.join("+"),
                f.location,
                f.fixed.clone().unwrap_or_else(|| "-".into()),
                f.severity_reason,
                f.suppressed.as_ref().map(|s| format!(" [{s}]")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sarif_golden() {
    let r = parse("codeql.sarif");
    assert_eq!(r.tool, "CodeQL");
    insta::assert_snapshot!("sarif", table(&r.findings));
    let sqli = &r.findings[0];
    assert_eq!(sqli.title, "Database query built from user-controlled sources");
    assert!(sqli.description.starts_with("This query depends on a [user-provided value](req.query.id)."));
    assert_eq!(sqli.url.as_deref(), Some("https://codeql.github.com/codeql-query-help/javascript/js-sql-injection/"));
}

#[test]
fn trivy_golden_and_secrets_never_copied() {
    let r = parse("trivy.json");
    insta::assert_snapshot!("trivy", table(&r.findings));
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("AKIA"), "a secret's matched text must never leave the report");
}

#[test]
fn grype_bandit_and_sbom_golden() {
    insta::assert_snapshot!("grype", table(&parse("grype.json").findings));
    insta::assert_snapshot!("bandit", table(&parse("bandit.json").findings));
    let sbom = parse("sbom.cdx.json");
    assert!(sbom.findings.is_empty(), "an SBOM is summarised, not turned into findings");
    let s = sbom.sbom.unwrap();
    assert_eq!((s.subject.as_str(), s.components, s.without_licence), ("payments-api@2.4.0", 4, 1));
    assert_eq!(s.by_type["library"], 3);
    assert_eq!(s.licences_of_note.keys().cloned().collect::<Vec<_>>(), ["GPL-2.0-or-later AND MIT", "GPL-3.0-only"]);
}

#[test]
fn detection_is_by_content_not_name() {
    for (name, format) in [
        ("codeql.sarif", "SARIF"),
        ("trivy.json", "Trivy JSON"),
        ("grype.json", "Grype JSON"),
        ("bandit.json", "Bandit JSON"),
        ("sbom.cdx.json", "CycloneDX SBOM"),
    ] {
        let r = parse_report(&fixture(name), "report.txt").unwrap();
        assert_eq!(r.format.name(), format);
    }
}

#[test]
fn severity_mapping_table() {
    use Severity::*;
    for (score, want) in [
        (10.0, Some(Critical)),
        (9.0, Some(Critical)),
        (8.9, Some(High)),
        (7.0, Some(High)),
        (6.9, Some(Medium)),
        (4.0, Some(Medium)),
        (3.9, Some(Low)),
        (0.1, Some(Low)),
        (0.0, None),
        (11.0, None),
        (f64::NAN, None),
    ] {
        assert_eq!(severity::from_score(score), want, "score {score}");
    }
    for (label, want) in [
        ("CRITICAL", Critical),
        ("High", High),
        ("moderate", Medium),
        ("LOW", Low),
        ("Negligible", Low),
        ("info", Info),
        // What a tool could not rate is held under a HIGH gate until triaged.
        ("UNKNOWN", High),
        ("weird", High),
    ] {
        assert_eq!(severity::from_label("tool", label).0, want, "label {label}");
    }
    for (level, want) in [("error", High), ("warning", Medium), ("note", Low), ("none", Info)] {
        assert_eq!(severity::from_level(level).unwrap().0, want, "level {level}");
    }
    assert!(severity::from_label("Trivy", "UNKNOWN").1.contains("unknown"), "the reason says why");
}

#[test]
fn identical_findings_from_two_tools_are_grouped() {
    let mut all = parse("trivy.json").findings;
    all.extend(parse("grype.json").findings);
    let before = all.len();
    let grouped = group(all);
    assert_eq!(grouped.len(), before - 1, "CVE-2024-2511 in openssl is one finding");
    let openssl = grouped.iter().find(|f| f.id == "CVE-2024-2511").unwrap();
    assert_eq!(openssl.tools, ["trivy", "grype"]);
    assert_eq!(openssl.reports, ["trivy.json", "grype.json"]);
    assert_eq!(openssl.severity, Severity::High);
    assert!(grouped.windows(2).all(|w| w[0].severity >= w[1].severity), "most severe first");
}

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

#[test]
fn the_gate_counts_what_is_unaccepted_and_fails_closed() {
    let findings = group(parse("trivy.json").findings.into_iter().chain(parse("codeql.sarif").findings).collect());
    let prod = GatePolicy { max_allowed: Some(Severity::Medium), ..GatePolicy::default() };
    let none = Acceptances::default();
    let v = evaluate(&findings, &[], &prod, &none, date("2026-11-22"));
    assert!(!v.pass);
    let ids: Vec<&str> = v.blocking.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        // CVE-2022-9999 has no rating: it is held (as HIGH) until someone triages it.
        [
            "CVE-2024-45490",
            "aws-access-key-id",
            "js/hardcoded-credentials",
            "AVD-DS-0002",
            "CVE-2022-9999",
            "CVE-2024-2511",
            "js/sql-injection"
        ]
    );
    assert!(!ids.contains(&"CVE-2023-0001"), "not_affected does not count");

    // Fixable only: what has no fix stops blocking.
    let fixable = GatePolicy { fixable_only: true, ..prod.clone() };
    let v = evaluate(&findings, &[], &fixable, &none, date("2026-11-22"));
    assert_eq!(v.blocking.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["CVE-2024-45490", "CVE-2024-2511"]);

    // Acceptances: a valid one lets a finding through; an expired one is flagged and does not.
    let acc = |id: &str, expires: &str| Acceptance {
        id: id.into(),
        package: None,
        target: None,
        reason: "mitigated by WAF".into(),
        by: "alice".into(),
        expires: date(expires),
    };
    let accepted = Acceptances { path: None, entries: vec![acc("CVE-2024-45490", "2026-12-31"), acc("cve-2024-2511", "2026-11-01")] };
    let v = evaluate(&findings, &[], &fixable, &accepted, date("2026-11-22"));
    assert_eq!(v.accepted.len(), 1);
    assert_eq!(v.expired.len(), 1);
    assert_eq!(v.blocking.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["CVE-2024-2511"]);
    assert!(v.summary.contains("1 acceptance(s) expired"), "{}", v.summary);
    let later = evaluate(&findings, &[], &fixable, &accepted, date("2027-01-01"));
    assert_eq!(later.blocking.len(), 2, "the first acceptance expires too");

    // A package-narrowed acceptance does not cover another package.
    let narrow =
        Acceptances { path: None, entries: vec![Acceptance { package: Some("libssl3".into()), ..acc("CVE-2024-2511", "2030-01-01") }] };
    assert_eq!(evaluate(&findings, &[], &fixable, &narrow, date("2026-11-22")).accepted.len(), 0);

    // An unreadable report fails the gate even with no findings at all.
    let broken = parse_report(b"{\"SchemaVersion\": 2, \"Results\": [", "scan/trivy.json").unwrap_err();
    let v = evaluate(&[], &[broken], &prod, &none, date("2026-11-22"));
    assert!(!v.pass);
    assert!(v.summary.contains("unreadable") && v.summary.contains("scan/trivy.json"), "{}", v.summary);

    // No gate configured: pass.
    assert!(evaluate(&findings, &[], &GatePolicy::default(), &none, date("2026-11-22")).pass);
}

#[test]
fn acceptances_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("risk-acceptances.toml");
    assert!(Acceptances::load(&path).unwrap().entries.is_empty(), "a missing file is no acceptances");
    let a = Acceptance {
        id: "CVE-2024-2511".into(),
        package: Some("openssl".into()),
        target: None,
        reason: "not reachable: \"TLS 1.3 disabled\"".into(),
        by: "alice".into(),
        expires: date("2026-12-31"),
    };
    Acceptances::append(&path, &a).unwrap();
    Acceptances::append(&path, &Acceptance { id: "GHSA-x".into(), package: None, ..a.clone() }).unwrap();
    let loaded = Acceptances::load(&path).unwrap();
    assert_eq!(loaded.entries.len(), 2);
    assert_eq!(loaded.entries[0], a);
    std::fs::write(&path, "[[accept]]\nid = \"x\"\nreason = \"r\"\nby = \"b\"\nexpires = \"soon\"\n").unwrap();
    let err = Acceptances::load(&path).unwrap_err();
    assert!(err.contains("risk-acceptances.toml:5"), "{err}");
}

#[test]
fn bad_reports_are_diagnosed_never_silently_empty() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", fixture("trivy.json")[..400].to_vec(), "truncated"),
        ("empty", b"   \n".to_vec(), "empty"),
        (
            "wrong sarif version",
            br#"{"version": "2.0.0", "runs": [{"tool": {"driver": {"name": "x"}}}]}"#.to_vec(),
            "SARIF version 2.0.0 is not supported",
        ),
        ("wrong trivy schema", br#"{"SchemaVersion": 1, "Results": []}"#.to_vec(), "SchemaVersion 1 is not supported"),
        ("unknown format", br#"{"hello": "world"}"#.to_vec(), "not a report format"),
        ("not json", b"<html>502 Bad Gateway</html>".to_vec(), "not a report format"),
        ("invalid utf-8", b"{\"SchemaVersion\": 2, \"Results\": [], \"x\": \"\xff\xfe\"}".to_vec(), "not valid UTF-8"),
        ("wrong shape", br#"{"SchemaVersion": 2, "Results": {"Target": 1}}"#.to_vec(), "expected structure"),
        (
            "sarif without runs",
            br#"{"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": null}"#.to_vec(),
            "no `runs`",
        ),
    ];
    for (name, bytes, want) in cases {
        let err = parse_report(&bytes, "reports/x.json").expect_err(name);
        assert_eq!(err.path, "reports/x.json");
        assert!(err.problem.contains(want), "{name}: {}", err.problem);
    }
    // Deep nesting where the report has structure: a diagnostic, not a stack overflow.
    let deep = format!(
        "{{\"SchemaVersion\": 2, \"Results\": [{{\"Target\": \"t\", \"Vulnerabilities\": {}{}}}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let err = parse_report(deep.as_bytes(), "deep.json").unwrap_err();
    assert!(err.problem.contains("nested too deeply") || err.problem.contains("expected structure"), "{}", err.problem);
    // Deep nesting in a part the parser ignores is skipped safely.
    let ignored = format!("{{\"SchemaVersion\": 2, \"Extra\": {}{}, \"Results\": []}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_report(ignored.as_bytes(), "deep.json").is_ok());
}

#[test]
fn an_oversized_report_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(200 * 1024 * 1024).unwrap(); // sparse: 200 MB on paper
    let err = read_report(&path, "huge.json", flightdeck::findings::DEFAULT_MAX_REPORT_BYTES).unwrap_err();
    assert!(err.problem.contains("200 MB") && err.problem.contains("limit"), "{}", err.problem);
    let err = read_report(&dir.path().join("missing.json"), "missing.json", 1 << 20).unwrap_err();
    assert!(err.problem.contains("cannot read"), "{}", err.problem);
}

/// A large, real-shaped SARIF file: 20,000 results parse and normalise.
#[test]
fn a_large_sarif_report() {
    let n = 20_000;
    let results: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"ruleId":"R{}","level":"{}","message":{{"text":"finding {i}"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"src/f{}.py"}},"region":{{"startLine":{}}}}}}}]}}"#, i % 50, ["error", "warning", "note"][i % 3], i % 700, i % 300 + 1))
        .collect();
    let doc = format!(r#"{{"version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"semgrep"}}}},"results":[{}]}}]}}"#, results.join(","));
    let r = parse_report(doc.as_bytes(), "big.sarif").unwrap();
    assert_eq!(r.findings.len(), n);
    assert_eq!(r.findings.iter().filter(|f| f.severity == Severity::High).count(), n.div_ceil(3));
}

/// Mutated and random inputs never panic any parser (a small deterministic fuzzer).
#[test]
fn parsers_never_panic() {
    let seeds: Vec<Vec<u8>> =
        ["codeql.sarif", "trivy.json", "grype.json", "bandit.json", "sbom.cdx.json"].iter().map(|n| fixture(n)).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let tokens: [&[u8]; 12] =
        [b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"-1e999", b"\"\\u0000\"", b"\xff", b"9999999999999999999999"];
    for i in 0..4_000 {
        let mut bytes = seeds[i % seeds.len()].clone();
        for _ in 0..(next() % 8 + 1) {
            let pos = (next() as usize) % bytes.len().max(1);
            match next() % 4 {
                0 => {
                    bytes.truncate(pos);
                }
                1 => {
                    let at = pos.min(bytes.len().saturating_sub(1));
                    if let Some(b) = bytes.get_mut(at) {
                        *b = next() as u8;
                    }
                }
                2 => {
                    let t = tokens[(next() as usize) % tokens.len()];
                    bytes.splice(pos..pos, t.iter().copied());
                }
                _ => {
                    let end = (pos + (next() as usize % 64)).min(bytes.len());
                    bytes.drain(pos..end);
                }
            }
        }
        let _ = parse_report(&bytes, "fuzz.json");
    }
    for _ in 0..2_000 {
        let len = (next() % 256) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = parse_report(&bytes, "random.json");
    }
}

/// A large report is read through a mapped copy that lets go of what was parsed: the findings are
/// exactly those of the same bytes parsed in memory, and the size limit still holds.
#[test]
fn a_large_report_read_through_a_mapping_gives_the_same_findings() {
    let base = fixture("codeql.sarif");
    let doc: serde_json::Value = serde_json::from_slice(&base).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap().clone();
    assert!(!results.is_empty());
    // The tool's own results, repeated (each copy on another line) past the size read by mapping.
    let mut big = doc.clone();
    let mut many = Vec::new();
    let (mut n, mut size) = (0, 0);
    while size < 9 << 20 {
        for r in &results {
            let mut r = r.clone();
            if let Some(line) = r.pointer_mut("/locations/0/physicalLocation/region/startLine") {
                *line = serde_json::json!(n + 1);
            }
            size += r.to_string().len() + 1;
            many.push(r);
            n += 1;
        }
    }
    big["runs"][0]["results"] = serde_json::Value::Array(many);
    let bytes = serde_json::to_vec(&big).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.sarif");
    std::fs::write(&path, &bytes).unwrap();
    let mapped = read_report(&path, "big.sarif", flightdeck::findings::DEFAULT_MAX_REPORT_BYTES).unwrap();
    let plain = parse_report(&bytes, "big.sarif").unwrap();
    assert!(mapped.findings.len() > n / 2, "{} findings of {n} results", mapped.findings.len());
    assert_eq!(mapped, plain);
    let err = read_report(&path, "big.sarif", 8 << 20).unwrap_err();
    assert!(err.problem.contains("limit"), "{err}");
}

#[test]
fn two_writers_accepting_at_once_lose_no_entry() {
    use flightdeck::findings::{Acceptance, Acceptances};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("risk-acceptances.toml");
    let entry = |who: &str, n: usize| Acceptance {
        id: format!("CVE-2024-{n:04}"),
        package: None,
        target: None,
        reason: format!("{who} #{n}"),
        by: who.into(),
        expires: jiff::civil::date(2030, 1, 1),
    };
    // Two writers (threads standing in for two cockpits), 40 entries each, interleaved.
    let writers: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|who| {
            let path = path.clone();
            std::thread::spawn(move || (0..40).for_each(|n| Acceptances::append(&path, &entry(who, n)).unwrap()))
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    let read = Acceptances::load(&path).unwrap();
    assert_eq!(read.entries.len(), 80, "every entry kept");
    assert_eq!(read.entries.iter().filter(|a| a.by == "alice").count(), 40);
}
