//! Mutation fuzzing of the report parsers: 100,000 inputs per format, each a real report (from
//! tests/fixtures/corpus) with bytes flipped, spans cut, repeated or spliced from elsewhere, or
//! truncated. Every one must come back as a report or as a diagnostic naming the file — never a
//! panic — and the run must end (a hang would time the test out). The mutations are seeded, so a
//! failure names the input that caused it and happens again.

use std::path::Path;

const PER_FORMAT: usize = 100_000;

/// xorshift64*: enough randomness for mutations, and the same sequence every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// Bytes that matter to a JSON parser, tried more often than chance would.
const JSON: &[&[u8]] =
    &[b"\"", b"{", b"}", b"[", b"]", b",", b":", b"null", b"-1", b"1e999", b"\"\\u0000\"", b"\xff", b"[[[[[[[[", b"true", b"\"\""];
/// And to an XML one.
const XML: &[&[u8]] = &[
    b"<",
    b">",
    b"/>",
    b"</testcase>",
    b"<testsuite>",
    b"<testcase name=\"x\">",
    b"<failure message=\"m\">",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&undefined;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
    b"&e;",
    b"\"",
    b"tests=\"-1\"",
    b"tests=\"1e99\"",
    b"\xff",
];

/// And to an LCOV reader.
const LCOV: &[&[u8]] = &[
    b"\n",
    b":",
    b",",
    b"SF:",
    b"DA:",
    b"DA:-1,-1",
    b"DA:18446744073709551616,1",
    b"LF:99999999999999999999",
    b"LH:",
    b"end_of_record\n",
    b"BRDA:1,0,0,-",
    b"\xff",
    b"1e999",
];

/// And to a CSV reader.
const LOCUST_CSV: &[&[u8]] = &[b",", b"\n", b"N/A", b"Aggregated", b"-1", b"1e999", b"NaN", b"inf", b"\"", b"\xff", b",,,,,,"];

fn mutate(seed: &[u8], rng: &mut Rng, interesting: &[&[u8]]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len().max(1));
        match rng.below(6) {
            0 if !out.is_empty() => out[at] ^= 1 << rng.below(8),
            1 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span.iter().copied().cycle().take(span.len() * (1 + rng.below(8))));
            }
            3 => {
                let piece = interesting[rng.below(interesting.len())];
                out.splice(at..at, piece.iter().copied());
            }
            4 => out.truncate(at),
            _ => {
                // A span from elsewhere in the report, where another value was.
                let from = rng.below(seed.len().max(1));
                let len = rng.below(128).min(seed.len() - from.min(seed.len()));
                let end = (at + rng.below(32)).min(out.len());
                out.splice(at..end, seed[from..from + len].iter().copied());
            }
        }
    }
    out
}

fn fuzz(seed_name: &str, seed_number: u64, interesting: &[&[u8]]) {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus")).join(seed_name);
    fuzz_bytes(seed_name, &std::fs::read(&path).unwrap(), seed_number, interesting);
}

fn fuzz_bytes(seed_name: &str, seed: &[u8], seed_number: u64, interesting: &[&[u8]]) {
    let seed = seed.to_vec();
    let original = flightdeck::findings::parse_report(&seed, seed_name).unwrap_or_else(|e| panic!("the seed itself: {e}"));
    let mut rng = Rng(seed_number);
    let (mut parsed, mut refused) = (0usize, 0usize);
    for i in 0..PER_FORMAT {
        let input = mutate(&seed, &mut rng, interesting);
        let result = std::panic::catch_unwind(|| flightdeck::findings::parse_report(&input, "mutated.json"));
        match result {
            Ok(Ok(report)) => {
                parsed += 1;
                // Whatever is read is bounded by what was there: a mutation never multiplies findings.
                assert!(report.findings.len() <= original.findings.len() * 8 + 64, "{seed_name} #{i}: {} findings", report.findings.len());
                // Nothing is read from outside the report (an external entity stays unexpanded).
                let tests = report.tests.as_ref().map(|t| t.failed.iter().map(|f| f.detail.clone() + &f.message).collect::<String>());
                assert!(!tests.unwrap_or_default().contains("root:"), "{seed_name} #{i}: an external entity was read");
                if let Some(l) = &report.load {
                    // No number read from a load test is NaN or infinite (it would pass any limit).
                    let numbers = [l.failure_ratio, l.p95_ms, l.rps];
                    assert!(numbers.iter().flatten().all(|n| n.is_finite()), "{seed_name} #{i}: {l:?}");
                }
                if let Some(c) = &report.coverage {
                    assert!(c.lines_covered <= c.lines_valid, "{seed_name} #{i}: {c:?}");
                }
            }
            Ok(Err(e)) => {
                refused += 1;
                assert_eq!(e.path, "mutated.json", "{seed_name} #{i}: the diagnostic names the file");
                assert!(!e.problem.is_empty() && e.problem.len() < 1000, "{seed_name} #{i}: {}", e.problem);
            }
            Err(_) => panic!("{seed_name}: mutated input #{i} (seed {seed_number}) made the parser panic"),
        }
    }
    // Both outcomes were exercised: the mutations reach past the first byte.
    assert_eq!(parsed + refused, PER_FORMAT);
    assert!(parsed > 0 && refused > 0, "{seed_name}: {parsed} parsed, {refused} refused");
}

#[test]
fn snyk_json_survives_mutation() {
    fuzz("snyk-all-projects_many_vulns.json", 0x5eed_0001, JSON);
}

#[test]
fn cobertura_xml_survives_mutation() {
    fuzz("cobertura-istanbul.xml", 0x5eed_0003, XML);
}

#[test]
fn lcov_survives_mutation() {
    fuzz("lcov-yui.info", 0x5eed_0004, LCOV);
}

#[test]
fn junit_xml_survives_mutation() {
    fuzz("junit-jest.xml", 0x5eed_0002, XML);
}

#[test]
fn zap_json_survives_mutation() {
    fuzz("zap-basic-traditional-plus.json", 0x5eed_0005, JSON);
}

#[test]
fn spdx_json_survives_mutation() {
    fuzz("syft-image.spdx.json", 0x5eed_000d, JSON);
}

#[test]
fn dependency_check_json_survives_mutation() {
    fuzz("dependency-check-reportWithCvssV4.json", 0x5eed_0006, JSON);
}

#[test]
fn k6_summaries_survive_mutation() {
    fuzz("k6-summary-export.json", 0x5eed_0007, JSON);
    fuzz("k6-handle-summary.json", 0x5eed_0008, JSON);
}

#[test]
fn locust_stats_survive_mutation() {
    fuzz("locust-stats.json", 0x5eed_0009, JSON);
    fuzz("locust-run_stats.csv", 0x5eed_000a, LOCUST_CSV);
}

#[test]
fn sonarqube_report_task_survives_mutation() {
    // As the scanner writes it (sonar-scanner 5, Maven and Gradle plugins alike).
    let task = b"projectKey=shop\nserverUrl=https://sonar.example.com\nserverVersion=10.7.0.96327\n\
dashboardUrl=https://sonar.example.com/dashboard?id=shop\nceTaskId=AYhSC2-LY0CHkWJxvNA9\n\
ceTaskUrl=https://sonar.example.com/api/ce/task?id=AYhSC2-LY0CHkWJxvNA9\n";
    fuzz_bytes("report-task.txt", task, 0x5eed_000b, &[b"=", b"\n", b"ceTaskId=", b"serverUrl=", b"file:///etc/passwd", b"\xff", b"../"]);
}

#[test]
fn buildx_metadata_survives_mutation() {
    let metadata = br#"{"buildx.build.ref": "builder/builder0/k3x", "containerimage.config.digest": "sha256:9d3f0a6ba4c9c9fd1b6ec2c5df3d7a8b6ac3c6dffb4f0d1e6f8f6b0b0d8f2a1c", "containerimage.digest": "sha256:4d1e5bd2e3b5b0c3a6d1e7b3f8a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6", "image.name": "registry.example.com/shop/web:1.4.2,registry.example.com/shop/web:latest"}"#;
    fuzz_bytes("metadata.json", metadata, 0x5eed_000c, JSON);
}
