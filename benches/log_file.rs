//! A job's log on disk behind the line index: the time to index a 1 GiB log, a warm literal and a
//! regex search through it, reading a screenful at any position, and the index's size.
//!
//! Targets: literal search ≥ 1 GB/s through a warm 1 GB log; index ≤ 1 % of the log's bytes.
//! `FD_BENCH_LOG_MB` sets the log's size (default 1024).

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use flightdeck::logstore::index::{LogFile, Pattern};

fn main() {
    let mb: u64 = std::env::var("FD_BENCH_LOG_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir_in(std::env::var("FD_BENCH_DIR").unwrap_or_else(|_| ".".into())).expect("a directory for the log");
    let path = dir.path().join("job.log");
    let started = Instant::now();
    let mut lines = 0u64;
    {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create the log"));
        let mut written = 0u64;
        while written < mb << 20 {
            // A GitHub-style group every thousand lines: the index finds their sections as it goes.
            let text = match lines % 20 {
                _ if lines.is_multiple_of(1000) => format!("##[group]Run step {}", lines / 1000),
                _ if lines % 1000 == 999 => "##[endgroup]".to_string(),
                3 => format!("\x1b[32mPASS\x1b[0m test/suite_{lines}.test.js (12 ms)"),
                7 => format!("\x1b[31merror\x1b[0m: request {lines} failed with status 503 after 3 retries"),
                _ => format!("2026-11-22T10:00:00Z INFO settlement worker processed batch {lines} of the ledger in 42ms"),
            };
            let line = format!("{} o {text}\n", 1_700_000_000_000u64 + lines);
            f.write_all(line.as_bytes()).expect("write the log");
            written += line.len() as u64;
            lines += 1;
        }
        f.write_all(format!("{} e FATAL the-one-needle in the whole log\n", 1_700_000_000_000u64 + lines).as_bytes()).expect("write");
        lines += 1;
    }
    let bytes = std::fs::metadata(&path).expect("the log").len();
    println!("log: {:.0} MiB, {lines} lines, written in {:.1}s", bytes as f64 / 1048576.0, started.elapsed().as_secs_f64());

    let t = Instant::now();
    let log = LogFile::open(&path).expect("index the log");
    let index_s = t.elapsed().as_secs_f64();
    println!(
        "open and index: {:.2}s ({:.2} GB/s); index {} KiB = {:.4} % of the log",
        index_s,
        bytes as f64 / index_s / 1e9,
        log.index_bytes() / 1024,
        log.index_bytes() as f64 * 100.0 / bytes as f64
    );
    let (sections, _) = log.sections();
    println!("sections found while indexing: {} (one per thousand lines expected: {})", sections.len(), lines.div_ceil(1000));
    assert_eq!(sections.len() as u64, lines.div_ceil(1000), "every group found");
    let last_page = Instant::now();
    let page = log.read(log.len().saturating_sub(50), 50).expect("the last page");
    println!("last page (50 lines) read in {:.3} ms", last_page.elapsed().as_secs_f64() * 1000.0);
    assert_eq!(page.len(), 50);

    let mut worst = 0f64;
    let mut total = 0f64;
    for i in 0..200u64 {
        let at = (i * 7_919_993) % log.len();
        let t = Instant::now();
        let page = log.read(at, 50).expect("a page");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(!page.is_empty());
        worst = worst.max(ms);
        total += ms;
    }
    println!("a page of 50 lines at 200 positions: mean {:.3} ms, worst {:.3} ms", total / 200.0, worst);

    for (name, pattern) in [
        ("literal `the-one-needle`", Pattern::literal("the-one-needle")),
        ("literal `error` (5 % of lines)", Pattern::literal("error")),
        ("regex `fail\\w+ with status 5\\d\\d`", Pattern::regex(r"fail\w+ with status 5\d\d").expect("a valid regex")),
    ] {
        // Warm: the file is in the page cache after the first pass.
        let mut found = 0usize;
        log.search(&pattern, &AtomicBool::new(false), &mut |hits, _| found += hits.len()).expect("search");
        let t = Instant::now();
        let mut found = 0usize;
        log.search(&pattern, &AtomicBool::new(false), &mut |hits, _| found += hits.len()).expect("search");
        let s = t.elapsed().as_secs_f64();
        println!("{name}: {found} lines in {:.2}s = {:.2} GB/s", s, bytes as f64 / s / 1e9);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
    println!("peak resident memory of the whole benchmark: {}", peak.trim_start_matches("VmHWM:").trim());
}
