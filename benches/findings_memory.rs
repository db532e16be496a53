//! Memory of the real binary for a run holding a 100,000-result SARIF report: the supervisor that
//! executes the run and parses the report, and `findings RUN --json --gate ENV` reading the stored
//! findings. Target: at most 3 × the report's size, each.

#[path = "../tests/support/peak.rs"]
mod peak;
#[path = "common/sarif.rs"]
#[allow(dead_code)]
mod sarif_doc;
#[path = "../tests/support/supervision.rs"]
#[allow(dead_code)]
mod supervision;

use std::process::Command;
use std::time::{Duration, Instant};

use peak::{peak_of, vm_hwm_kb};
use supervision::{StopsSupervisor, supervisor_pid};

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("big.sarif");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&report).expect("report"));
    sarif_doc::write_sarif(100_000, &mut file).expect("report written");
    drop(file);
    let size_kb = std::fs::metadata(&report).expect("report").len() / 1024;
    let config = dir.path().join("flightdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[environments.prod.security]\nmax_severity = \"high\"\n[[pipelines.scan.stages]]\nname = \"scan\"\nrun = \"mkdir -p out && cp {} out/scan.sarif\"\nreports = [\"out/scan.sarif\"]\n",
            report.display()
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let _stops = StopsSupervisor(data.clone());
    let flightdeck = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&config).arg("--data-dir").arg(&data).args(args);
        c
    };
    // The supervisor's peak, polled until it leaves (its high-water mark only grows).
    let watcher = {
        let data = data.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(300) {
                match supervisor_pid(&data) {
                    Some(pid) => peak = peak.max(vm_hwm_kb(pid).unwrap_or(0)),
                    None if peak > 0 => return peak,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let (code, _) = peak_of(flightdeck(&["run", "scan", "--follow", "--yes"]));
    assert_eq!(code, 0, "the run succeeds");
    let supervisor = watcher.join().expect("watcher");
    let (code, reader) = peak_of(flightdeck(&["findings", "1", "--json", "--gate", "prod"]));
    assert!(code <= 1, "findings answers (exit {code})");
    let (_, baseline) = peak_of(flightdeck(&["--version"]));
    let mb = |kb: u64| kb as f64 / 1024.0;
    println!(
        "100,000-result SARIF of {:.1} MiB: supervisor peak {:.1} MiB ({:.1}×), `findings --json --gate` peak {:.1} MiB ({:.1}×); the program alone {:.1} MiB",
        mb(size_kb),
        mb(supervisor),
        supervisor as f64 / size_kb as f64,
        mb(reader),
        reader as f64 / size_kb as f64,
        mb(baseline)
    );
}
