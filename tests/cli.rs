//! The headless CLI, run as a real binary.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::cli_env::{Env, PIPELINES};
use support::supervision::{job_processes, supervisor_pid, wait_until};

#[test]
fn run_follow_streams_prefixed_logs_and_exits_by_result() {
    let e = Env::new(PIPELINES);
    let (code, out, err) = e.run(&["run", "ok", "--follow"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[hello] hello") && out.contains("[hello] warn"), "{out}");
    assert!(out.contains("[test[a]] testing a") && out.contains("[test[b]] testing b"), "{out}");
    assert!(err.contains("run #1 success"), "{err}");
    let (code, out, err) = e.run(&["run", "bad", "--follow"]);
    assert_eq!(code, 1);
    assert!(out.contains("[boom] about to fail"));
    assert!(err.contains("exited with code 4") && err.contains("run #2 failed"), "{err}");
}

#[test]
fn runs_and_logs_read_the_history() {
    let e = Env::new(PIPELINES);
    assert_eq!(e.run(&["run", "ok", "--follow"]).0, 0);
    let runs = e.runs_json();
    assert_eq!(runs[0]["pipeline"], "ok");
    assert_eq!(runs[0]["jobs"].as_array().unwrap().len(), 3);
    let (_, table, _) = e.run(&["runs"]);
    assert!(table.lines().next().unwrap().starts_with("RUN"));
    assert!(table.contains("success"));
    let (code, out, _) = e.run(&["logs", "1", "b"]);
    assert_eq!(code, 0);
    assert!(out.contains("testing b") && !out.contains("testing a"), "{out}");
    let (code, _, err) = e.run(&["logs", "1", "test"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("matches several jobs"), "{err}");
    let (code, _, err) = e.run(&["logs", "9"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("run #9 does not exist"), "{err}");
}

#[test]
fn audit_verify_reports_tampering_with_a_non_zero_exit() {
    let e = Env::new(PIPELINES);
    assert_eq!(e.run(&["run", "ok", "--follow"]).0, 0);
    assert_eq!(e.run(&["run", "ok", "--follow"]).0, 0);
    let journal = e.dir.path().join("data/audit.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replacen("\"actor\":\"", "\"actor\":\"mallory-", 1)).unwrap();
    let (code, _, err) = e.run(&["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(err.contains("NOT INTACT") && err.contains("line 1") && err.contains("Edited"), "{err}");
    let copy = e.dir.path().join("copy.jsonl");
    std::fs::write(&copy, &text).unwrap();
    let (code, out, _) = e.run(&["audit", "verify", "--journal", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn cancel_from_another_process_ends_the_jobs() {
    let e = Env::new(PIPELINES);
    let data = e.dir.path().join("data");
    assert_eq!(e.run(&["run", "slow"]).0, 0);
    e.wait_status(1, "running");
    // Follow it from a third process while it runs.
    let follower = e.cmd(&["logs", "1", "--follow"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(Duration::from_secs(10), "the job's processes starting", || !job_processes(&data).is_empty());
    let (code, _, err) = e.run(&["cancel", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("run #1 is cancelled"), "{err}");
    assert_eq!(job_processes(&data), Vec::<i32>::new(), "the cancel ended every process of the job");
    let out = follower.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[wait] waiting"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "following a cancelled run exits non-zero");
    let (code, _, err) = e.run(&["cancel", "1"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("nothing to cancel"), "{err}");
}

#[test]
fn ending_the_follower_in_any_way_leaves_the_run_going() {
    let e = Env::new(PIPELINES);
    let signals = [libc::SIGINT, libc::SIGHUP, libc::SIGTERM, libc::SIGKILL];
    let mut followers: Vec<_> =
        signals.iter().map(|_| e.cmd(&["run", "brief", "--follow"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()).collect();
    for n in 1..=signals.len() {
        e.wait_status(n, "running");
    }
    for (child, sig) in followers.iter_mut().zip(signals) {
        // SAFETY: a signal to a child this test started and has not reaped yet.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        assert!(!status.success(), "the follower ended by signal {sig}: {status:?}");
    }
    // Ctrl-C, a dropped SSH session, a SIGTERM or a kill of the follower: the run goes on.
    for n in 1..=signals.len() {
        let r = e.wait_status(n, "success");
        assert_eq!(r["jobs"][0]["status"], "success", "{r}");
    }
    let (_, journal, _) = e.run(&["audit", "export"]);
    assert!(!journal.contains("run.cancel"), "nothing was cancelled: {journal}");
}

#[test]
fn a_killed_supervisor_leaves_an_interrupted_run_and_no_job_process() {
    let e = Env::new(PIPELINES);
    let data = e.dir.path().join("data");
    assert_eq!(e.run(&["run", "slow"]).0, 0);
    e.wait_status(1, "running");
    wait_until(Duration::from_secs(10), "the job's processes starting", || !job_processes(&data).is_empty());
    let pid = supervisor_pid(&data).expect("a supervisor executes the run");
    // SAFETY: SIGKILL to the supervisor this test's command started: no chance to clean up.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_until(Duration::from_secs(10), "the guard ending the orphaned job", || job_processes(&data).is_empty());
    let r = e.wait_status(1, "interrupted");
    assert!(r["note"].as_str().unwrap().contains("stopped before the run finished"), "{r}");
    assert_eq!(r["jobs"][0]["status"], "interrupted");
}

/// A history this account may only read — another user's (as root: run as `nobody`), or a
/// read-only one — still serves every read command, with an unfinished run in it.
#[test]
fn a_data_directory_that_cannot_be_written_serves_every_read_command() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let e = Env::new(PIPELINES);
    let data = e.dir.path().join("data");
    assert_eq!(e.run(&["run", "ok", "--follow"]).0, 0);
    assert_eq!(e.run(&["run", "slow"]).0, 0);
    e.wait_status(2, "running");
    // Its executor dies; nobody who may write has looked since.
    let pid = supervisor_pid(&data).expect("a supervisor executes the run");
    // SAFETY: SIGKILL to the supervisor this test's command started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_until(Duration::from_secs(10), "the guard ending the orphaned job", || job_processes(&data).is_empty());
    // SAFETY: geteuid has no failure mode.
    let root = unsafe { libc::geteuid() } == 0;
    let walk = |mode_dir: u32, mode_file: u32| {
        fn each(p: &std::path::Path, f: &dyn Fn(&std::path::Path, bool)) {
            f(p, p.is_dir());
            if p.is_dir() {
                for c in std::fs::read_dir(p).unwrap().flatten() {
                    each(&c.path(), f);
                }
            }
        }
        each(e.dir.path(), &|p, dir| {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(if dir { mode_dir } else { mode_file }));
        });
    };
    // Readable by all, writable by nobody but the owner (and, without root, not even the owner).
    if root {
        walk(0o755, 0o644)
    } else {
        walk(0o555, 0o444)
    }
    let reader = |args: &[&str]| {
        let mut c = e.cmd(args);
        if root {
            c.uid(65534).gid(65534);
        }
        let out = c.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    for args in [
        &["runs"][..],
        &["runs", "--json"],
        &["logs", "1"],
        &["logs", "2"],
        &["findings", "1"],
        &["approvals"],
        &["audit", "verify"],
        &["audit", "export"],
        &["supervisor", "status"],
    ] {
        let (code, out) = reader(args);
        assert_eq!(code, Some(0), "`{}` failed on a history it may only read: {out}", args.join(" "));
    }
    let (_, out) = reader(&["runs"]);
    assert!(out.contains("slow") && out.contains("ok"), "{out}");
    // A change is refused with a message, not a panic.
    let (code, out) = reader(&["run", "ok"]);
    assert_ne!(code, Some(101), "{out}");
    assert_ne!(code, Some(0), "{out}");
    walk(0o755, 0o644);
}

/// A job sees the environment of the shell that asked for its run, not the one of whichever shell
/// happened to start the supervisor.
#[test]
fn jobs_start_from_the_environment_of_whoever_asked() {
    let e = Env::new(&format!("{PIPELINES}[[pipelines.show.stages]]\nname = \"env\"\nrun = \"echo var=${{FD_SHELL_VAR:-unset}}\"\n"));
    let first = e.cmd(&["run", "slow"]).env("FD_SHELL_VAR", "first shell").output().unwrap();
    assert!(first.status.success());
    e.wait_status(1, "running");
    let out = e.cmd(&["run", "show", "--follow"]).env("FD_SHELL_VAR", "second shell").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("var=second shell"), "{stdout}");
    let out = e.cmd(&["run", "show", "--follow"]).env_remove("FD_SHELL_VAR").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("var=unset"), "{stdout}");
}

#[test]
fn jobs_do_not_inherit_flightdecks_credentials() {
    let e = Env::new(
        "[prometheus.main]\nurl = \"http://127.0.0.1:9\"\nbearer_token_env = \"FD_TEST_PROM_TOKEN\"\n\
         [[pipelines.p.stages]]\nname = \"show\"\nrun = \"echo token=${FD_TEST_PROM_TOKEN:-withheld} other=${FD_TEST_OTHER:-unset}\"\n",
    );
    let out = e.cmd(&["run", "p", "--follow"]).env("FD_TEST_PROM_TOKEN", "s3cret").env("FD_TEST_OTHER", "kept").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("token=withheld other=kept"), "{stdout}");
    assert!(!stdout.contains("s3cret"));
}

#[test]
fn retry_reruns_only_what_failed() {
    let e = Env::new(PIPELINES);
    let flag = e.dir.path().join("fixed");
    let cfg = format!(
        "[[pipelines.p.stages]]\nname = \"one\"\nrun = \"echo one\"\n[[pipelines.p.stages]]\nname = \"two\"\nneeds = [\"one\"]\nrun = \"test -e {}\"\n",
        flag.display()
    );
    std::fs::write(e.config(), cfg).unwrap();
    assert_eq!(e.run(&["run", "p", "--follow"]).0, 1);
    std::fs::write(&flag, "").unwrap();
    let (code, _, err) = e.run(&["retry", "1", "--follow"]);
    assert_eq!(code, 0, "{err}");
    let r = e.runs_json();
    assert_eq!(r[0]["jobs"][0]["attempts"], 1);
    assert_eq!(r[0]["jobs"][1]["attempts"], 2);
}

#[test]
fn read_only_refuses_changes() {
    let e = Env::new(PIPELINES);
    let (code, _, err) = e.run(&["--read-only", "run", "ok"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("read-only") && err.contains("--read-only"), "{err}");
    let (_, out, _) = e.run(&["audit", "export"]);
    assert!(out.contains("\"refused\""), "the refusal is evidence too: {out}");
    assert_eq!(e.run(&["--read-only", "runs"]).0, 0);
}

#[test]
fn a_reader_that_goes_away_ends_the_listing_quietly() {
    use std::io::Read;
    let e = Env::new(PIPELINES);
    // `flightdeck completions powershell | head -c 10`: more than a pipe holds, and the reader
    // takes a little and leaves.
    let mut child = e.cmd(&["completions", "powershell"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 10];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_ne!(out.status.code(), Some(101), "no panic");
}

#[test]
fn what_flightdeck_keeps_is_private_and_jobs_keep_the_users_mask() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new("[[pipelines.p.stages]]\nname = \"make\"\nrun = \"touch artefact\"\n");
    let (code, _, err) = e.run(&["run", "p", "--yes", "--follow"]);
    assert_eq!(code, 0, "{err}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = e.dir.path().join("data");
    assert_eq!(mode(&data.join("audit.jsonl")), 0o600, "the journal");
    assert_eq!(mode(&data.join("runs")), 0o700, "the run history");
    // The job made its file with the user's own mask (the test process's), not flightdeck's.
    // SAFETY: reading the mask by setting it and putting it back, in this test process only.
    let users = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    assert_eq!(mode(&e.dir.path().join("artefact")), 0o666 & !(users as u32), "the job's artefact");
}
