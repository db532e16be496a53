//! The audit journal: chain verification against every kind of tampering, torn-write recovery,
//! and many processes appending at once.

use std::process::Command;

use flightdeck::audit::{Draft, Journal, Phase, ProblemKind};

fn draft(i: usize) -> Draft {
    Draft {
        actor: format!("user{i}"),
        origin: "local".into(),
        environment: Some("prod".into()),
        target: format!("release#{i}"),
        action: "run.cancel".into(),
        parameters: serde_json::json!({ "run": i }),
        reason: "test".into(),
        phase: Some(Phase::Intent),
        result: "pending".into(),
        ..Draft::default()
    }
}

fn journal_with(n: usize) -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::in_data_dir(dir.path());
    for i in 1..=n {
        j.append(draft(i)).unwrap();
    }
    (dir, j)
}

fn lines(j: &Journal) -> Vec<String> {
    std::fs::read_to_string(j.path()).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(j: &Journal, lines: &[String]) {
    std::fs::write(j.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn problem(j: &Journal) -> (ProblemKind, usize, String) {
    let (_, report) = j.read().unwrap();
    let p = report.problem.expect("verification must fail");
    (p.kind, p.line, p.message)
}

#[test]
fn an_untouched_chain_verifies() {
    let (_d, j) = journal_with(5);
    let (records, report) = j.read().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.good, 5);
    assert_eq!(records[0].prev_hash, flightdeck::audit::GENESIS);
    assert!(records.windows(2).all(|w| w[1].prev_hash == w[0].hash && w[1].seq == w[0].seq + 1));
    assert!(records[0].time.ends_with('Z'));
}

#[test]
fn an_edited_record_is_found() {
    let (_d, j) = journal_with(5);
    let mut l = lines(&j);
    l[2] = l[2].replace("\"reason\":\"test\"", "\"reason\":\"nothing to see\"");
    write_lines(&j, &l);
    let (kind, line, msg) = problem(&j);
    assert_eq!((kind, line), (ProblemKind::Edited, 3));
    assert!(msg.contains("record 3 was changed"), "{msg}");
}

#[test]
fn an_edited_and_rehashed_record_is_found_at_its_successor() {
    let (_d, j) = journal_with(5);
    let (records, _) = j.read().unwrap();
    let mut forged = records[2].clone();
    forged.reason = "rewritten".into();
    let forged = forged.seal();
    let mut l = lines(&j);
    l[2] = serde_json::to_string(&forged).unwrap();
    write_lines(&j, &l);
    let (kind, line, _) = problem(&j);
    assert_eq!((kind, line), (ProblemKind::Edited, 4));
}

#[test]
fn deleted_reordered_and_inserted_records_are_found() {
    let (_d, j) = journal_with(5);
    let mut l = lines(&j);
    l.remove(2);
    write_lines(&j, &l);
    let (kind, line, msg) = problem(&j);
    assert_eq!((kind, line), (ProblemKind::Deleted, 3));
    assert!(msg.contains("records 3..3 are missing"), "{msg}");

    let (_d, j) = journal_with(5);
    let mut l = lines(&j);
    l.swap(1, 2);
    write_lines(&j, &l);
    assert_eq!(problem(&j).0, ProblemKind::Reordered, "record 3 where 2 belongs, and 2 after it: moved, not deleted");
    let (_d, j) = journal_with(5);
    let mut l = lines(&j);
    let moved = l.remove(1);
    l.insert(3, moved);
    write_lines(&j, &l);
    let kinds = problem(&j);
    assert_eq!(kinds.0, ProblemKind::Reordered, "{kinds:?}");

    let (_d, j) = journal_with(5);
    let mut l = lines(&j);
    let dup = l[1].clone();
    l.insert(2, dup);
    write_lines(&j, &l);
    let (kind, line, _) = problem(&j);
    assert_eq!((kind, line), (ProblemKind::Inserted, 3));

    let (_d, j) = journal_with(3);
    let mut l = lines(&j);
    l.remove(0);
    write_lines(&j, &l);
    assert_eq!(problem(&j).0, ProblemKind::Deleted, "cutting the head off is found too");
}

#[test]
fn a_torn_last_line_is_reported_and_the_next_write_repairs_it() {
    let (_d, j) = journal_with(4);
    let full = std::fs::read(j.path()).unwrap();
    // A crash in the middle of writing record 5.
    let mut torn = full.clone();
    let fragment = br#"{"seq":5,"time":"2026-11-22T10:00:00.000Z","actor":"x""#;
    torn.extend_from_slice(fragment);
    std::fs::write(j.path(), &torn).unwrap();
    let (kind, line, msg) = problem(&j);
    assert_eq!((kind, line), (ProblemKind::Torn, 5));
    assert!(msg.contains("crash"), "{msg}");

    let rec = j.append(draft(5)).unwrap();
    let (records, report) = j.read().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(records.len(), 6, "4 earlier records, the repair, the new one");
    assert_eq!(records[4].action, "journal.repair");
    assert_eq!(records[4].parameters["torn_bytes"], fragment.len());
    assert_eq!(rec.seq, 6);
    assert!(std::fs::read(j.path()).unwrap().starts_with(&full), "nothing earlier was lost");
}

#[test]
fn garbage_in_the_middle_is_corruption() {
    let (_d, j) = journal_with(3);
    let mut l = lines(&j);
    l.insert(1, "not json at all".into());
    write_lines(&j, &l);
    assert_eq!(problem(&j).0, ProblemKind::Corrupt);
}

#[test]
fn a_journal_that_cannot_be_written_is_an_error_not_a_silence() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("audit.jsonl")).unwrap();
    let err = Journal::in_data_dir(dir.path()).append(draft(1)).unwrap_err();
    assert!(err.to_string().contains("cannot be written"), "{err}");
    let err = Journal::new("/dev/full").append(draft(1)).unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
}

const CHILDREN: usize = 6;
const PER_CHILD: usize = 40;

/// Run as a child process by the test below: appends to the journal named in the environment.
#[test]
fn concurrent_append_child() {
    let Ok(path) = std::env::var("FD_JOURNAL_CHILD") else { return };
    let j = Journal::new(path);
    for i in 0..PER_CHILD {
        j.append(draft(i)).unwrap();
    }
}

#[test]
fn many_processes_appending_at_once_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Command::new(&exe)
                .args(["concurrent_append_child", "--exact", "--test-threads", "1"])
                .env("FD_JOURNAL_CHILD", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let (records, report) = Journal::new(&path).read().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(records.len(), CHILDREN * PER_CHILD);
    assert_eq!(records.last().unwrap().seq, (CHILDREN * PER_CHILD) as u64);
}

#[test]
fn export_joins_intents_with_outcomes_and_links_runs() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::in_data_dir(dir.path());
    let intent = j
        .append(Draft {
            actor: "alice".into(),
            origin: "ssh from 10.0.0.5".into(),
            environment: Some("prod".into()),
            target: "approve-prod".into(),
            action: "gate.approve".into(),
            parameters: serde_json::json!({"run": 12, "pipeline": "release", "gate": "approve-prod"}),
            reason: "CAB-123, green canary".into(),
            phase: Some(Phase::Intent),
            result: "pending".into(),
            ..Draft::default()
        })
        .unwrap();
    j.append(Draft {
        actor: "alice".into(),
        action: "gate.approve".into(),
        target: "approve-prod".into(),
        phase: Some(Phase::Outcome),
        result: "success".into(),
        intent: Some(intent.seq),
        ..Draft::default()
    })
    .unwrap();
    j.append(Draft {
        actor: "bob".into(),
        action: "gate.approve".into(),
        target: "approve-prod".into(),
        phase: Some(Phase::Refused),
        result: "refused".into(),
        error: Some("four-eyes".into()),
        ..Draft::default()
    })
    .unwrap();
    let (records, _) = j.read().unwrap();
    let rows = flightdeck::audit::export_rows(&records, None, None);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].run.clone(), rows[0].gate.as_str(), rows[0].result.as_str(), rows[0].outcome_seq),
        (Some(flightdeck::domain::RunRef::local(12)), "approve-prod", "success", Some(2)),
        "a record written before runs had a provider still links to its run"
    );
    assert_eq!(rows[1].result, "refused");
    // Records written now name the run in its provider-neutral form, and link the same way.
    let now = j
        .append(Draft {
            actor: "carol".into(),
            action: "run.cancel".into(),
            target: "release#13".into(),
            parameters: serde_json::json!({"run": "gh:acme/shop:13"}),
            phase: Some(Phase::Intent),
            result: "pending".into(),
            ..Draft::default()
        })
        .unwrap();
    let (records, report) = j.read().unwrap();
    assert!(report.ok(), "{report}");
    let rows = flightdeck::audit::export_rows(&records, None, None);
    let row = rows.iter().find(|r| r.intent_seq == now.seq).unwrap();
    assert_eq!(row.run.as_ref().map(|r| r.text()), Some("gh:acme/shop:13".to_string()));
    assert!(flightdeck::audit::export_csv(&rows).contains(",local:12,"), "old records export their run as local:12");
    let csv = flightdeck::audit::export_csv(&rows);
    assert!(csv.lines().nth(1).unwrap().contains("\"CAB-123, green canary\""), "{csv}");
    let future = flightdeck::audit::parse_time_bound("2999-01-01").unwrap();
    assert!(flightdeck::audit::export_rows(&records, Some(future), None).is_empty());
}

#[test]
fn a_record_without_its_final_newline_is_kept_by_the_next_write() {
    let (_dir, j) = journal_with(3);
    let text = std::fs::read_to_string(j.path()).unwrap();
    std::fs::write(j.path(), text.trim_end_matches('\n')).unwrap();
    j.append(draft(4)).unwrap();
    let (records, report) = j.read().unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(records.len(), 4, "no valid record was lost");
}

#[test]
fn a_broken_journal_is_not_exported_as_fact() {
    let (dir, j) = journal_with(4);
    let mut l = lines(&j);
    l[2] = l[2].replace("\"actor\":\"user3\"", "\"actor\":\"mallory\"");
    write_lines(&j, &l);
    let run = |extra: &[&str]| {
        let mut args = vec!["--data-dir", dir.path().to_str().unwrap(), "audit", "export", "--journal", j.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck")).args(&args).output().unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing exported");
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT INTACT"));
    let out = run(&["--allow-broken"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let intact: Vec<bool> = rows.as_array().unwrap().iter().map(|r| r["intact"].as_bool().unwrap()).collect();
    assert!(intact.contains(&true) && intact.contains(&false), "rows after the break are flagged: {intact:?}");
}
