//! Memory under a flood of output: a job writing hundreds of megabytes, followed live, and its log
//! read back afterwards. Memory stays flat: the job waits on its pipe when the log cannot keep up,
//! and readers take a bounded chunk at a time.

mod support;

use std::process::Command;
use std::time::Duration;

use support::peak::{peak_of, vm_hwm_kb};
use support::supervision::{StopsSupervisor, supervisor_pid};

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");
const FLOOD_MIB: u64 = 256;

#[test]
fn a_flood_of_output_takes_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flightdeck.toml");
    let line = "0123456789".repeat(7);
    std::fs::write(
        &config,
        format!("[[pipelines.flood.stages]]\nname = \"flood\"\nrun = \"yes {line} | head -c {}; echo done\"\n", FLOOD_MIB << 20),
    )
    .unwrap();
    let data = dir.path().join("data");
    let _stops = StopsSupervisor(data.clone());
    let flightdeck = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&config).arg("--data-dir").arg(&data).args(args);
        c
    };
    // Watch the supervisor's peak while the follower runs.
    let watcher = {
        let data = data.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_secs(600) {
                match supervisor_pid(&data) {
                    Some(pid) => peak = peak.max(vm_hwm_kb(pid).unwrap_or(0) / 1024),
                    None if peak > 0 => return peak,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        })
    };
    let (code, follower) = peak_of(flightdeck(&["run", "flood", "--follow", "--yes"]));
    let follower = follower / 1024;
    assert_eq!(code, 0);
    let supervisor = watcher.join().unwrap();
    let (code, reader) = peak_of(flightdeck(&["logs", "1"]));
    let reader = reader / 1024;
    assert_eq!(code, 0);
    eprintln!("{FLOOD_MIB} MiB of output: follower {follower} MiB, supervisor {supervisor} MiB, `logs` {reader} MiB at their peak");
    assert!(supervisor > 0, "the supervisor was seen");
    for (who, mib) in [("the follower", follower), ("the supervisor", supervisor), ("`logs`", reader)] {
        assert!(mib < 120, "{who} peaked at {mib} MiB for {FLOOD_MIB} MiB of output");
    }
}
