//! Several people on one host sharing one supervisor: each acts as the operating-system account
//! the kernel names, whatever the environment or the configuration say; decisions hold between
//! them; and nobody outside the list gets in.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::cli_env::PIPELINES;
use support::shared::{BOB, CAROL, DAVE, OUTSIDER, Shared};

fn runs_json(e: &Shared) -> serde_json::Value {
    let (code, out, err) = e.run_as(CAROL, &["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn wait_status(e: &Shared, run: usize, want: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs_json(e);
        let r = runs.as_array().unwrap().iter().find(|r| r["id"] == format!("local:{run}")).cloned().unwrap_or_default();
        if r["status"] == want {
            return r;
        }
        assert!(Instant::now() < deadline, "run {run} never became {want}: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn background_run_gate_approved_from_another_process() {
    let e = Shared::start(PIPELINES);
    let (code, out, err) = e.run_as(BOB, &["run", "gated"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "local:1", "the run's reference, as every other command takes it");
    wait_status(&e, 1, "waiting");
    let (code, _, err) = e.run_as(CAROL, &["reject", "1", "--gate", "nope"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("no job `nope`"), "{err}");

    // The inbox shows it, and who may approve.
    let (code, out, _) = e.run_as(BOB, &["approvals"]);
    assert_eq!(code, 0);
    assert!(out.contains("approve-prod") && out.contains("cannot: four-eyes"), "{out}");
    let (_, out, _) = e.run_as(CAROL, &["approvals", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["you_may_approve"], true);
    assert_eq!(rows[0]["triggered_by"].as_str().unwrap().split('@').next(), Some(BOB));
    assert!(rows[0]["security_gate"]["summary"].as_str().is_some_and(|s| s.starts_with("pass")), "{}", rows[0]);
    // A broken acceptances file does not hide the inbox: no acceptance counts, and it says where.
    std::fs::write(e.dir.path().join("risk-acceptances.toml"), "[[accept]]\nid = \n").unwrap();
    let (code, out, err) = e.run_as(CAROL, &["approvals"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approve-prod") && err.contains("risk-acceptances.toml:2:"), "{out}\n{err}");
    std::fs::remove_file(e.dir.path().join("risk-acceptances.toml")).unwrap();

    // Production: the typed name and a reason are required, and four-eyes applies.
    let (code, _, err) = e.run_as(CAROL, &["approve", "1"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("--confirm approve-prod"), "{err}");
    let (code, _, err) = e.run_as(CAROL, &["approve", "1", "--confirm", "approve-prod"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("needs a reason"), "{err}");
    let (code, _, err) = e.run_as(BOB, &["approve", "1", "--confirm", "approve-prod", "--reason", "my own"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("four-eyes") && err.contains("environments.prod.four_eyes"), "{err}");
    let (code, _, err) = e.run_as(CAROL, &["approve", "1", "--confirm", "approve-prod", "--comment", "ship it"]);
    assert_eq!(code, 0, "{err}");
    let r = wait_status(&e, 1, "success");
    let gate = r["jobs"].as_array().unwrap().iter().find(|j| j["key"] == "approve-prod").unwrap().clone();
    assert_eq!(gate["gate"]["decision"]["comment"], "ship it");
    let (code, _, err) = e.run_as(CAROL, &["approve", "1"]);
    assert_eq!(code, 3, "an error, not an outcome");
    assert!(err.contains("no gate waiting"), "{err}");
    // `logs --follow` on a finished run prints everything and ends.
    let (code, out, _) = e.run_as(CAROL, &["logs", "1", "ship", "--follow"]);
    assert_eq!(code, 0);
    assert!(out.contains("shipped"));

    // The journal has the whole story and verifies.
    let (code, out, err) = e.run_as(CAROL, &["audit", "verify"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("chain intact"), "{out}");
    let (_, out, _) = e.run_as(CAROL, &["audit", "export"]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<(&str, &str)> =
        rows.as_array().unwrap().iter().map(|r| (r["action"].as_str().unwrap(), r["result"].as_str().unwrap())).collect();
    // Refusals for a missing --confirm or --reason are journaled like the policy's own.
    assert_eq!(
        actions,
        [
            ("run.trigger", "success"),
            ("gate.waiting", "recorded"),
            ("gate.approve", "refused"),
            ("gate.approve", "refused"),
            ("gate.approve", "refused"),
            ("gate.approve", "success")
        ],
        "{out}"
    );
    let approval = &rows[5];
    assert_eq!(
        (approval["run"].as_str(), approval["gate"].as_str(), approval["reason"].as_str()),
        (Some("local:1"), Some("approve-prod"), Some("ship it"))
    );
    let (_, csv, _) = e.run_as(CAROL, &["audit", "export", "--format", "csv", "--since", "2020-01-01"]);
    assert_eq!(csv.lines().count(), 7, "{csv}");
    // The confirmation recorded is the one that happened: nobody was asked to start the run (no
    // terminal), and the approval was typed.
    let journal = std::fs::read_to_string(e.dir.path().join("data/audit.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let trigger = records.iter().find(|r| r["action"] == "run.trigger").unwrap();
    assert_eq!(trigger["parameters"]["confirmation"], "none", "{trigger}");
    let approved = records.iter().find(|r| r["action"] == "gate.approve" && r["phase"] == "intent").unwrap();
    assert_eq!(approved["parameters"]["confirmation"], "typed", "{approved}");
    assert!(csv.lines().next().unwrap().starts_with("time,actor,origin,environment,action,target,run,pipeline,gate,reason"));
    let (_, none, _) = e.run_as(CAROL, &["audit", "export", "--since", "2999-01-01"]);
    assert_eq!(none.trim(), "[]");
}

/// Two people deciding one gate at once, from two processes: exactly one decision wins, the other
/// is told who decided and exits non-zero, and the journal says so — race after race.
#[test]
fn exactly_one_decision_wins_a_race_on_a_gate() {
    let e = Shared::start(PIPELINES);
    const RACES: usize = 5;
    let mut double = 0;
    for n in 1..=RACES {
        let (code, _, err) = e.run_as(BOB, &["run", "gated"]);
        assert_eq!(code, 0, "{err}");
        wait_status(&e, n, "waiting");
        let run = n.to_string();
        let decide = |who: &str, verb: &str| {
            e.cmd_as(who, &[verb, &run, "--confirm", "approve-prod", "--reason", "race"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (carol, dave) = (decide(CAROL, "approve"), decide(DAVE, "reject"));
        let (a, b) = (carol.wait_with_output().unwrap(), dave.wait_with_output().unwrap());
        let won = [&a, &b].iter().filter(|o| o.status.success()).count();
        double += usize::from(won != 1);
        let loser = if a.status.success() { &b } else { &a };
        let said = String::from_utf8_lossy(&loser.stderr);
        assert!(said.contains("was already approved by") || said.contains("was already rejected by"), "the loser is told: {said}");
        assert_eq!(loser.status.code(), Some(3), "{said}");
    }
    assert_eq!(double, 0, "double decisions in {RACES} races");
    let journal = std::fs::read_to_string(e.dir.path().join("data/audit.jsonl")).unwrap_or_default();
    let failures = journal.lines().filter(|l| l.contains("\"phase\":\"outcome\"") && l.contains("already")).count();
    assert_eq!(failures, RACES, "each loser's outcome is journaled as what happened");
}

/// The environment and the configuration cannot change who acts: the journal names the account.
#[test]
fn who_acts_is_the_account_the_kernel_names() {
    let e = Shared::start(PIPELINES);
    // cmd_as sets USER=root and LOGNAME=root: the account is games all the same.
    let (code, _, err) = e.run_as(BOB, &["run", "gated"]);
    assert_eq!(code, 0, "{err}");
    let r = wait_status(&e, 1, "waiting");
    assert!(r["trigger"]["actor"].as_str().unwrap().starts_with(&format!("{BOB}@")), "{r}");
    let journal = std::fs::read_to_string(e.data().join("audit.jsonl")).unwrap();
    let trigger: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert!(trigger["actor"].as_str().unwrap().starts_with(&format!("{BOB}@")), "{trigger}");
    assert_eq!(trigger["origin"], "shared session");
    // What the owner keeps stays the owner's alone.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for f in ["audit.jsonl", "runs"] {
        let m = std::fs::metadata(e.data().join(f)).unwrap();
        assert_eq!(m.uid(), 0, "{f} belongs to the owner");
        assert_eq!(m.permissions().mode() & 0o077, 0, "{f} is private");
    }
}

#[test]
fn an_account_the_supervisor_is_not_shared_with_is_turned_away() {
    let e = Shared::start(PIPELINES);
    let (code, out, err) = e.run_as(OUTSIDER, &["run", "gated"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains(&format!("not shared with {OUTSIDER}")), "{err}");
    let (code, _, err) = e.run_as(OUTSIDER, &["runs"]);
    assert_eq!(code, 3, "reads too: {err}");
    let journal = std::fs::read_to_string(e.data().join("audit.jsonl")).unwrap_or_default();
    assert!(!journal.contains(OUTSIDER), "nothing was done as {OUTSIDER}: {journal}");
    assert!(e.log().contains("refused a session"), "{}", e.log());
}

/// A session reads and changes only the shared data directory, with the shared configuration.
#[test]
fn a_session_cannot_name_another_file_or_configuration() {
    let e = Shared::start(PIPELINES);
    let (code, _, err) = e.run_as(CAROL, &["audit", "verify", "--journal", "/etc/shadow"]);
    assert_eq!(code, 3);
    assert!(err.contains("file arguments are not accepted"), "{err}");
    let (code, _, err) = e.run_as(CAROL, &["config", "check", "/etc/shadow"]);
    assert_eq!(code, 3);
    assert!(err.contains("file arguments are not accepted"), "{err}");
    let (code, out, err) = e.run_as(CAROL, &["--config", "/etc/shadow", "runs"]);
    assert_ne!(code, 0);
    assert!(!out.contains("root:") && !err.contains("root:"), "{out}{err}");
    let (code, _, err) = e.run_as(CAROL, &["supervisor", "serve"]);
    assert_eq!(code, 3);
    assert!(err.contains("cannot start another supervisor"), "{err}");
    assert_eq!(e.run_as(CAROL, &["run", "ok"]).0, 0);
    let (code, out, err) = e.run_as(CAROL, &["audit", "verify"]);
    assert_eq!(code, 0, "the shared journal itself: {out}{err}");
}

/// Pointing a process at a connection it opened itself does not borrow the identity of whoever
/// listens there, and a descriptor that is no connection is refused.
#[test]
fn a_forged_session_descriptor_is_refused() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let e = Shared::start(PIPELINES);
    let run = |fd_setup: Option<std::os::unix::net::UnixStream>, var: &str| {
        let mut c = std::process::Command::new(support::cli_env::BIN);
        c.arg("--config").arg(e.dir.path().join("flightdeck.toml")).arg("--data-dir").arg(e.data()).arg("runs");
        c.env("FLIGHTDECK_PEER_FD", var).stdin(Stdio::null());
        if let Some(conn) = fd_setup {
            let raw = conn.as_raw_fd();
            // SAFETY: dup2 between fork and exec; the stream outlives the spawn.
            unsafe {
                c.pre_exec(move || {
                    let done = if raw == 3 { libc::fcntl(raw, libc::F_SETFD, 0) } else { libc::dup2(raw, 3) };
                    if done < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
                });
            }
            let out = c.output().unwrap();
            drop(conn);
            return out;
        }
        c.output().unwrap()
    };
    let out = run(None, "0");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot tell who is asking"), "{out:?}");
    let conn = std::os::unix::net::UnixStream::connect(&e.socket).unwrap();
    let out = run(Some(conn), "3");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not accepted by a supervisor"), "{out:?}");
}

/// Approvers may be an operating-system group; the configured actor is gone for good.
#[test]
fn approvers_by_operating_system_group() {
    let config =
        PIPELINES.replace("[environments.prod]\nproduction = true", "[environments.prod]\nproduction = true\napprovers = [\"group:lp\"]");
    let e = Shared::start(&config);
    assert_eq!(e.run_as(BOB, &["run", "gated"]).0, 0);
    wait_status(&e, 1, "waiting");
    let (code, _, err) = e.run_as(CAROL, &["approve", "1", "--confirm", "approve-prod", "--reason", "ok"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("only group:lp may decide gates in prod"), "{err}");
    let (code, _, err) = e.run_as(DAVE, &["approve", "1", "--confirm", "approve-prod", "--reason", "ok"]);
    assert_eq!(code, 0, "{err}");
    wait_status(&e, 1, "success");
}

#[test]
fn a_configured_actor_is_refused_and_display_names_come_only_from_a_private_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "[general]\nactor = \"bob\"\n").unwrap();
    let out = std::process::Command::new(support::cli_env::BIN).args(["config", "check"]).arg(&path).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("who acts is the operating-system account"), "{out:?}");

    let me = flightdeck::identity::account_name(nix::unistd::getuid().as_raw());
    let text = format!("[people]\n{me} = \"The Owner\"\n");
    std::fs::write(&path, &text).unwrap();
    let config = flightdeck::config::Config::parse(&text, Some(&path), None).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let id = flightdeck::identity::of(&config.people, config.path.as_deref(), dir.path()).unwrap();
    assert_eq!(id.display.as_deref(), Some("The Owner"));
    assert!(id.actor.starts_with(&format!("{me}@")), "{id:?}");
    // Anyone who can write the file could rename people: then it names nobody.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let id = flightdeck::identity::of(&config.people, config.path.as_deref(), dir.path()).unwrap();
    assert_eq!(id.display, None);
}
