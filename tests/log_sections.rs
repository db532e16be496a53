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
    c.until("both sections known from the log on disk", LIMIT, |s| s.current_log().is_some_and(|l| l.sections.len() == 2)).await;
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
    assert!(screen(&c.state).contains("AFTER-BIG"));

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
