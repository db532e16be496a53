//! The headless CLI as a test drives it: a project directory with its configuration, and the
//! real binary run in it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

pub struct Env {
    pub dir: tempfile::TempDir,
}

/// Runs go on in the supervisor after the command that started them: a test stops it at its end.
impl Drop for Env {
    fn drop(&mut self) {
        super::supervision::stop_supervisor(&self.dir.path().join("data"));
    }
}

impl Env {
    pub fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flightdeck.toml"), config).unwrap();
        Env { dir }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("flightdeck.toml")
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(self.config()).arg("--data-dir").arg(self.dir.path().join("data")).args(args).env("NO_COLOR", "1");
        c
    }
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_as("tester", args)
    }
    pub fn run_as(&self, user: &str, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).env("USER", user).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    /// Every file flightdeck wrote in its data directory (journal, run records, logs), as text: to
    /// check what was kept, and that a secret was not.
    pub fn written(&self) -> String {
        let mut text = String::new();
        let mut dirs = vec![self.dir.path().join("data")];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    text.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        text
    }

    pub fn runs_json(&self) -> serde_json::Value {
        let (code, out, err) = self.run(&["runs", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }
    pub fn wait_status(&self, run: usize, want: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let runs = self.runs_json();
            let r = runs.as_array().unwrap().iter().find(|r| r["id"] == format!("local:{run}")).cloned().unwrap_or_default();
            if r["status"] == want {
                return r;
            }
            assert!(Instant::now() < deadline, "run {run} never became {want}: {r}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub const PIPELINES: &str = r#"
[environments.prod]
production = true
[[pipelines.ok.stages]]
name = "hello"
run = "echo hello; echo warn >&2"
[[pipelines.ok.stages]]
name = "test"
needs = ["hello"]
matrix = { v = ["a", "b"] }
run = "echo testing ${{ matrix.v }}"
[[pipelines.bad.stages]]
name = "boom"
run = "echo about to fail; exit 4"
[[pipelines.gated.stages]]
name = "build"
run = "echo built"
[[pipelines.gated.stages]]
name = "approve-prod"
needs = ["build"]
environment = "prod"
gate = true
[[pipelines.gated.stages]]
name = "ship"
needs = ["approve-prod"]
run = "echo shipped"
[[pipelines.slow.stages]]
name = "wait"
run = "echo waiting; sleep 521.5"
[[pipelines.brief.stages]]
name = "pause"
run = "echo begun; sleep 2; echo ended"
"#;
