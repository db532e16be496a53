//! Test results in JUnit XML, as Jest (jest-junit), pytest, Maven Surefire and TestNG, Go's
//! go-junit-report, Cypress (mocha-junit-reporter) and most other runners write it: a
//! `<testsuites>` or a lone `<testsuite>`, nested or not. Counted from the test cases themselves
//! (the totals a suite declares are kept beside, to be compared); a failure keeps its message,
//! where it happened and an excerpt of its output. Surefire's reruns count: a test that failed and
//! then passed (`flakyFailure`, `flakyError`) is flaky, not failed.
//!
//! Read with quick-xml, which expands no external entities and reads as it goes.

use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

use super::ParsedReport;
use crate::findings::detect::Format;
use crate::logstore::sanitize::excerpt;

/// The most failures kept with their detail (the counts are always whole).
const FAILURES_KEPT: usize = 500;
/// The most of a failure's text kept.
const DETAIL_CHARS: usize = 4000;
/// Deeper nesting than this is not a test report.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSummary {
    pub suites: usize,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
    /// Failed, then passed when run again.
    pub flaky: usize,
    /// The totals the report itself declares (its root, else the sum of its top suites).
    pub declared: Option<Declared>,
    /// The failed and errored tests (the first `FAILURES_KEPT`).
    pub failed: Vec<TestFailure>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    pub suite: String,
    pub name: String,
    pub classname: String,
    /// `failure` (an assertion) or `error` (it could not run).
    pub kind: String,
    pub message: String,
    /// `file:line` when the report or the stack trace says where.
    pub location: Option<String>,
    /// The start of its output (stack trace, captured text).
    pub detail: String,
}

impl TestSummary {
    /// Whether anything failed or errored (flaky tests passed in the end).
    pub fn failing(&self) -> usize {
        self.failures + self.errors
    }

    /// `118 tests: 2 failed, 1 error, 3 skipped, 1 flaky`.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [(self.failures, "failed"), (self.errors, "errors"), (self.skipped, "skipped"), (self.flaky, "flaky")] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() { format!("{} tests, all passed", self.tests) } else { format!("{} tests: {}", self.tests, parts.join(", ")) }
    }
}

#[derive(Default)]
struct Case {
    name: String,
    classname: String,
    file: Option<String>,
    line: Option<String>,
    /// (kind, message, text) of a failure or error inside it.
    outcome: Option<(String, String, String)>,
    skipped: bool,
    flaky: bool,
}

/// An attribute's value, its entities resolved (shared by the XML report readers).
pub(super) fn attr(e: &BytesStart, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

fn count(e: &BytesStart, key: &str) -> usize {
    attr(e, key).and_then(|v| v.trim().parse::<f64>().ok()).filter(|n| *n >= 0.0).map(|n| n as usize).unwrap_or(0)
}

fn declared_of(e: &BytesStart) -> Option<Declared> {
    attr(e, "tests")?;
    Some(Declared { tests: count(e, "tests"), failures: count(e, "failures"), errors: count(e, "errors"), skipped: count(e, "skipped") })
}

pub fn parse(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let text_of = std::str::from_utf8(bytes).map_err(|e| format!("the test report is not UTF-8: {e}"))?;
    let mut reader = quick_xml::Reader::from_str(text_of);
    reader.config_mut().trim_text(false);
    let mut summary = TestSummary::default();
    let mut suites: Vec<String> = Vec::new();
    let mut case: Option<Case> = None;
    // The element whose text is being read (a failure's output), and that text.
    let mut reading: Option<(String, String)> = None;
    let mut text = String::new();
    let (mut root_declared, mut top_declared): (Option<Declared>, Option<Declared>) = (None, None);
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!("the test report is not well-formed XML at byte {}: {}", reader.buffer_position(), excerpt(&e.to_string(), 200))
        })?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                match name.as_str() {
                    "testsuites" if !seen_root => {
                        seen_root = true;
                        root_declared = declared_of(&e);
                    }
                    "testsuite" => {
                        seen_root = true;
                        if suites.len() >= MAX_DEPTH {
                            return Err(format!("test suites nested more than {MAX_DEPTH} deep: not a test report"));
                        }
                        if suites.is_empty()
                            && let Some(d) = declared_of(&e)
                        {
                            let t = top_declared.get_or_insert_with(Declared::default);
                            // A declared total is the report's word, not a size: sums saturate.
                            t.tests = t.tests.saturating_add(d.tests);
                            t.failures = t.failures.saturating_add(d.failures);
                            t.errors = t.errors.saturating_add(d.errors);
                            t.skipped = t.skipped.saturating_add(d.skipped);
                        }
                        summary.suites += 1;
                        if !empty {
                            suites.push(attr(&e, "name").unwrap_or_default());
                        }
                    }
                    "testcase" => {
                        let c = Case {
                            name: attr(&e, "name").unwrap_or_default(),
                            classname: attr(&e, "classname").unwrap_or_default(),
                            file: attr(&e, "file"),
                            line: attr(&e, "line"),
                            ..Case::default()
                        };
                        if empty {
                            finish(&mut summary, c, suites.last());
                        } else {
                            case = Some(c);
                        }
                    }
                    kind @ ("failure" | "error" | "skipped" | "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError") => {
                        let Some(c) = case.as_mut() else { continue };
                        let kind = kind.to_string();
                        match kind.as_str() {
                            "skipped" => c.skipped = true,
                            "flakyFailure" | "flakyError" => c.flaky = true,
                            _ if c.outcome.is_none() => {
                                let plain =
                                    if kind.starts_with("rerun") { kind.trim_start_matches("rerun").to_lowercase() } else { kind.clone() };
                                let message = attr(&e, "message").or_else(|| attr(&e, "type")).unwrap_or_default();
                                c.outcome = Some((plain, message, String::new()));
                                if !empty {
                                    reading = Some((kind, String::new()));
                                    text.clear();
                                }
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if reading.is_some() && text.len() < DETAIL_CHARS => {
                text.push_str(&t.xml10_content());
            }
            Event::CData(t) if reading.is_some() && text.len() < DETAIL_CHARS => {
                text.push_str(&t.into_inner());
            }
            Event::GeneralRef(r) if reading.is_some() && text.len() < DETAIL_CHARS => {
                // An entity between pieces of text (`&lt;`): its character, when it is one.
                let resolved = r
                    .resolve_char_ref()
                    .ok()
                    .flatten()
                    .map(|c| c.to_string())
                    .or_else(|| quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).map(str::to_string));
                text.push_str(&resolved.unwrap_or_default());
            }
            Event::End(e) => match e.local_name().as_ref() {
                "testsuite" => {
                    suites.pop();
                }
                "testcase" => {
                    if let Some(c) = case.take() {
                        finish(&mut summary, c, suites.last());
                    }
                }
                "failure" | "error" | "rerunFailure" | "rerunError" if reading.is_some() => {
                    if let (Some(c), Some(_)) = (case.as_mut(), reading.take())
                        && let Some(outcome) = c.outcome.as_mut()
                    {
                        outcome.2 = text.chars().take(DETAIL_CHARS).collect();
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err("no <testsuites> or <testsuite>: not a JUnit XML test report".into());
    }
    summary.declared = root_declared.or(top_declared);
    Ok(ParsedReport { tool: "junit".into(), tests: Some(summary), ..ParsedReport::empty(shown_as, Format::JUnit) })
}

/// One test case read: counted, and kept when it failed.
fn finish(summary: &mut TestSummary, c: Case, suite: Option<&String>) {
    summary.tests += 1;
    if c.flaky && c.outcome.is_none() {
        summary.flaky += 1;
        return;
    }
    match c.outcome {
        Some((kind, message, detail)) => {
            if kind == "error" {
                summary.errors += 1;
            } else {
                summary.failures += 1;
            }
            if summary.failed.len() < FAILURES_KEPT {
                let location = match (&c.file, &c.line) {
                    (Some(f), Some(l)) => Some(format!("{f}:{l}")),
                    (Some(f), None) => Some(f.clone()),
                    // The frame in the test's own class, else the first.
                    _ => {
                        let own = c.classname.rsplit('.').next().unwrap_or_default();
                        frame(&detail, own).or_else(|| frame(&message, own))
                    }
                };
                // go-junit-report says only "Failed": the test's own words are the first line of
                // its output, after `file_test.go:12: `.
                let message = if message.is_empty() || message == "Failed" {
                    let first = detail.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
                    let words = first.split_once(": ").filter(|(head, _)| path_line(head).is_some()).map_or(first, |(_, w)| w);
                    if words.is_empty() { message } else { words.to_string() }
                } else {
                    message
                };
                // Names come from the report: they reach verdicts, toasts and the command line
                // as plain text.
                summary.failed.push(TestFailure {
                    suite: excerpt(suite.map(String::as_str).unwrap_or_default(), 300),
                    name: excerpt(&c.name, 300),
                    classname: excerpt(&c.classname, 300),
                    kind,
                    message: excerpt(&message, 500),
                    location: location.map(|l| excerpt(&l, 300)),
                    detail,
                });
            }
        }
        None if c.skipped => summary.skipped += 1,
        None => {}
    }
}

/// Where a stack trace says it failed: `(path:line:col)` (JavaScript, Java), `File "p", line N`
/// (Python), or `path:line: Error` (pytest's short form) — the first frame whose file is named
/// like `own` (the test's class), else the first.
fn frame(text: &str, own: &str) -> Option<String> {
    let frames: Vec<String> = text.lines().map(str::trim).take(200).filter_map(frame_of).collect();
    let stem = |f: &String| f.rsplit(['/', '\\']).next().unwrap_or_default().split('.').next().unwrap_or_default().to_string();
    frames.iter().find(|f| !own.is_empty() && stem(f) == own).or(frames.first()).cloned()
}

fn frame_of(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix("File \"")
        && let Some((path, after)) = rest.split_once('"')
        && let Some(n) = after.trim_start_matches(',').trim().strip_prefix("line ")
    {
        let n: String = n.chars().take_while(char::is_ascii_digit).collect();
        return Some(format!("{path}:{n}"));
    }
    if let (Some(open), Some(close)) = (line.rfind('('), line.rfind(')'))
        && open < close
        && let Some(place) = path_line(&line[open + 1..close])
    {
        return Some(place);
    }
    line.split_once(": ").and_then(|(head, _)| path_line(head))
}

/// `path:line` or `path:line:col` with a real-looking path.
fn path_line(s: &str) -> Option<String> {
    let mut parts = s.rsplitn(3, ':');
    let last = parts.next()?;
    let middle = parts.next()?;
    let (path, line) = match parts.next() {
        Some(p) if middle.chars().all(|c| c.is_ascii_digit()) && last.chars().all(|c| c.is_ascii_digit()) => (p, middle),
        _ if last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty() => (s.rsplit_once(':')?.0, last),
        _ => return None,
    };
    let looks_like_file = path.contains('.') && !path.contains(' ') && !path.is_empty();
    (looks_like_file && !line.is_empty()).then(|| format!("{path}:{line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_report_reach_the_terminal_plain() {
        let xml = "<testsuite name=\"s\x1b]0;pwn\x07\"><testcase name=\"t\x1b[2J\" classname=\"c\x1b[31m\" file=\"f\x1b[1m.py\" line=\"3\"><failure message=\"m\x1b[0m\"/></testcase></testsuite>";
        let r = parse(xml.as_bytes(), "r.xml").unwrap();
        let f = &r.tests.unwrap().failed[0];
        for text in [&f.suite, &f.name, &f.classname, &f.message, f.location.as_ref().unwrap()] {
            assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        }
    }

    #[test]
    fn stack_frames_name_where_a_test_failed() {
        assert_eq!(frame("Error\n    at Object.<anonymous> (src/a.test.js:10:21)", "").as_deref(), Some("src/a.test.js:10"));
        assert_eq!(frame("Traceback:\n  File \"tests/t.py\", line 12, in test_x", "").as_deref(), Some("tests/t.py:12"));
        assert_eq!(frame("def t():\n>  assert False\n\ntests/test_lib.py:25: AssertionError", "").as_deref(), Some("tests/test_lib.py:25"));
        let java = "at org.testng.Assert.fail(Assert.java:99)\nat org.A.b(AddMissingPatchVersionTest.java:29)";
        assert_eq!(frame(java, "AddMissingPatchVersionTest").as_deref(), Some("AddMissingPatchVersionTest.java:29"));
        assert_eq!(frame(java, "Other").as_deref(), Some("Assert.java:99"));
        assert_eq!(frame("expected 1 but found 2", ""), None);
    }
}
