//! A log longer than the view holds: the whole log stays on disk, behind its index. The view shows
//! any part of it, and search goes through all of it, off the UI, with the memory of a window.

mod support;

use std::time::Duration;

use flightdeck::app::state::Pane;
use flightdeck::domain::{RunRef, RunStatus};
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(60);
const LINES: u64 = 300_000;

/// 300,000 numbered lines between a first and a last marker: more than the view keeps (200,000).
/// The log also has the command (its first line) and the exit status (its last).
const CONFIG: &str = r#"
[[pipelines.long.stages]]
name = "build"
run = "echo FIRST-MARKER-$((40+2)); seq 1 300000 | sed 's/^/line /'; echo FA''TAL: out of disk; echo LAST-MARKER"
"#;

async fn opened_long_log() -> Cockpit {
    let mut c = Cockpit::new(CONFIG, 200, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    c.press(":run long<enter>y");
    c.until("the run succeeds", LIMIT, |s| s.run(&RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    c.press("<enter><left><enter>");
    assert_eq!(c.state.focus, Pane::Log);
    c.until("the whole log counted", LIMIT, |s| s.current_log().is_some_and(|l| l.end_line() == LINES + 5)).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_line_of_a_log_longer_than_the_view_keeps_is_one_key_away() {
    let mut c = opened_long_log().await;
    c.until("the end of the log shown", LIMIT, |s| flightdeck_screen(s).contains("LAST-MARKER")).await;
    assert!(c.screen().contains(&format!("{} lines", LINES + 5)), "{}", c.screen());
    c.press("g");
    c.until("the top of the log read from disk", LIMIT, |s| s.current_log().is_some_and(|l| l.store.first_seq() == 0)).await;
    let screen = c.screen();
    assert!(screen.contains("FIRST-MARKER") && screen.contains("line 2 "), "{screen}");
    let held = c.state.current_log().unwrap().store.len();
    assert!(held <= 2 * flightdeck::app::update::LOG_WINDOW, "a window is held, not the log: {held} lines");
    // The middle of the log, far from both windows read so far: read when it is shown.
    c.press("/re:^line 222222$<enter>");
    c.until("the middle shown", LIMIT, |s| flightdeck_screen(s).contains("line 222222 ")).await;
    assert!(c.state.current_log().unwrap().store.first_seq() > 200_000, "the window moved there");
    // Back to the end, following again.
    c.press("G");
    c.until("the end read again", LIMIT, |s| flightdeck_screen(s).contains("LAST-MARKER")).await;
    assert!(c.state.log.follow);
}

fn flightdeck_screen(s: &flightdeck::app::state::State) -> String {
    support::fixtures::screen(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_goes_through_the_whole_log_on_disk() {
    let mut c = opened_long_log().await;
    c.press("/first-marker-42<enter>");
    c.until("the search done", LIMIT, |s| s.log.search.as_ref().is_some_and(|x| x.running.is_none())).await;
    let s = c.state.log.search.clone().unwrap();
    assert_eq!(s.matches, vec![1], "found at the very start, which the view no longer held");
    c.until("the match shown", LIMIT, |s| flightdeck_screen(s).contains("FIRST-MARKER")).await;
    // A regular expression, across the whole log, and n/N through its matches.
    // (Esc clears the search, so that / starts an empty one.)
    c.press("<esc>/re:^line 1500[0-9][0-9]$<enter>");
    c.until("the regex search done", LIMIT, |s| s.log.search.as_ref().is_some_and(|x| x.running.is_none())).await;
    let s = c.state.log.search.clone().unwrap();
    assert_eq!(s.matches.len(), 100, "line 150000 to line 150099");
    assert_eq!(s.matches[0], 150_001, "numbered as lines of the whole log (the command is line 0, FIRST-MARKER line 1)");
    c.press("n");
    c.until("the second match shown", LIMIT, |s| flightdeck_screen(s).contains("line 150001")).await;
    assert!(c.screen().contains("2/100"), "{}", c.screen());
    c.press("N");
    assert!(c.screen().contains("1/100"), "{}", c.screen());
    // A regular expression that is not one says so.
    c.press("<esc>/re:(unclosed<enter>");
    assert!(c.state.toasts.iter().any(|t| t.text.contains("not a regular expression")), "{:?}", c.state.toasts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_number_and_the_errors_of_a_long_log_are_one_command_away() {
    let mut c = opened_long_log().await;
    c.press(":line 100003<enter>");
    c.until("line 100003 shown", LIMIT, |s| flightdeck_screen(s).contains("line 100001 ")).await;
    assert!(!c.state.log.follow);
    c.press(":line 999999999<enter>");
    assert!(c.state.toasts.iter().any(|t| t.text.contains(&format!("the log has {} lines", LINES + 5))), "{:?}", c.state.toasts);
    // `e` from the top: the first error, searched for on disk.
    c.press("g");
    c.press("e");
    c.until("the error found", LIMIT, |s| s.log.search.as_ref().is_some_and(|x| x.running.is_none() && !x.matches.is_empty())).await;
    assert_eq!(c.state.log.search.as_ref().unwrap().matches, vec![LINES + 2]);
    c.until("the error shown", LIMIT, |s| flightdeck_screen(s).contains("FATAL: out of disk")).await;
    // A time before the job started: its first line.
    c.press(":time 2000-01-01T00:00:00Z<enter>");
    c.until("the first line shown", LIMIT, |s| flightdeck_screen(s).contains("FIRST-MARKER-42")).await;
}

/// `y` puts the line on the user's clipboard with OSC 52, written by flightdeck itself; the log's
/// own OSC 52 stays stripped.
#[test]
fn y_copies_the_current_line_to_the_clipboard_and_the_logs_own_osc52_stays_stripped() {
    use base64::Engine;
    let (_dir, _stops, mut t) =
        support::pty_log::cockpit_on_log(r"printf '\033]52;c;aGlqYWNr\007 hostile\n'; echo the line to copy", "the line to copy");
    assert!(!String::from_utf8_lossy(&t.raw).contains("\x1b]52;c;aGlqYWNr"), "the log's own OSC 52 never reaches the terminal");
    // The command shown at the top matches too: the second match is the job's own line.
    t.send("/to copy\r");
    t.wait_for("1/2", "the matches");
    t.send("n");
    t.wait_for("2/2", "the second match");
    t.send("y");
    let want = format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode("the line to copy"));
    t.wait_raw(want.as_bytes(), "flightdeck's OSC 52 with the line");
    t.send("q");
    t.wait_exit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_matching_lines_with_their_numbers_and_enter_shows_one_in_context() {
    let mut c = opened_long_log().await;
    c.press("/re:^line 2000[0-9]$<enter>");
    c.until("the search done", LIMIT, |s| s.log.search.as_ref().is_some_and(|x| x.running.is_none())).await;
    c.press("F");
    // Numbered as `:line` numbers them (from 1; the command is line 1, FIRST-MARKER line 2).
    c.until("the matching lines read from disk", LIMIT, |s| {
        let screen = flightdeck_screen(s);
        screen.contains("20002 │ line 20000") && screen.contains("20011 │ line 20009")
    })
    .await;
    assert!(!c.screen().contains("line 20010"), "only the matches: {}", c.screen());
    c.press("<down><down><enter>");
    assert!(c.state.log.filter.is_none(), "enter leaves the filtered view");
    c.until("the third match in context", LIMIT, |s| {
        let screen = flightdeck_screen(s);
        screen.contains("line 20002 ") && screen.contains("line 19995 ") && screen.contains("line 20020 ")
    })
    .await;
    assert!(c.screen().contains("3/10"), "{}", c.screen());
}

/// `v` hands the terminal to the pager at the current line: the pager gets the keys typed while
/// it runs (nothing of flightdeck reads the terminal meanwhile), and the cockpit comes back whole.
#[test]
fn v_hands_the_terminal_to_the_pager_and_takes_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flightdeck.toml");
    std::fs::write(&config, "[[pipelines.p.stages]]\nname = \"build\"\nrun = \"seq 1 500\"\n").unwrap();
    // A pager that writes down its arguments and the key it reads from the terminal (its input is
    // the log, as with `less` reading a pipe), then the text it was given.
    let seen = dir.path().join("pager-saw");
    let text = dir.path().join("pager-text");
    let pager = dir.path().join("pager.sh");
    std::fs::write(
        &pager,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}\nIFS= read -r key < /dev/tty\ncat > {1}\necho \"key:$key\" >> {0}\n",
            seen.display(),
            text.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pager, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // An editor that writes down its arguments and the file's first line.
    let edited = dir.path().join("editor-saw");
    let editor = dir.path().join("editor.sh");
    std::fs::write(&editor, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}\nsed -n 2p \"$2\" >> {0}\n", edited.display())).unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let (config, data_s) = (config.display().to_string(), data.display().to_string());
    let _stops = support::supervision::StopsSupervisor(data.clone());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args(["--config", &config, "--data-dir", &data_s, "run", "p", "--follow", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // SAFETY: set before the cockpit this test starts reads its environment.
    unsafe { std::env::set_var("PAGER", pager.display().to_string()) };
    // SAFETY: as above.
    unsafe { std::env::set_var("VISUAL", editor.display().to_string()) };
    let mut t = support::pty::Term::spawn(&["--config", &config, "--data-dir", &data_s]);
    t.wait_for("#1", "the run listed");
    t.send("\r");
    t.wait_for("build", "the jobs");
    t.send("\r");
    t.wait_for("500", "the log");
    t.send(":line 250\r");
    t.wait_for("paused", "the view at line 250");
    t.send("v");
    support::supervision::wait_until(Duration::from_secs(20), "the pager started", || seen.exists());
    t.send("typed-into-the-pager\r");
    support::supervision::wait_until(Duration::from_secs(20), "the pager read its key", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s.contains("key:"))
    });
    let said = std::fs::read_to_string(&seen).unwrap();
    let at: u64 = said.lines().next().unwrap().trim_start_matches('+').parse().unwrap();
    assert!((230..=250).contains(&at), "the pager starts at the line in view: {said}");
    assert!(said.contains("key:typed-into-the-pager"), "the pager got every key: {said}");
    // Its input was the whole log, plain: the command's line, the 500 numbers, the exit line.
    let given = std::fs::read_to_string(&text).unwrap();
    let lines: Vec<&str> = given.lines().collect();
    assert_eq!(lines.len(), 502, "{given}");
    assert_eq!((lines[1], lines[500]), ("1", "500"));
    assert!(!given.contains('\u{1b}'), "no escape sequences");
    t.wait_for("Runs (1)", "the cockpit drawn again");
    // `V`: the editor over a copy of the log, at the same line; the copy goes when it ends.
    t.send("V");
    support::supervision::wait_until(Duration::from_secs(20), "the editor ran", || {
        std::fs::read_to_string(&edited).is_ok_and(|s| s.lines().count() >= 3)
    });
    let said = std::fs::read_to_string(&edited).unwrap();
    let mut words = said.lines();
    assert_eq!(words.next().unwrap().trim_start_matches('+').parse::<u64>().unwrap(), at, "{said}");
    let copy = std::path::PathBuf::from(words.next().unwrap());
    assert_eq!(words.next(), Some("1"), "the copy holds the log: {said}");
    support::supervision::wait_until(Duration::from_secs(20), "the copy removed once the editor ended", || !copy.exists());
    t.wait_for("Runs (1)", "the cockpit drawn again");
    t.send("q");
    t.wait_exit();
}

/// A job that never ran has no log file: opening it says so, not that a file is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_of_a_job_that_never_ran_is_empty_not_an_error() {
    let mut c = Cockpit::new(
        "[[pipelines.p.stages]]\nname = \"first\"\nrun = \"exit 3\"\n[[pipelines.p.stages]]\nname = \"second\"\nneeds = [\"first\"]\nrun = \"echo never\"\n",
        120,
        40,
    );
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    c.press(":run p<enter>y");
    c.until("the run fails", LIMIT, |s| s.run(&RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Failed)).await;
    c.press("<enter><right><enter>");
    assert_eq!(c.state.selected_job.as_deref(), Some("second"));
    c.until("the log read", LIMIT, |s| s.pending_log.is_none() && s.current_log().is_some()).await;
    assert!(c.state.toasts.iter().all(|t| !t.text.contains("cannot read")), "{:?}", c.state.toasts);
    assert!(c.screen().contains("skipped"), "{}", c.screen());
}

/// The cockpit opened on a job that has already written megabytes and is still running (executed
/// by the supervisor): it follows from near the end instead of reading the log from its start,
/// the lines before are read from disk when shown, and every line keeps its number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_with_a_long_log_is_followed_from_near_its_end_with_every_line_numbered() {
    const WRITTEN: u64 = 400_000;
    let config = r#"
[[pipelines.long.stages]]
name = "build"
run = "seq 1 400000 | sed 's/^/line /'; while [ ! -e go ]; do sleep 0.05; done; seq 1 1000 | sed 's/^/after /'"
"#;
    let mut c = Cockpit::new(config, 200, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    let (dir, data) = (c.dir.path().to_path_buf(), c.dir.path().join("data"));
    let _stops = support::supervision::StopsSupervisor(data.clone());
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .current_dir(&dir)
        .args(["--config", &dir.join("flightdeck.toml").display().to_string(), "--data-dir", &data.display().to_string()])
        .args(["run", "long", "--yes"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // The supervisor runs it; wait until the job has written its first part and waits.
    let deadline = std::time::Instant::now() + LIMIT;
    let log = loop {
        let rec = c.runner.store().load(&RunRef::local(1));
        if let Some(p) = rec.ok().and_then(|r| c.runner.store().log_path(&r, "build")) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "the run was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    };
    let count = |p: &std::path::Path| std::fs::read(p).map(|b| b.iter().filter(|c| **c == b'\n').count() as u64).unwrap_or(0);
    let deadline = std::time::Instant::now() + LIMIT;
    while count(&log) < WRITTEN + 1 {
        assert!(std::time::Instant::now() < deadline, "the job never wrote its lines to {}", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = count(&log);
    assert!(std::fs::metadata(&log).unwrap().len() > 8 << 20, "more than the follower skips over");

    let stop = tokio_util::sync::CancellationToken::new();
    flightdeck::ci::CiProvider::watch(&c.runner, stop.clone());
    c.until("the run followed and its log known to its end", LIMIT, |s| {
        s.run(&RunRef::local(1)).and_then(|r| r.logs.get("build")).is_some_and(|l| l.end_line() == before)
    })
    .await;
    let held = c.state.run(&RunRef::local(1)).unwrap().logs["build"].store.first_seq();
    assert!(held > WRITTEN / 2, "followed from near the end, not from line 0 (first line held: {held})");
    c.press("<enter><left><enter>");
    assert_eq!(c.state.focus, Pane::Log);
    c.until("the last line written shown", LIMIT, |s| flightdeck_screen(s).contains("line 400000")).await;
    // The first lines, skipped by the follower, read from disk.
    c.press("g");
    c.until("the first line from disk", LIMIT, |s| flightdeck_screen(s).contains("│line 1 ") || flightdeck_screen(s).contains("│line 1\n"))
        .await;

    // The job goes on: the new lines are numbered as the file numbers them.
    std::fs::write(dir.join("go"), "").unwrap();
    c.until("the run ends", LIMIT, |s| s.run(&RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    c.press("G");
    let total = count(&log);
    c.until("every line counted", LIMIT, |s| s.current_log().is_some_and(|l| l.end_line() == total)).await;
    c.press("/re:^after 500$<enter>");
    c.until("the search done", LIMIT, |s| s.log.search.as_ref().is_some_and(|x| x.running.is_none() && !x.matches.is_empty())).await;
    let found = c.state.log.search.as_ref().unwrap().matches.clone();
    let on_disk = flightdeck::logstore::index::LogFile::open(&log).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(on_disk.read(found[0], 1).unwrap()[0].bytes, b"after 500", "line {} is that line on disk", found[0]);
    c.until("that line shown", LIMIT, |s| flightdeck_screen(s).contains("after 500")).await;
    stop.cancel();
}
