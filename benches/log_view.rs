//! The log view on a long log, measured on the release binary in a pseudo-terminal (200×50): the
//! time from the key that opens a finished job's log to its last page on screen, the cockpit's
//! peak memory while viewing and searching the whole log, the time from a keypress to the
//! frame that answers it while a job writes about a million lines a second, and idle output.
//!
//! Targets: peak RSS viewing and searching a 2 GB log ≤ 64 MB; keypress → frame while ingesting
//! ≤ 16 ms. `FD_BENCH_LOG_MB` sets the finished log's size (default 2048); `FD_BENCH_DIR` where
//! it is written (default: the current directory).

#[path = "../tests/support/pty.rs"]
#[allow(dead_code)]
mod pty;

use std::io::Write;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

fn hwm_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// Waits until the screen shows `text`; the time it took.
fn until(term: &mut pty::Term, text: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while !term.screen().contains(text) {
        assert!(start.elapsed() < limit, "`{text}` did not appear within {limit:?}; screen:\n{}", term.screen());
        term.pump();
        std::thread::sleep(Duration::from_micros(200));
    }
    start.elapsed()
}

fn main() {
    let mb: u64 = std::env::var("FD_BENCH_LOG_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let dir = tempfile::tempdir_in(std::env::var("FD_BENCH_DIR").unwrap_or_else(|_| ".".into())).expect("a directory");
    let config = dir.path().join("flightdeck.toml");
    // The flood: as fast as `seq` writes (about three million lines a second here), or, with
    // FD_BENCH_LINES_PER_SEC, that many a second (a hundredth of them every 10 ms).
    let flood = match std::env::var("FD_BENCH_LINES_PER_SEC").ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(rate) => {
            let script = "import sys, time\nrate = int(sys.argv[1])\nbatch = max(1, rate // 100)\nt = time.time()\nn = 0\nwhile n < 50000000:\n    sys.stdout.write(''.join(str(n + i) + '\\n' for i in range(batch)))\n    n += batch\n    t += 0.01\n    d = t - time.time()\n    if d > 0:\n        time.sleep(d)\n";
            std::fs::write(dir.path().join("flood.py"), script).expect("the flood script");
            format!("python3 flood.py {rate}")
        }
        None => "seq 1 50000000".to_string(),
    };
    std::fs::write(
        &config,
        format!(
            "[[pipelines.long.stages]]\nname = \"build\"\nrun = \"echo placeholder\"\n\
             [[pipelines.flood.stages]]\nname = \"build\"\nrun = \"{flood}\"\n"
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let (config_s, data_s) = (config.display().to_string(), data.display().to_string());
    let ran =
        std::process::Command::new(BIN).args(["--config", &config_s, "--data-dir", &data_s, "run", "long", "--follow", "--yes"]).output();
    assert!(ran.is_ok_and(|o| o.status.success()), "the run that holds the long log");
    // The finished job's log, replaced by a long one in the job log format.
    let log = data.join("runs/1/logs/00-build.log");
    let t = Instant::now();
    let mut lines = 0u64;
    {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).expect("the log"));
        writeln!(f, "1700000000000 o NEEDLE-AT-THE-START").expect("write");
        let mut written = 0u64;
        while written < mb << 20 {
            let line = format!(
                "{} o 2026-11-22T10:00:00Z INFO settlement worker processed batch {lines} of the ledger in 42ms\n",
                1_700_000_000_000u64 + lines
            );
            f.write_all(line.as_bytes()).expect("write");
            written += line.len() as u64;
            lines += 1;
        }
        writeln!(f, "1800000000000 m exit 0").expect("write");
    }
    println!("log: {mb} MiB, {} lines, written in {:.1}s", lines + 2, t.elapsed().as_secs_f64());

    let mut term = pty::Term::spawn(&["--config", &config_s, "--data-dir", &data_s]);
    term.set_size(200, 50);
    until(&mut term, "#1", Duration::from_secs(20));
    term.send("\r");
    until(&mut term, "✓ build", Duration::from_secs(10));
    let start = Instant::now();
    term.send("\r");
    until(&mut term, &format!("batch {} of the ledger", lines - 1), Duration::from_secs(60));
    println!("enter on the job → the last page of the {mb} MiB log on screen: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
    println!("resident memory with the log open (peak): {} kB", hwm_kb(term.pid()));
    let start = Instant::now();
    term.send("/needle-at-the-start\r");
    until(&mut term, "1/1", Duration::from_secs(120));
    let searched = start.elapsed();
    until(&mut term, "NEEDLE-AT-THE-START", Duration::from_secs(10));
    println!(
        "search of the whole log to its first line: {:.2}s ({:.2} GB/s, cold or warm as the page cache has it)",
        searched.as_secs_f64(),
        (mb << 20) as f64 / searched.as_secs_f64() / 1e9
    );
    println!("peak resident memory, viewing and searching: {} kB", hwm_kb(term.pid()));
    term.settle(Duration::from_millis(500), Duration::from_secs(10), "the window read after the jump");
    let idle = term.bytes_during(Duration::from_secs(5));
    println!("idle output over 5 s: {idle} B");

    // Keypress → frame while a job writes as fast as it can.
    term.send("q");
    let _ = term.wait_exit();
    let mut term = pty::Term::spawn(&["--config", &config_s, "--data-dir", &data_s]);
    term.set_size(200, 50);
    until(&mut term, "#1", Duration::from_secs(20));
    term.send(":run flood\r");
    std::thread::sleep(Duration::from_millis(300));
    term.send("y");
    until(&mut term, "#2", Duration::from_secs(20));
    term.send("\r");
    std::thread::sleep(Duration::from_millis(300));
    term.send("\r");
    until(&mut term, "following", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let mut answers = Vec::new();
    for i in 0..20 {
        // `w` toggles wrapping: the title says `wrap` or not.
        term.send("w");
        let want_wrap = i % 2 == 0;
        let start = Instant::now();
        loop {
            term.pump();
            let title_has = term.screen().contains("· wrap");
            if title_has == want_wrap {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no answer to a keypress within 5 s");
            std::thread::sleep(Duration::from_micros(200));
        }
        answers.push(start.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(150));
    }
    let ingested = std::fs::metadata(data.join("runs/2/logs/00-build.log")).map(|m| m.len()).unwrap_or(0);
    answers.sort_by(f64::total_cmp);
    println!(
        "keypress → frame while the job writes ({} MiB written so far): median {:.1} ms, worst {:.1} ms",
        ingested >> 20,
        answers[answers.len() / 2],
        answers[answers.len() - 1]
    );
    term.send(":cancel\r");
    std::thread::sleep(Duration::from_millis(300));
    term.send("q");
    let _ = term.wait_exit();
    let _ = std::process::Command::new(BIN).args(["--config", &config_s, "--data-dir", &data_s, "cancel", "2", "--yes"]).output();
    let _ = std::process::Command::new(BIN)
        .args(["--config", &config_s, "--data-dir", &data_s, "supervisor", "stop", "--reason", "benchmark over", "--yes"])
        .output();
}
