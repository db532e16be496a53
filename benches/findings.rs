//! Parsing and normalising a 100,000-result SARIF report (target: under 1 s, and peak memory under
//! 10× the file size). Peak memory is measured by a counting allocator in this binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let doc = sarif(100_000);
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let t0 = std::time::Instant::now();
    let parsed = flightdeck::findings::parse_report(&doc, "big.sarif").expect("parses");
    let grouped = flightdeck::findings::group(parsed.findings);
    let took = t0.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    eprintln!(
        "sarif 100k results: file {:.1} MB, parse+normalise+group {:.0} ms, peak extra memory {:.1} MB ({:.1}x the file), {} findings",
        doc.len() as f64 / 1e6,
        took.as_secs_f64() * 1000.0,
        peak as f64 / 1e6,
        peak as f64 / doc.len() as f64,
        grouped.len()
    );
    drop(grouped);
    divan::main();
}

/// A SARIF document shaped like Semgrep's output: rules with security-severity, results with
/// locations, fingerprints and properties.
fn sarif(n: usize) -> Vec<u8> {
    let rules: Vec<String> = (0..200)
        .map(|r| format!(r#"{{"id":"rule.{r}","shortDescription":{{"text":"Rule {r} finds a risky pattern"}},"helpUri":"https://example.test/r/{r}","properties":{{"security-severity":"{}.{}","tags":["security","CWE-{r}"]}}}}"#, r % 10, r % 9))
        .collect();
    let results: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"ruleId":"rule.{}","ruleIndex":{},"level":"{}","message":{{"text":"Untrusted input reaches a sink in handler {i}"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"src/module_{}/file_{}.py"}},"region":{{"startLine":{},"startColumn":5}}}}}}],"partialFingerprints":{{"primaryLocationLineHash":"{:016x}"}},"properties":{{"confidence":"HIGH"}}}}"#,
                i % 200,
                i % 200,
                ["error", "warning", "note"][i % 3],
                i % 97,
                i % 1013,
                i % 4000 + 1,
                i * 2654435761
            )
        })
        .collect();
    format!(
        r#"{{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"Semgrep OSS","version":"1.90.0","rules":[{}]}}}},"results":[{}]}}]}}"#,
        rules.join(","),
        results.join(",")
    )
    .into_bytes()
}

#[divan::bench(sample_count = 5)]
fn parse_and_group_100k_sarif(bencher: divan::Bencher) {
    let doc = sarif(100_000);
    bencher.bench(|| {
        let parsed = flightdeck::findings::parse_report(black_box(&doc), "big.sarif").expect("parses");
        black_box(flightdeck::findings::group(parsed.findings).len())
    });
}
