//! A hostile job: cursor movement, screen clearing, window title and clipboard sequences, a 10 MB
//! line and invalid UTF-8. The screen must stay intact and the stored log must keep every byte.

mod support;

use std::time::Duration;

use flightdeck::domain::RunStatus;
use support::cockpit::Cockpit;

const TEN_MB: usize = 10 * 1024 * 1024;

fn config() -> String {
    // printf with octal escapes keeps the script itself plain ASCII.
    r#"
[[pipelines.evil.stages]]
name = "evil"
run = '''
printf 'before\n'
printf '\033[2J\033[H\033[10;10Hmoved \033]0;pwned title\007 \033]52;c;c2VjcmV0\033\\ clip\n'
printf '\033[31mred is fine\033[0m \033[?1049l\033[?25l hidden?\n'
printf 'bad utf8: \377\376 end\n'
head -c 10485760 /dev/zero | tr '\000' 'x'
printf '\n'
printf 'after\n'
'''
"#
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_output_cannot_touch_the_terminal_and_nothing_is_lost() {
    let mut c = Cockpit::new(&config(), 120, 40);
    c.until("history loaded", Duration::from_secs(10), |s| s.runs_loaded).await;
    c.press(":run evil<enter>y");
    c.until("the run finished", Duration::from_secs(60), |s| {
        s.run(&flightdeck::domain::RunRef::local(1)).is_some_and(|r| r.record.status.is_terminal())
    })
    .await;
    assert_eq!(c.state.run(&flightdeck::domain::RunRef::local(1)).unwrap().record.status, RunStatus::Success);
    c.press("<enter><enter>");
    c.until("the log is complete", Duration::from_secs(10), |s| s.current_log().is_some_and(|l| l.store.iter_text().any(|t| t == "after")))
        .await;

    // In memory: only SGR colour sequences survive.
    let log = c.state.current_log().unwrap();
    // The echoed command (meta lines) quotes the script literally; the output lines must be clean.
    for text in log.store.iter().filter(|l| l.stream != flightdeck::logstore::Stream::Meta).map(|l| &*l.text) {
        let mut rest = text;
        while let Some(i) = rest.find('\u{1b}') {
            let seq = &rest[i..];
            let end = seq.find('m').expect("only SGR may remain");
            assert!(seq[2..end].chars().all(|ch| ch.is_ascii_digit() || ch == ';'), "non-SGR escape kept: {seq:?}");
            rest = &seq[end + 1..];
        }
        assert!(!text.contains('\u{7}') && !text.contains("]0;") && !text.contains("]52;"), "{text:?}");
    }
    assert!(log.store.iter_text().any(|t| t.contains("moved") && t.contains("clip")));
    assert!(log.store.iter_text().any(|t| t.contains("bad utf8: \u{fffd}\u{fffd} end")));
    let long = log.store.iter_text().find(|t| t.starts_with("xxxx")).expect("the long line is there, shortened");
    assert!(long.len() < 64 * 1024, "display copy is bounded");
    assert!(long.contains("more bytes not shown"));

    // On screen: the frame is intact (header, borders, footer) with the hostile lines in view.
    c.press("g");
    let screen = c.screen();
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(rows.len(), 40);
    assert!(rows[0].contains("flightdeck"), "{screen}");
    assert!(rows[39].contains("follow"), "footer: {screen}");
    assert!(screen.contains("moved") && screen.contains("red is fine"), "{screen}");
    assert!(!screen.contains('\u{1b}'), "no escape character reaches a cell");
    let moved_row = rows.iter().find(|r| r.contains("moved") && !r.contains("printf")).expect("output row");
    assert!(!moved_row.contains("pwned title") && !moved_row.contains("c2VjcmV0"), "{screen}");

    // On disk: every byte, including the 10 MB line and the raw escapes.
    let runner = &c.runner;
    let rec = runner.store().load(&flightdeck::domain::RunRef::local(1)).unwrap();
    let lines = runner.store().read_log(&rec, "evil").unwrap();
    let out: Vec<&[u8]> = lines.iter().filter(|l| l.stream != flightdeck::logstore::Stream::Meta).map(|l| l.bytes.as_slice()).collect();
    assert_eq!(out[0], b"before");
    assert_eq!(out[1], b"\x1b[2J\x1b[H\x1b[10;10Hmoved \x1b]0;pwned title\x07 \x1b]52;c;c2VjcmV0\x1b\\ clip");
    assert_eq!(out[3], b"bad utf8: \xff\xfe end");
    assert_eq!(out[4].len(), TEN_MB);
    assert!(out[4].iter().all(|b| *b == b'x'));
    assert_eq!(out[5], b"after");
}
