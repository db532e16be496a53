//! The real binary in a pseudo-terminal: first frame, a run triggered from the keyboard, log lines
//! on screen, a clean quit that restores the terminal, and silence when nothing happens. The output
//! is fed through a terminal emulator (vt100) so assertions are about what a user would see.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use support::pty::Term;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

#[test]
fn demo_first_frame_trigger_logs_and_clean_quit() {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let demo = tempfile::tempdir().unwrap();
    let mut t = Term::spawn_in(&["--data-dir", data.path().to_str().unwrap(), "demo", "--no-start"], Some(demo.path()));
    t.wait_for("flightdeck", "first frame");
    assert!(started.elapsed() < Duration::from_secs(10));
    // With its NGINX canary, the demo opens on the release overview; 1 shows the pipelines.
    if support::nginx::binary().exists() {
        t.wait_for("Releases · 1 rollout", "the release overview first");
    }
    t.send("1");
    t.wait_for("no runs yet", "empty history hint");
    t.send("r");
    t.wait_for("Run pipeline `release`?", "confirmation dialog");
    t.send("y");
    t.wait_for("checking src/api.rs", "live log lines of the lint job");
    // Quitting asks nothing: runs belong to the supervisor, not to the cockpit.
    t.send("q");
    t.wait_raw(b"\x1b[?1049l", "leaving the alternate screen");
    t.wait_raw(b"\x1b[?25h", "showing the cursor");
    let status = t.session.get_process().wait().expect("wait");
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
    // The demo's lab ends with it, so the demo stops its supervisor: the run is cancelled and
    // recorded as such.
    let out = Command::new(BIN).args(["--data-dir", data.path().to_str().unwrap(), "runs", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "cancelled");
}

#[test]
fn nothing_happening_means_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("quick.toml");
    std::fs::write(&cfg, "[[pipelines.quick.stages]]\nname = \"hello\"\nrun = \"echo hello from the quick pipeline\"\n").unwrap();
    let data = dir.path().join("data");
    let mut t = Term::spawn(&["--config", cfg.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    t.wait_for("no runs yet", "first frame");
    t.send("r");
    t.wait_for("Run pipeline `quick`?", "confirmation");
    t.send("y");
    t.wait_for("hello from the quick pipeline", "log line");
    t.wait_for("success", "run finished");
    // Let the info toast expire (that takes one last redraw), then listen.
    t.bytes_during(Duration::from_secs(7));
    assert!(!t.screen().contains("started run"), "the toast has gone");
    let idle = t.bytes_during(Duration::from_secs(2));
    assert_eq!(idle, 0, "an idle cockpit must write nothing");
    t.send("q");
    t.wait_raw(b"\x1b[?1049l", "terminal restored");
}

#[test]
fn sigterm_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Term::spawn(&["--data-dir", dir.path().to_str().unwrap()]);
    t.wait_for("flightdeck", "first frame");
    let pid = t.session.get_process().pid();
    // SAFETY: sending a signal to our own child.
    unsafe {
        libc::kill(pid.as_raw(), libc::SIGTERM);
    }
    t.wait_raw(b"\x1b[?1049l", "terminal restored on SIGTERM");
    let status = t.session.get_process().wait().unwrap();
    assert!(matches!(status, WaitStatus::Exited(_, 143)), "128 + the signal, as a shell reports it: {status:?}");
}

/// The demo's services end with it, so its runs are cancelled, and nothing of it is left running.
#[test]
fn a_hangup_ends_the_demo_and_leaves_no_process_behind() {
    let data = tempfile::tempdir().unwrap();
    let demo = tempfile::tempdir().unwrap();
    let mut t = Term::spawn_in(&["--data-dir", data.path().to_str().unwrap(), "demo"], Some(demo.path()));
    t.wait_for("checking src/", "the demo run started by itself");
    let pid = t.session.get_process().pid();
    // What a dropped SSH connection does: the terminal hangs up.
    unsafe {
        libc::kill(pid.as_raw(), libc::SIGHUP);
    }
    let status = t.session.get_process().wait().unwrap();
    assert!(matches!(status, WaitStatus::Exited(_, 129)), "128 + the signal, as a shell reports it: {status:?}");
    let out = Command::new(BIN).args(["--data-dir", data.path().to_str().unwrap(), "runs", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "cancelled");
    let project = demo.path().join("project").display().to_string();
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path().join("cwd")).ok().map(|cwd| (e, cwd)))
        .filter(|(_, cwd)| cwd.display().to_string().starts_with(&project))
        .map(|(e, _)| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "processes still running in the demo project: {leftovers:?}");
}

/// A dropped SSH session ends the cockpit, never the run it started: the supervisor executes it to
/// the end, and then exits by itself.
#[test]
fn a_hangup_of_the_cockpit_leaves_its_run_going() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("brief.toml");
    std::fs::write(&cfg, "[[pipelines.brief.stages]]\nname = \"pause\"\nrun = \"echo begun; sleep 2; echo ended\"\n").unwrap();
    let data = dir.path().join("data");
    let _stops = support::supervision::StopsSupervisor(data.clone());
    let mut t = Term::spawn(&["--config", cfg.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    t.wait_for("no runs yet", "first frame");
    t.send("r");
    t.wait_for("Run pipeline `brief`?", "confirmation");
    t.send("y");
    t.wait_for("begun", "the job's first line");
    let pid = t.session.get_process().pid();
    // SAFETY: SIGHUP to the cockpit this test started, as a terminal that goes away sends it.
    unsafe {
        libc::kill(pid.as_raw(), libc::SIGHUP);
    }
    let status = t.session.get_process().wait().unwrap();
    assert!(matches!(status, WaitStatus::Exited(_, 129)), "128 + the signal, as a shell reports it: {status:?}");
    let runs = || -> serde_json::Value {
        let out =
            Command::new(BIN).args(["--config", cfg.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "runs", "--json"]).output();
        serde_json::from_slice(&out.unwrap().stdout).unwrap()
    };
    support::supervision::wait_until(Duration::from_secs(20), "the run finishing after the hangup", || runs()[0]["status"] == "success");
    let log = std::fs::read_dir(data.join("runs/1/logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(log.contains("ended"), "the job ran to its end: {log}");
    support::supervision::wait_until(Duration::from_secs(20), "the idle supervisor exiting", || {
        support::supervision::supervisor_pid(&data).is_none()
    });
}

/// Every screen, with a gate waiting and an Argo Rollout paused for a human: once what changes has
/// been drawn, nothing is written at all, however long the cockpit is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_is_silent_while_a_gate_waits_and_a_rollout_is_paused() {
    let api = support::apiserver::ApiDouble::start().await;
    api.put(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]}}},
        "status": {"phase": "Paused", "currentStepIndex": 1, "currentPodHash": "new", "stableRS": "old", "controllerPause": true,
                   "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]}
    }));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig(&[("staging", "shop")])).unwrap();
    let cfg = dir.path().join("flightdeck.toml");
    std::fs::write(
        &cfg,
        "[environments.staging]\n\n[kubernetes]\nkubeconfig = \"kubeconfig\"\ntimeout = \"3s\"\nenvironments = { staging = \"staging\" }\n\n\
         [[pipelines.gated.stages]]\nname = \"build\"\nrun = \"echo built\"\n\
         [[pipelines.gated.stages]]\nname = \"approve-staging\"\nneeds = [\"build\"]\nenvironment = \"staging\"\ngate = true\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    // The gate still waits in the supervisor when the cockpit has gone.
    let _stops = support::supervision::StopsSupervisor(data.clone());
    let (cfg, data) = (cfg.to_str().unwrap().to_string(), data.to_str().unwrap().to_string());
    tokio::task::spawn_blocking(move || {
        let mut t = Term::spawn(&["--config", &cfg, "--data-dir", &data]);
        t.wait_for("no runs yet", "first frame");
        t.send("r");
        t.wait_for("Run pipeline `gated`?", "confirmation");
        t.send("y");
        t.wait_for("⏸ 1 waiting", "the gate waits");
        // The toast of the start expires (one last redraw) before anything is measured.
        t.bytes_during(Duration::from_secs(7));
        let screens = [
            ("1", "approve-staging"),
            ("2", "approve-staging"),
            ("3", "Findings"),
            ("4", "Audit"),
            ("5", "Canary"),
            ("6", "Releases"),
            ("7", "checkout"),
        ];
        let mut noisy = Vec::new();
        for (key, marker) in screens {
            t.send(key);
            t.wait_for(marker, &format!("screen {key}"));
            // What the switch and any answers it asked for change is drawn, then silence.
            t.settle(Duration::from_millis(700), Duration::from_secs(15), &format!("screen {key}"));
            let idle = t.bytes_during(Duration::from_millis(3000));
            if idle > 0 {
                noisy.push(format!("screen {key}: {idle} bytes"));
            }
        }
        assert!(t.screen().contains("Paused"), "the rollout is paused on screen:\n{}", t.screen());
        assert!(noisy.is_empty(), "an idle cockpit wrote to the terminal: {noisy:?}\n{}", t.screen());
        t.send("q");
        t.wait_raw(b"\x1b[?1049l", "terminal restored");
    })
    .await
    .unwrap();
}
