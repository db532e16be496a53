use std::collections::VecDeque;

use super::Stream;
use super::sanitize::{sanitize_line, strip_sgr};

/// Memory accounted per line on top of its text (timestamp, stream, boxed slice header).
const LINE_OVERHEAD: usize = 32;

#[derive(Clone, Debug)]
pub struct StoredLine {
    pub ts_ms: i64,
    pub stream: Stream,
    /// Sanitised text; may contain SGR colour sequences and nothing else.
    pub text: Box<str>,
}

impl StoredLine {
    /// A line as captured, sanitised for display.
    pub fn from_raw(line: &super::RawLine) -> StoredLine {
        StoredLine { ts_ms: line.ts_ms, stream: line.stream, text: sanitize_line(&line.bytes).into_boxed_str() }
    }
}

/// Ring buffer of sanitised lines addressed by a monotonically increasing sequence number, so that
/// positions held by the view (scroll top, search matches) stay valid while old lines are evicted.
#[derive(Clone, Debug)]
pub struct LogStore {
    lines: VecDeque<StoredLine>,
    first_seq: u64,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl LogStore {
    pub fn new(max_lines: usize, max_bytes: usize) -> Self {
        LogStore { lines: VecDeque::new(), first_seq: 0, bytes: 0, max_lines: max_lines.max(1), max_bytes: max_bytes.max(1) }
    }

    /// An empty store whose first line will be line `first` of the log (a window of a long log).
    pub fn starting_at(max_lines: usize, max_bytes: usize, first: u64) -> Self {
        LogStore { first_seq: first, ..LogStore::new(max_lines, max_bytes) }
    }

    pub fn push_raw(&mut self, ts_ms: i64, stream: Stream, raw: &[u8]) {
        let text = sanitize_line(raw).into_boxed_str();
        self.push(StoredLine { ts_ms, stream, text });
    }

    pub fn push(&mut self, line: StoredLine) {
        self.bytes += line.text.len() + LINE_OVERHEAD;
        self.lines.push_back(line);
        while self.lines.len() > self.max_lines || (self.bytes > self.max_bytes && self.lines.len() > 1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.text.len() + LINE_OVERHEAD;
                self.first_seq += 1;
            }
        }
    }

    /// Sequence number of the oldest line still held.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
    /// One past the newest line's sequence number.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }
    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    /// Lines evicted because of the caps.
    pub fn evicted(&self) -> u64 {
        self.first_seq
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The held lines, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &StoredLine> {
        self.lines.iter()
    }

    /// The held lines' text, oldest first.
    pub fn iter_text(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|l| &*l.text)
    }

    pub fn get(&self, seq: u64) -> Option<&StoredLine> {
        let idx = seq.checked_sub(self.first_seq)?;
        self.lines.get(usize::try_from(idx).ok()?)
    }

    /// Clamps a sequence number into the held range.
    pub fn clamp(&self, seq: u64) -> u64 {
        seq.clamp(self.first_seq, self.end_seq().saturating_sub(1).max(self.first_seq))
    }

    /// Sequence numbers of lines containing `needle` (smart case: case-insensitive unless the
    /// needle has an upper-case letter), searched in the visible text without colour codes.
    pub fn find_all(&self, needle: &str) -> Vec<u64> {
        if needle.is_empty() {
            return Vec::new();
        }
        let matcher = Matcher::new(needle);
        self.lines.iter().enumerate().filter(|(_, l)| matcher.is_match(&l.text)).map(|(i, _)| self.first_seq + i as u64).collect()
    }

    /// The first line that looks like an error, from `from` onwards.
    pub fn first_error(&self, from: u64) -> Option<u64> {
        let start = from.saturating_sub(self.first_seq) as usize;
        self.lines.iter().enumerate().skip(start).find(|(_, l)| looks_like_error(&l.text)).map(|(i, _)| self.first_seq + i as u64)
    }
}

/// Case handling shared by search and highlighting.
pub struct Matcher {
    needle: String,
    insensitive: bool,
}

impl Matcher {
    pub fn new(needle: &str) -> Self {
        let insensitive = !needle.chars().any(char::is_uppercase);
        Matcher { needle: if insensitive { needle.to_lowercase() } else { needle.to_string() }, insensitive }
    }
    pub fn is_match(&self, text: &str) -> bool {
        let plain = strip_sgr(text);
        if self.insensitive {
            if plain.is_ascii() && self.needle.is_ascii() {
                return contains_ascii_nocase(plain.as_bytes(), self.needle.as_bytes());
            }
            plain.to_lowercase().contains(&self.needle)
        } else {
            plain.contains(&self.needle)
        }
    }
}

fn contains_ascii_nocase(hay: &[u8], needle: &[u8]) -> bool {
    if needle.len() > hay.len() {
        return false;
    }
    hay.windows(needle.len()).any(|w| w.iter().zip(needle).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// Heuristic used by "jump to first error": common error words as whole words, any case.
pub fn looks_like_error(text: &str) -> bool {
    let plain = strip_sgr(text);
    plain.split(|c: char| !c.is_alphanumeric()).any(|w| {
        matches!(w.to_ascii_lowercase().as_str(), "error" | "errors" | "fatal" | "failed" | "failure" | "panic" | "panicked" | "exception")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_by_lines_and_keeps_sequence_numbers() {
        let mut s = LogStore::new(3, 1 << 20);
        for i in 0..5 {
            s.push_raw(i, Stream::Out, format!("line {i}").as_bytes());
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.first_seq(), 2);
        assert_eq!(s.end_seq(), 5);
        assert_eq!(&*s.get(4).unwrap().text, "line 4");
        assert!(s.get(1).is_none());
    }

    #[test]
    fn evicts_by_bytes() {
        let mut s = LogStore::new(1000, 200);
        for i in 0..50 {
            s.push_raw(i, Stream::Out, b"0123456789012345678901234567890123456789");
        }
        assert!(s.bytes() <= 200);
        assert!(!s.is_empty());
    }

    #[test]
    fn search_is_smart_case_and_ignores_colour() {
        let mut s = LogStore::new(10, 1 << 20);
        s.push_raw(0, Stream::Out, b"\x1b[31mERR\x1b[0mOR here");
        s.push_raw(0, Stream::Out, b"all good");
        s.push_raw(0, Stream::Err, b"Error: boom");
        assert_eq!(s.find_all("error"), vec![0, 2]);
        assert_eq!(s.find_all("Error"), vec![2]);
        assert_eq!(s.first_error(0), Some(0));
        assert_eq!(s.first_error(1), Some(2));
    }
}
