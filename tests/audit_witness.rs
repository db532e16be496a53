//! Tampering with the journal, every way it can be done, found by `audit verify`: five the hash
//! chain shows by itself, five only a witness of checkpoints can show, and a forged checkpoint in
//! the witness itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use flightdeck::audit::AuditRecord;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(signed: bool) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("witness")).unwrap();
        let key = if signed {
            std::fs::write(dir.path().join("witness.key"), "a key of thirty-two bytes, kept.").unwrap();
            "signing_key = \"witness.key\"\n"
        } else {
            ""
        };
        let cfg = format!(
            "[audit]\nwitness = \"witness/checkpoints.jsonl\"\n{key}syslog = false\n\
             [[pipelines.p.stages]]\nname = \"step\"\nrun = \"true\"\n"
        );
        std::fs::write(dir.path().join("flightdeck.toml"), cfg).unwrap();
        Env { dir }
    }
    fn journal(&self) -> PathBuf {
        self.dir.path().join("data").join("audit.jsonl")
    }
    fn witness(&self) -> PathBuf {
        self.dir.path().join("witness").join("checkpoints.jsonl")
    }
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(self.dir.path().join("flightdeck.toml"))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
    /// A journaled change: a run's trigger, intent and outcome.
    fn act(&self) {
        let (code, out) = self.run(&["run", "p", "--follow", "--yes"]);
        assert_eq!(code, 0, "{out}");
    }
    fn verify(&self) -> (i32, String) {
        self.run(&["audit", "verify"])
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let client = flightdeck::supervisor::Client::new(&self.dir.path().join("data"), None);
        let _ = client.stop_and_wait("the test is over", std::time::Duration::from_secs(30));
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    std::fs::write(p, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn record(line: &str) -> AuditRecord {
    serde_json::from_str(line).unwrap()
}

fn line_of(r: &AuditRecord) -> String {
    serde_json::to_string(r).unwrap()
}

/// A journal of three runs (six records), verified intact first.
fn journal() -> Env {
    let e = Env::new(false);
    for _ in 0..3 {
        e.act();
    }
    let (code, out) = e.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 records, chain intact") && out.contains("checked against the witness"), "{out}");
    e
}

/// A journal of a few records, its lines edited by `edit`: `audit verify` names `kind`.
fn found_after_editing(kind: &str, edit: impl FnOnce(&mut Vec<String>)) {
    let e = journal();
    let mut l = lines(&e.journal());
    edit(&mut l);
    write_lines(&e.journal(), &l);
    assert_found(&e, kind);
}

fn assert_found(e: &Env, kind: &str) {
    let (code, out) = e.verify();
    assert_eq!(code, 1, "tampering ({kind}) must fail verification: {out}");
    assert!(out.contains("NOT INTACT") && out.contains(&format!(": {kind}: ")), "expected {kind}: {out}");
}

#[test]
fn an_edited_record_is_found() {
    found_after_editing("Edited", |l| {
        l[2] = l[2].replace("\"actor\":\"", "\"actor\":\"x");
    });
}

#[test]
fn a_deleted_record_is_found() {
    found_after_editing("Deleted", |l| {
        l.remove(2);
    });
}

#[test]
fn a_reorder_is_named_a_reorder() {
    found_after_editing("Reordered", |l| {
        l.swap(2, 3);
    });
}

#[test]
fn an_inserted_record_is_found() {
    found_after_editing("Inserted", |l| {
        let copy = l[2].clone();
        l.insert(3, copy);
    });
}

#[test]
fn a_torn_last_record_is_found() {
    let e = journal();
    let text = std::fs::read_to_string(e.journal()).unwrap();
    std::fs::write(e.journal(), &text[..text.len() - 40]).unwrap();
    assert_found(&e, "Torn");
}

#[test]
fn records_cut_off_the_end_are_found() {
    found_after_editing("Truncated", |l| {
        l.truncate(4);
    });
}

#[test]
fn a_record_appended_with_a_recomputed_hash_is_found() {
    found_after_editing("Unwitnessed", |l| {
        let last = record(l.last().unwrap());
        let mut forged = last.clone();
        forged.seq += 1;
        forged.prev_hash = last.hash.clone();
        forged.action = "gate.approve".into();
        forged.actor = "carol".into();
        l.push(line_of(&forged.seal()));
    });
}

#[test]
fn a_journal_rewritten_as_a_whole_is_found() {
    let e = journal();
    let mut prev = flightdeck::audit::GENESIS.to_string();
    let rewritten: Vec<String> = lines(&e.journal())
        .iter()
        .map(|l| {
            let mut r = record(l);
            r.actor = r.actor.replace("root", "someone-else").replace("tester", "someone-else") + "!";
            r.prev_hash = prev.clone();
            let r = r.seal();
            prev = r.hash.clone();
            line_of(&r)
        })
        .collect();
    write_lines(&e.journal(), &rewritten);
    assert_found(&e, "Rewritten");
}

#[test]
fn a_rollback_to_an_older_copy_is_found() {
    let e = Env::new(false);
    e.act();
    let older = e.dir.path().join("older-copy.jsonl");
    std::fs::copy(e.journal(), &older).unwrap();
    e.act();
    e.act();
    // The older copy is put in the journal's place.
    std::fs::rename(&older, e.journal()).unwrap();
    assert_found(&e, "RolledBack");
}

#[test]
fn a_deleted_journal_that_started_again_is_found() {
    let e = journal();
    std::fs::remove_file(e.journal()).unwrap();
    assert_found(&e, "Restarted");
    // Work goes on: a new chain starts, and it still does not pass for the old one.
    std::thread::sleep(std::time::Duration::from_millis(20));
    e.act();
    assert_found(&e, "Restarted");
}

#[test]
fn a_forged_checkpoint_in_a_signed_witness_is_found() {
    let e = Env::new(true);
    for _ in 0..2 {
        e.act();
    }
    assert_eq!(e.verify().0, 0, "{}", e.verify().1);
    // The journal's owner appends a record and covers it with a checkpoint of their own.
    let mut l = lines(&e.journal());
    let last = record(l.last().unwrap());
    let mut forged = last.clone();
    forged.seq += 1;
    forged.prev_hash = last.hash.clone();
    let forged = forged.seal();
    l.push(line_of(&forged));
    write_lines(&e.journal(), &l);
    let mut w = lines(&e.witness());
    let mut cp: serde_json::Value = serde_json::from_str(w.last().unwrap()).unwrap();
    cp["seq"] = forged.seq.into();
    cp["hash"] = forged.hash.clone().into();
    w.push(cp.to_string());
    write_lines(&e.witness(), &w);
    assert_found(&e, "WitnessForged");
}

#[test]
fn without_a_witness_verify_says_what_it_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flightdeck.toml"), "[audit]\nsyslog = false\n[[pipelines.p.stages]]\nname = \"s\"\nrun = \"true\"\n")
        .unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(dir.path().join("flightdeck.toml"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["run", "p", "--follow", "--yes"]).status.success());
    let out = run(&["audit", "verify"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no witness is configured"), "{}", String::from_utf8_lossy(&out.stderr));
    let client = flightdeck::supervisor::Client::new(&dir.path().join("data"), None);
    let _ = client.stop_and_wait("the test is over", std::time::Duration::from_secs(30));
}

/// A witness that cannot be written stops the change before anything is journaled: no intent is
/// left waiting for an outcome that nothing would ever write (and that a request could replay).
#[test]
fn an_unwritable_witness_stops_the_change_before_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flightdeck.toml"),
        "[audit]\nwitness = \"no-such-dir/checkpoints.jsonl\"\nsyslog = false\n[[pipelines.p.stages]]\nname = \"s\"\nrun = \"true\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path().join("flightdeck.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["run", "p", "--yes"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("witness cannot be written") && err.contains("nothing was done"), "{err}");
    let journal = std::fs::read_to_string(dir.path().join("data/audit.jsonl")).unwrap_or_default();
    assert!(journal.is_empty(), "nothing was journaled: {journal}");
    let client = flightdeck::supervisor::Client::new(&dir.path().join("data"), None);
    let _ = client.stop_and_wait("the test is over", std::time::Duration::from_secs(30));
}
