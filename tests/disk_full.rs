//! A disk that fills up while a run writes its logs: every run's final state is still recorded,
//! the other runs stay readable, and nothing half-written is left behind. On a real 1 MiB tmpfs.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
    /// Holds the mount point until after the unmount.
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("disk");
        std::fs::create_dir(&at).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&at).output();
        match out {
            Ok(o) if o.status.success() => Tmpfs { at, _dir: dir },
            Ok(o) => panic!(
                "this drill mounts a {size} tmpfs and could not: {}; run the tests as root (or with CAP_SYS_ADMIN)",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this drill needs `mount` (util-linux: apt-get install -y mount): {e}"),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // The supervisor's guard may still hold its log on the disk for a moment after it exits.
        let start = std::time::Instant::now();
        while !Command::new("umount").arg(&self.at).status().is_ok_and(|s| s.success()) {
            if start.elapsed() > std::time::Duration::from_secs(10) {
                let _ = Command::new("umount").arg("-l").arg(&self.at).status();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn flightdeck(config: &Path, data: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).arg("--config").arg(config).arg("--data-dir").arg(data).args(args).env("NO_COLOR", "1").output().unwrap();
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn every_file(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.path());
        if e.path().is_dir() {
            every_file(&e.path(), out);
        }
    }
}

#[test]
fn a_full_disk_loses_no_final_state_and_leaves_nothing_half_written() {
    let disk = Tmpfs::mount("1m");
    let data = disk.at.join("data");
    let _stops = support::supervision::StopsSupervisor(data.clone());
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("flightdeck.toml");
    // 3 MB of log into a 1 MiB disk, then a stage after it; and a small pipeline.
    std::fs::write(
        &config,
        "[[pipelines.fill.stages]]\nname = \"spew\"\nrun = \"yes 0123456789012345678901234567890123456789 | head -c 3000000; echo spewed\"\n\
         [[pipelines.fill.stages]]\nname = \"after\"\nneeds = [\"spew\"]\nrun = \"echo after\"\n\
         [[pipelines.small.stages]]\nname = \"hello\"\nrun = \"echo hello\"\n",
    )
    .unwrap();
    let (code, out) = flightdeck(&config, &data, &["run", "small", "--follow", "--yes"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = flightdeck(&config, &data, &["run", "fill", "--follow", "--yes"]);
    assert_eq!(code, 0, "the run itself succeeded, and says so: {out}");
    assert!(out.contains("spewed") && out.contains("after"), "every line reached the follower: {out}");
    // The final state is on disk, not only on screen.
    let (code, out) = flightdeck(&config, &data, &["runs", "--json"]);
    assert_eq!(code, 0, "{out}");
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let statuses: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["success", "success"], "{out}");
    // The other run is still readable, in full.
    let (code, out) = flightdeck(&config, &data, &["logs", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[hello] hello"), "{out}");
    // Nothing half-written: no temporary files, no empty run directories.
    let mut files = Vec::new();
    every_file(&data, &mut files);
    let leftovers: Vec<&PathBuf> = files.iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".tmp"))).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for run in std::fs::read_dir(data.join("runs")).unwrap().flatten().filter(|e| e.path().is_dir()) {
        assert!(run.path().join("run.json").is_file(), "a run directory without its record: {}", run.path().display());
    }
}
