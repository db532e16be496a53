//! The cockpit in a terminal, on the log of a run made for the test.

use super::pty::Term;

/// A finished run of a one-stage pipeline (`run` is its shell command), and the cockpit in a
/// terminal showing its log once `shown` is on screen. Keep the guards until the test ends.
pub fn cockpit_on_log(run: &str, shown: &str) -> (tempfile::TempDir, super::supervision::StopsSupervisor, Term) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flightdeck.toml");
    let quoted = toml::Value::String(run.to_string()).to_string();
    std::fs::write(&config, format!("[[pipelines.job.stages]]\nname = \"build\"\nrun = {quoted}\n")).unwrap();
    let data = dir.path().join("data");
    let (config, data_s) = (config.display().to_string(), data.display().to_string());
    let stops = super::supervision::StopsSupervisor(data.clone());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args(["--config", &config, "--data-dir", &data_s, "run", "job", "--follow", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut t = Term::spawn(&["--config", &config, "--data-dir", &data_s]);
    t.wait_for("#1", "the run listed");
    t.send("\r");
    t.wait_for("build", "the jobs");
    t.send("\r");
    t.wait_for(shown, "the log");
    (dir, stops, t)
}
