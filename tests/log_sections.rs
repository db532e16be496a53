//! Sections of a log fold and unfold: GitHub's `##[group]` and GitLab's colour-coded
//! `section_start:` markers, one of them longer than the window the view holds. A selection of
//! lines goes to the clipboard.

mod support;

use std::time::Duration;

use flightdeck::app::state::Pane;
use flightdeck::domain::{RunRef, RunStatus};
use support::cockpit::Cockpit;

const LIMIT: Duration = Duration::from_secs(60);
const BODY: u64 = 300_000;

/// A short GitHub group, then a GitLab section of 300,000 lines (its header coloured and behind an
/// erase-line, as GitLab writes it), then a last line.
const CONFIG: &str = r#"
[[pipelines.sections.stages]]
name = "build"
run = '''
echo '##[group]Install'; echo installing; echo '##[endgroup]'
printf '\033[0Ksection_start:1700000000:big[collapsed=true]\r\033[0K\033[36;1mBig section\033[0;m\n'
seq 1 300000 | sed 's/^/body /'
printf '\033[0Ksection_end:1700000001:big\r\033[0K\n'
echo AFTER-BIG
'''
"#;

fn screen(s: &flightdeck::app::state::State) -> String {
    support::fixtures::screen(s)
}

async fn opened() -> Cockpit {
    let mut c = Cockpit::new(CONFIG, 200, 40);
    c.until("history loaded", LIMIT, |s| s.runs_loaded).await;
    c.press(":run sections<enter>y");
    c.until("the run succeeds", LIMIT, |s| s.run(&RunRef::local(1)).is_some_and(|r| r.record.status == RunStatus::Success)).await;
    c.press("<enter><left><enter>");
    assert_eq!(c.state.focus, Pane::Log);
    c.until("both sections known to their ends", LIMIT, |s| {
        s.current_log().is_some_and(|l| l.sections.len() == 2 && l.sections.iter().all(|x| x.end.is_some()))
    })
    .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sections_fold_and_unfold_and_a_match_inside_a_folded_one_unfolds_it() {
    let mut c = opened().await;
    let log = c.state.current_log().unwrap();
    let spans: Vec<_> = log.sections.iter().map(|s| (s.start, s.end, s.title.to_string())).collect();
    // The first lines are the command; then the group (three lines), then the section to its end.
    let g = spans[0].0;
    assert_eq!(spans, vec![(g, Some(g + 2), "Install".to_string()), (g + 3, Some(g + 4 + BODY), "Big section".to_string())]);
    assert!(screen(&c.state).contains("AFTER-BIG"), "{}", c.screen());

    // Everything folded: the end of the log shows the command, both headers and the last line,
    // which lie further apart than any window: the lines on screen are read on their own.
    c.press("Z");
    c.until("both sections folded, the lines around them read", LIMIT, |s| {
        let sc = screen(s);
        sc.contains("▸ Install  ⋯ 2 lines")
            && sc.contains(&format!("▸ Big section  ⋯ {} lines", BODY + 1))
            && sc.contains("AFTER-BIG")
            && sc.contains("seq 1 300000")
    })
    .await;
    assert!(!c.screen().contains("body 1 "), "{}", c.screen());
    let order: Vec<usize> =
        ["seq 1 300000", "▸ Install", "▸ Big section", "│AFTER-BIG"].iter().map(|t| c.screen().find(t).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in the log's order: {}", c.screen());

    // A search that lands inside the folded section unfolds it and shows the line.
    c.press("/body 150000<enter>");
    c.until("the match shown in context", LIMIT, |s| screen(s).contains("body 150000") && screen(s).contains("body 149999")).await;
    assert!(!c.state.current_log().unwrap().folded.contains(&(g + 3)), "the section was unfolded");
    assert!(c.state.current_log().unwrap().folded.contains(&g), "the other stays folded");

    // `z` folds the section the current line is in: its header comes to the top.
    c.press("z");
    c.until("folded again", LIMIT, |s| screen(s).contains("▸ Big section") && screen(s).contains("AFTER-BIG")).await;
    assert!(!c.screen().contains("│body 150000"), "{}", c.screen());

    // Unfold all; from the top, the group open: its header, its line, its end.
    c.press("Zg");
    c.until("the top, unfolded", LIMIT, |s| {
        let sc = screen(s);
        sc.contains("▾ Install") && sc.contains("installing") && sc.contains("▾ Big section") && sc.contains("body 1 ")
    })
    .await;
    assert!(
        !c.screen().contains("│##[group]") && !c.screen().contains("│##[endgroup]"),
        "markers are drawn as a header and an end: {}",
        c.screen()
    );
}

/// `m` marks a line, `y` copies from it to the current line: one OSC 52 with the lines as shown.
#[test]
fn a_marked_range_of_lines_is_copied_to_the_clipboard() {
    use base64::Engine;
    let (_dir, _stops, mut t) = support::pty_log::cockpit_on_log(r"printf 'alpha\nbeta\n\033[31mgamma\033[0m\ndelta\n'", "delta");
    t.send("/re:^(beta|gamma)\r");
    t.wait_for("1/2", "the first line found");
    t.send("m");
    t.wait_for("marked", "the mark");
    t.send("n");
    t.wait_for("2/2", "the last line found");
    t.send("y");
    let want = format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode("beta\ngamma"));
    t.wait_raw(want.as_bytes(), "flightdeck's OSC 52 with both lines, without colours");
    t.wait_for("copied", "the toast");
    t.send("q");
    t.wait_exit();
}

/// Live lines and windows read from disk meet without losing a line's number: the disk ahead of
/// the live stream, behind it, or the view elsewhere while lines arrive.
#[test]
fn live_lines_and_windows_from_disk_keep_every_line_numbered() {
    use flightdeck::app::action::{Action, LogWindow};
    use flightdeck::app::update::update;
    use flightdeck::ci::RunEvent;
    use flightdeck::logstore::{RawLine, Stream};
    let raw = |range: std::ops::Range<u64>| -> Vec<RawLine> {
        range.map(|n| RawLine { ts_ms: n as i64, stream: Stream::Out, bytes: format!("l{n}").into_bytes() }).collect()
    };
    let mut st = support::fixtures::state(80, 24);
    let run = RunRef::local(3);
    let live = |st: &mut flightdeck::app::state::State, range: std::ops::Range<u64>| {
        update(st, Action::Run(RunEvent::Log { run: RunRef::local(3), job: "live".into(), lines: raw(range) }));
    };
    let window = |st: &mut flightdeck::app::state::State, from: u64, to: u64, total: u64| {
        let w = LogWindow { lines: raw(from..to), total, sections: None };
        update(st, Action::LogWindowLoaded { request: None, run: RunRef::local(3), job: "live".into(), from, result: Ok(w) });
    };
    let text = |st: &flightdeck::app::state::State, n: u64| st.run(&run).unwrap().logs["live"].line(n).map(|l| l.text.to_string());
    live(&mut st, 0..10);
    // The disk is ahead of the live stream: the next live lines it already has are not added again.
    window(&mut st, 5, 12, 12);
    live(&mut st, 10..15);
    assert_eq!((text(&st, 11), text(&st, 12), text(&st, 14)), (Some("l11".into()), Some("l12".into()), Some("l14".into())));
    assert_eq!(st.run(&run).unwrap().logs["live"].end_line(), 15);
    // A window read while following that ends before the live lines held is not taken.
    window(&mut st, 8, 13, 13);
    assert_eq!(text(&st, 14), Some("l14".into()));
    // The view went up the log: live lines are counted, not put after the window.
    st.log.follow = false;
    window(&mut st, 0, 3, 15);
    live(&mut st, 15..17);
    let log = &st.run(&run).unwrap().logs["live"];
    assert_eq!((log.store.end_seq(), log.end_line()), (3, 17));
    // Back at the end, the window behind the live stream, which then goes on.
    st.log.follow = true;
    window(&mut st, 10, 16, 16);
    live(&mut st, 17..18);
    assert_eq!(text(&st, 15), Some("l15".into()));
    assert_eq!(st.run(&run).unwrap().logs["live"].end_line(), 18);
    window(&mut st, 10, 18, 18);
    live(&mut st, 18..20);
    assert_eq!((text(&st, 17), text(&st, 19)), (Some("l17".into()), Some("l19".into())));
}
