//! A job's whole log on disk, behind a sparse line index: the byte offset of every 256th line, so
//! any line of any log is a seek and a short read away, and memory does not grow with the log
//! (8 bytes per 256 lines: about 0.03 % of a log of 100-byte lines). The index follows the file
//! as it grows, and starts again when the file is truncated or replaced under it.
//!
//! Lines are in the job log format (`<ms> <o|e|m> <bytes>\n`, see `ci::local::store`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::sections::{Candidates, MAX_SECTIONS, Sections, marker};
use super::{RawLine, Stream};

/// A checkpoint every this many lines.
pub const EVERY: u64 = 256;
/// The most of one line that is kept when it is read for display or matching (the rest is
/// skipped, not stored: a log may hold a line of a gigabyte).
pub const LINE_CAP: usize = 64 * 1024;
/// How much is read at a time.
const CHUNK: usize = 1 << 20;

/// What happened to the file since the last look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Nothing new.
    Same,
    /// This many complete lines were appended.
    Grew(u64),
    /// Truncated, or replaced by another file (rotated): indexed again from the start.
    Replaced,
}

pub struct LogFile {
    path: PathBuf,
    file: File,
    /// Device and inode of the open file: a path now naming another file was rotated.
    identity: (u64, u64),
    /// Byte offset of line `k * EVERY`.
    checkpoints: Vec<u64>,
    /// Complete lines indexed.
    lines: u64,
    /// Bytes indexed: the offset just after the last complete line.
    indexed: u64,
    /// Where section markers may be, and the sections found in the lines they name.
    candidates: Candidates,
    /// Lines where a marker may be, with the offset each starts at.
    marker_lines: Vec<(u64, u64)>,
    /// The line being indexed holds a candidate (found before its newline was read).
    pending_marker: bool,
    /// Marker lines parsed into `sections` so far.
    parsed: usize,
    sections: Sections,
    /// Changes whenever `sections` does (unique across files: a reader compares it with the one
    /// it has).
    sections_version: u64,
}

/// Source of section versions.
static SECTIONS_VERSION: AtomicU64 = AtomicU64::new(1);

impl LogFile {
    pub fn open(path: &Path) -> io::Result<LogFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
        }
        let mut log = LogFile {
            path: path.to_path_buf(),
            file,
            identity: (meta.dev(), meta.ino()),
            checkpoints: vec![0],
            lines: 0,
            indexed: 0,
            candidates: Candidates::default(),
            marker_lines: Vec::new(),
            pending_marker: false,
            parsed: 0,
            sections: Sections::default(),
            sections_version: SECTIONS_VERSION.fetch_add(1, Ordering::Relaxed),
        };
        log.index_to_end()?;
        Ok(log)
    }

    /// Complete lines in the log (a line still being written is not counted until it ends).
    pub fn len(&self) -> u64 {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Bytes of the log indexed.
    pub fn bytes(&self) -> u64 {
        self.indexed
    }

    /// Memory the index takes.
    pub fn index_bytes(&self) -> usize {
        self.checkpoints.capacity() * std::mem::size_of::<u64>()
    }

    /// Looks at the file again: what was appended is indexed; a file truncated or replaced is
    /// indexed again from the start.
    pub fn refresh(&mut self) -> io::Result<Refresh> {
        let replaced = match std::fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()) != self.identity || m.len() < self.indexed,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false, // deleted: what is open stays readable
            Err(e) => return Err(e),
        };
        if replaced {
            let fresh = LogFile::open(&self.path)?;
            *self = fresh;
            return Ok(Refresh::Replaced);
        }
        let before = self.lines;
        self.index_to_end()?;
        Ok(if self.lines > before { Refresh::Grew(self.lines - before) } else { Refresh::Same })
    }

    fn index_to_end(&mut self) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(self.indexed))?;
        let mut buf = vec![0u8; CHUNK];
        let mut at = self.indexed;
        let mut found = Vec::new();
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.candidates.find(&buf[..n], &mut found);
            let mut next = found.iter().copied().peekable();
            for nl in memchr::memchr_iter(b'\n', &buf[..n]) {
                while next.next_if(|&c| c < nl).is_some() {
                    self.pending_marker = true;
                }
                if std::mem::take(&mut self.pending_marker) && self.marker_lines.len() < 2 * MAX_SECTIONS {
                    self.marker_lines.push((self.lines, self.indexed));
                }
                self.lines += 1;
                self.indexed = at + nl as u64 + 1;
                if self.lines.is_multiple_of(EVERY) {
                    self.checkpoints.push(self.indexed);
                }
            }
            // A candidate in the unfinished line counts when its newline comes.
            self.pending_marker |= next.next().is_some();
            at += n as u64;
        }
        // The unfinished line is read again from its start next time.
        self.pending_marker = false;
        self.candidates.reset();
        self.parse_markers()
    }

    /// Reads the marker lines found since the last look, and takes their sections.
    fn parse_markers(&mut self) -> io::Result<()> {
        if self.parsed < self.marker_lines.len() {
            let mut buf = Vec::new();
            let mut at = At::new(&self.file, 0)?;
            for &(line, offset) in &self.marker_lines[self.parsed..] {
                at.pos = offset;
                let mut reader = BufReader::with_capacity(4096, &mut at);
                read_line_capped(&mut reader, &mut buf, LINE_CAP)?;
                if let Some(m) = marker(&decode(&buf).bytes) {
                    self.sections.observe_marker(line, m);
                }
            }
            self.parsed = self.marker_lines.len();
            self.sections_version = SECTIONS_VERSION.fetch_add(1, Ordering::Relaxed);
        }
        self.sections.read_to(self.lines);
        Ok(())
    }

    /// The log's sections as indexed now, and their version (which changes when they do).
    pub fn sections(&self) -> (&Sections, u64) {
        (&self.sections, self.sections_version)
    }

    /// A reader positioned at the start of line `line` (which must be ≤ len()).
    fn reader_at(&self, line: u64) -> io::Result<BufReader<At>> {
        let checkpoint = (line / EVERY) as usize;
        let f = At::new(&self.file, self.checkpoints[checkpoint.min(self.checkpoints.len() - 1)])?;
        let mut reader = BufReader::with_capacity(64 * 1024, f);
        let mut skip = line - checkpoint as u64 * EVERY;
        let mut sink = Vec::new();
        while skip > 0 {
            if read_line_capped(&mut reader, &mut sink, 0)? == 0 {
                break;
            }
            skip -= 1;
        }
        Ok(reader)
    }

    /// Lines `[from, from + count)`, decoded (each line's text at most `LINE_CAP` bytes).
    pub fn read(&self, from: u64, count: usize) -> io::Result<Vec<RawLine>> {
        let from = from.min(self.lines);
        let count = count.min((self.lines - from) as usize);
        let mut reader = self.reader_at(from)?;
        let mut out = Vec::with_capacity(count);
        let mut line = Vec::new();
        for _ in 0..count {
            if read_line_capped(&mut reader, &mut line, LINE_CAP)? == 0 {
                break;
            }
            out.push(decode(&line));
        }
        Ok(out)
    }

    /// The first line stamped at or after `ts_ms` (len() when none is): the checkpoints are
    /// bisected by their first line's stamp, then the lines after the last one before `ts_ms`
    /// are read. Job logs are stamped as they are written, so stamps do not go back.
    pub fn first_at_or_after(&self, ts_ms: i64) -> io::Result<u64> {
        let stamp_of = |line: u64| -> io::Result<i64> { Ok(self.read(line, 1)?.first().map_or(i64::MAX, |l| l.ts_ms)) };
        let (mut lo, mut hi) = (0usize, self.checkpoints.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let line = mid as u64 * EVERY;
            if line < self.lines && stamp_of(line)? < ts_ms { lo = mid + 1 } else { hi = mid }
        }
        let mut line = (lo.saturating_sub(1) as u64) * EVERY;
        let mut reader = self.reader_at(line)?;
        let mut buf = Vec::new();
        while line < self.lines {
            if read_line_capped(&mut reader, &mut buf, 64)? == 0 || decode(&buf).ts_ms >= ts_ms {
                break;
            }
            line += 1;
        }
        Ok(line)
    }

    /// Finds the lines that `pattern` matches, from the start of the log to its end as indexed
    /// now; `found` gets them in order, in batches, with the bytes scanned so far. Stops early,
    /// returning false, when `cancel` is set.
    pub fn search(&self, pattern: &Pattern, cancel: &AtomicBool, found: &mut dyn FnMut(&[u64], u64)) -> io::Result<bool> {
        self.snapshot()?.search(pattern, cancel, found)
    }

    /// The log as indexed now, to search without holding the index (which keeps following the
    /// file meanwhile).
    pub fn snapshot(&self) -> io::Result<Snapshot> {
        Ok(Snapshot { file: self.file.try_clone()?, end: self.indexed })
    }
}

/// A log's file and its length at one moment: what a search goes through.
pub struct Snapshot {
    file: File,
    end: u64,
}

impl Snapshot {
    pub fn bytes(&self) -> u64 {
        self.end
    }

    /// See [`LogFile::search`].
    pub fn search(&self, pattern: &Pattern, cancel: &AtomicBool, found: &mut dyn FnMut(&[u64], u64)) -> io::Result<bool> {
        let mut f = At::new(&self.file, 0)?;
        let end = self.end;
        let mut buf = vec![0u8; CHUNK + LINE_CAP];
        let mut carry = 0usize; // bytes of an unfinished line kept from the previous chunk
        let mut at = 0u64; // file offset of buf[0]
        let mut line_no = 0u64; // line number of the first line starting in buf
        let mut hits = Vec::new();
        while at + (carry as u64) < end {
            if cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let want = (CHUNK.min(buf.len() - carry) as u64).min(end - at - carry as u64) as usize;
            let n = read_full(&mut f, &mut buf[carry..carry + want])?;
            if n == 0 {
                break;
            }
            let filled = carry + n;
            // Only whole lines are searched; the unfinished tail is carried over.
            let Some(last_nl) = memchr::memrchr(b'\n', &buf[..filled]) else {
                // One line longer than the buffer: judge its first part, skip the rest.
                hits.clear();
                if pattern.is_match_line(&buf[..filled.min(LINE_CAP)]) {
                    hits.push(line_no);
                }
                let skipped = skip_to_newline(&mut f)?;
                at += filled as u64 + skipped;
                line_no += 1;
                carry = 0;
                found(&hits, at);
                continue;
            };
            let whole = &buf[..=last_nl];
            hits.clear();
            pattern.find_lines(whole, line_no, &mut hits);
            line_no += memchr::memchr_iter(b'\n', whole).count() as u64;
            let consumed = last_nl + 1;
            buf.copy_within(consumed..filled, 0);
            carry = filled - consumed;
            at += consumed as u64;
            found(&hits, at);
        }
        Ok(true)
    }
}

/// A search: a literal (case-insensitive unless it has a capital letter, like the rest of the
/// view) or a regular expression, matched against each line's text without its colour codes.
pub struct Pattern {
    regex: regex::bytes::Regex,
    /// A regular expression may be anchored or match the line's prefix: it is matched line by
    /// line. A literal is looked for in whole chunks, then checked in its line.
    per_line: bool,
}

impl Pattern {
    pub fn literal(text: &str) -> Pattern {
        let insensitive = !text.chars().any(char::is_uppercase);
        let regex = regex::bytes::RegexBuilder::new(&regex::escape(text))
            .case_insensitive(insensitive)
            .unicode(false)
            .build()
            .unwrap_or_else(|_| regex::bytes::Regex::new("$^").expect("a pattern that matches nothing compiles"));
        Pattern { regex, per_line: false }
    }

    /// A regular expression (smart case as for literals); the error says what is wrong with it.
    pub fn regex(text: &str) -> Result<Pattern, String> {
        let insensitive = !text.chars().any(char::is_uppercase);
        regex::bytes::RegexBuilder::new(text)
            .case_insensitive(insensitive)
            .size_limit(1 << 22)
            .build()
            .map(|regex| Pattern { regex, per_line: true })
            .map_err(|e| crate::logstore::sanitize::plain(&e.to_string()))
    }

    /// Whether a line's text as shown (sanitised, colour codes allowed) matches.
    pub fn is_match_text(&self, text: &str) -> bool {
        self.regex.is_match(super::sanitize::strip_sgr(text).as_bytes())
    }

    /// Whether one encoded line (`<ms> <s> <text>`, with or without its newline) matches.
    pub fn is_match_line(&self, line: &[u8]) -> bool {
        let text = text_of(line);
        if memchr::memchr(0x1b, text).is_some() {
            return self.regex.is_match(&strip_escapes(text));
        }
        self.regex.is_match(text)
    }

    /// The numbers of the lines of `chunk` (whole lines, the first numbered `first`) that match.
    /// The chunk is searched as a whole, so a rare match costs one pass of the regex engine over
    /// the bytes; each candidate is then checked against its own line's text (a match in the
    /// timestamp or across a line break does not count).
    fn find_lines(&self, chunk: &[u8], first: u64, hits: &mut Vec<u64>) {
        if self.per_line {
            let mut start = 0usize;
            for (n, nl) in memchr::memchr_iter(b'\n', chunk).enumerate() {
                if self.is_match_line(&chunk[start..nl.min(start + LINE_CAP)]) {
                    hits.push(first + n as u64);
                }
                start = nl + 1;
            }
            return;
        }
        let mut line_start = 0usize;
        let mut line_no = first;
        let mut pos = 0usize;
        while pos < chunk.len() {
            let Some(m) = self.regex.find_at(chunk, pos) else { break };
            // Advance to the line holding the match's start.
            let start = m.start();
            line_no += memchr::memchr_iter(b'\n', &chunk[line_start..start]).count() as u64;
            line_start = memchr::memrchr(b'\n', &chunk[..start]).map_or(0, |i| i + 1);
            let line_end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i);
            if self.is_match_line(&chunk[line_start..line_end.min(line_start + LINE_CAP)]) {
                hits.push(line_no);
            }
            // Next line.
            pos = line_end + 1;
            line_start = pos;
            line_no += 1;
        }
        // Lines with colour codes can match only once those are removed: look at each.
        let mut esc_from = 0usize;
        let mut esc_line = first;
        let mut counted_to = 0usize;
        while let Some(i) = memchr::memchr(0x1b, &chunk[esc_from..]).map(|i| esc_from + i) {
            let ls = memchr::memrchr(b'\n', &chunk[..i]).map_or(0, |p| p + 1);
            let le = memchr::memchr(b'\n', &chunk[i..]).map_or(chunk.len(), |p| i + p);
            esc_line += memchr::memchr_iter(b'\n', &chunk[counted_to..ls]).count() as u64;
            counted_to = ls;
            if let Err(at) = hits.binary_search(&esc_line)
                && self.is_match_line(&chunk[ls..le.min(ls + LINE_CAP)])
            {
                hits.insert(at, esc_line);
            }
            esc_from = le + 1;
        }
    }
}

/// The text of an encoded line: after the timestamp and the stream letter.
fn text_of(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut spaces = memchr::memchr_iter(b' ', line);
    match (spaces.next(), spaces.next()) {
        (Some(_), Some(second)) => &line[second + 1..],
        _ => &[],
    }
}

/// The bytes without ANSI escape sequences (as the view shows them, colour aside).
fn strip_escapes(text: &[u8]) -> Vec<u8> {
    let lossy = String::from_utf8_lossy(text);
    super::sanitize::strip_sgr(&super::sanitize::sanitize_line(lossy.as_bytes())).into_owned().into_bytes()
}

/// Decodes one line of the job log format.
pub fn decode(line: &[u8]) -> RawLine {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = body.splitn(3, |&b| b == b' ');
    let ts_ms = parts.next().and_then(|t| std::str::from_utf8(t).ok()).and_then(|t| t.parse().ok()).unwrap_or(0);
    let stream = parts.next().and_then(|s| s.first().copied()).map(Stream::from_code).unwrap_or(Stream::Out);
    RawLine { ts_ms, stream, bytes: parts.next().unwrap_or(&[]).to_vec() }
}

/// Reads one line into `line`, keeping at most `cap` bytes of it; returns the bytes consumed
/// (0 at the end). A line without its newline yet (being written) is read as it is.
pub fn read_line_capped<R: BufRead>(reader: &mut R, line: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    line.clear();
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&available[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Skips to just after the next newline; returns the bytes skipped.
fn skip_to_newline(f: &mut At) -> io::Result<u64> {
    let mut buf = [0u8; 64 * 1024];
    let mut skipped = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(skipped);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            f.pos -= (n - i - 1) as u64;
            return Ok(skipped + i as u64 + 1);
        }
        skipped += n as u64;
    }
}

/// A reader of the log's file at its own position (positional reads): readers of the same file
/// at once — a search, a window, the index — never move each other (a cloned descriptor would
/// share one offset, and a search would count lines from the wrong place).
pub struct At {
    file: File,
    pos: u64,
}

impl At {
    fn new(file: &File, pos: u64) -> io::Result<At> {
        Ok(At { file: file.try_clone()?, pos })
    }
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
