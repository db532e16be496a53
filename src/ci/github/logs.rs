//! A GitHub Actions job log as log lines: each line's timestamp taken from GitHub's prefix, group
//! markers kept (the view folds what they enclose), error or warning annotations (`##[error]`,
//! `::error::`) marked as such.

use crate::logstore::{RawLine, Stream};

/// The lines of a job's log as GitHub serves it (`2026-11-29T10:00:00.1234567Z text`).
pub fn parse(text: &[u8]) -> Vec<RawLine> {
    let mut parser = Parser::default();
    let mut out = Vec::new();
    parser.feed(text, &mut out);
    parser.finish(&mut out);
    out
}

/// The same, a piece at a time (a log downloaded straight to disk): lines split across pieces
/// are joined.
#[derive(Default)]
pub struct Parser {
    last_ms: i64,
    carry: Vec<u8>,
}

impl Parser {
    pub fn feed(&mut self, piece: &[u8], out: &mut Vec<RawLine>) {
        let Some(last_nl) = memchr::memrchr(b'\n', piece) else {
            self.carry.extend_from_slice(piece);
            return;
        };
        let whole: &[u8] = if self.carry.is_empty() {
            &piece[..last_nl]
        } else {
            self.carry.extend_from_slice(&piece[..last_nl]);
            &self.carry
        };
        let mut last_ms = self.last_ms;
        for raw in whole.split(|b| *b == b'\n') {
            if let Some(line) = one_line(raw, &mut last_ms) {
                out.push(line);
            }
        }
        self.last_ms = last_ms;
        self.carry = piece[last_nl + 1..].to_vec();
    }

    /// The last line, when the log does not end with a newline.
    pub fn finish(&mut self, out: &mut Vec<RawLine>) {
        let rest = std::mem::take(&mut self.carry);
        if let Some(line) = one_line(&rest, &mut self.last_ms) {
            out.push(line);
        }
    }
}

fn one_line(raw: &[u8], last_ms: &mut i64) -> Option<RawLine> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
    if raw.is_empty() {
        return None;
    }
    let (ts_ms, rest) = split_time(raw).unwrap_or((*last_ms, raw));
    *last_ms = ts_ms;
    let (stream, bytes) = classify(rest);
    Some(RawLine { ts_ms, stream, bytes })
}

fn split_time(line: &[u8]) -> Option<(i64, &[u8])> {
    let space = line.iter().position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&line[..space]).ok()?;
    let t: jiff::Timestamp = stamp.parse().ok()?;
    Some((t.as_millisecond(), &line[space + 1..]))
}

/// Which stream a line is shown as, and its text.
fn classify(line: &[u8]) -> (Stream, Vec<u8>) {
    let with = |prefix: &str, rest: &[u8]| {
        let mut v = prefix.as_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    };
    if line.starts_with(b"##[group]") || line.starts_with(b"##[endgroup]") {
        return (Stream::Meta, line.to_vec());
    }
    for (marker, label) in [(&b"##[error]"[..], "error: "), (b"##[warning]", "warning: "), (b"##[notice]", "notice: ")] {
        if let Some(rest) = line.strip_prefix(marker) {
            return (Stream::Err, with(label, rest));
        }
    }
    // Workflow commands a step printed: `::error file=app.js,line=1::Missing semicolon`.
    for (command, label) in [(&b"::error"[..], "error: "), (b"::warning", "warning: ")] {
        if let Some(rest) = line.strip_prefix(command)
            && let Some(end) = find(rest, b"::")
            && matches!(rest.first(), Some(b' ' | b':'))
        {
            let params = String::from_utf8_lossy(&rest[..end]).trim().to_string();
            let message = &rest[end + 2..];
            let mut v = label.as_bytes().to_vec();
            v.extend_from_slice(message);
            if !params.is_empty() {
                v.extend_from_slice(format!(" ({params})").as_bytes());
            }
            return (Stream::Err, v);
        }
    }
    (Stream::Out, line.to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_fed_in_pieces_reads_as_the_whole() {
        let log = "\u{feff}2026-11-29T10:00:00.1234567Z ##[group]Run npm test\r\n2026-11-29T10:00:01.0000000Z > jest\nno stamp\n2026-11-29T10:00:02.0000000Z last, no newline";
        let whole = parse(log.as_bytes());
        for size in [1, 2, 3, 7, 64] {
            let (mut parser, mut out) = (Parser::default(), Vec::new());
            for piece in log.as_bytes().chunks(size) {
                parser.feed(piece, &mut out);
            }
            parser.finish(&mut out);
            assert_eq!(out, whole, "pieces of {size} bytes");
        }
        assert_eq!(whole.len(), 4);
    }

    #[test]
    fn timestamps_groups_and_annotations() {
        let log = "\u{feff}2026-11-29T10:00:00.1234567Z ##[group]Run npm test\r\n2026-11-29T10:00:01.0000000Z > jest\n2026-11-29T10:00:02.0000000Z ##[endgroup]\n2026-11-29T10:00:03.5000000Z ::error file=app.js,line=3::Missing semicolon\n2026-11-29T10:00:04.0000000Z ##[error]Process completed with exit code 1.\nno stamp\n";
        let lines = parse(log.as_bytes());
        let text: Vec<(Stream, String)> = lines.iter().map(|l| (l.stream, String::from_utf8_lossy(&l.bytes).into_owned())).collect();
        assert_eq!(
            text,
            [
                (Stream::Meta, "##[group]Run npm test".to_string()),
                (Stream::Out, "> jest".to_string()),
                (Stream::Meta, "##[endgroup]".to_string()),
                (Stream::Err, "error: Missing semicolon (file=app.js,line=3)".to_string()),
                (Stream::Err, "error: Process completed with exit code 1.".to_string()),
                (Stream::Out, "no stamp".to_string()),
            ]
        );
        assert_eq!(lines[0].ts_ms, "2026-11-29T10:00:00.123Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        assert_eq!(lines[5].ts_ms, lines[4].ts_ms, "a line without a stamp keeps the last one");
    }
}
