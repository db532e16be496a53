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

#[path = "common/sarif.rs"]
mod sarif_doc;
use sarif_doc::sarif;

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

#[divan::bench(sample_count = 5)]
fn parse_and_group_100k_sarif(bencher: divan::Bencher) {
    let doc = sarif(100_000);
    bencher.bench(|| {
        let parsed = flightdeck::findings::parse_report(black_box(&doc), "big.sarif").expect("parses");
        black_box(flightdeck::findings::group(parsed.findings).len())
    });
}
