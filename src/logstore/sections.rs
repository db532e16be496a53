//! Sections of a log that fold: the groups CI systems mark in their output. Recognised on the raw
//! bytes of a line (a GitLab marker sits before a carriage return, which the display drops), after
//! any leading escape sequences (markers are often coloured or preceded by an erase-line):
//! - GitHub Actions: `##[group]Title` … `##[endgroup]`, and the `::group::Title` … `::endgroup::`
//!   workflow commands a script prints;
//! - GitLab CI: `section_start:<time>:<name>[options]\r\e[0KTitle` … `section_end:<time>:<name>`;
//! - Travis CI: `travis_fold:start:<name>` … `travis_fold:end:<name>`.
//!
//! Sections nest (GitLab's do); a GitHub group started while another is open ends that one, as
//! GitHub's own viewer does.

use std::collections::BTreeSet;

use super::sanitize::plain_line;

/// The most sections remembered for one log (a section costs about 48 bytes).
pub const MAX_SECTIONS: usize = 200_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A section starts; `name` pairs it with its end where the format names sections.
    Start {
        title: String,
        name: Option<String>,
        nests: bool,
    },
    End {
        name: Option<String>,
    },
}

/// The section marker a line is, if it is one.
pub fn marker(raw: &[u8]) -> Option<Marker> {
    let text = skip_escapes(raw);
    let title_of = |rest: &[u8]| plain_line(rest).trim().to_string();
    if let Some(rest) = text.strip_prefix(b"##[group]").or_else(|| text.strip_prefix(b"::group::")) {
        return Some(Marker::Start { title: title_of(rest), name: None, nests: false });
    }
    if text.starts_with(b"##[endgroup]") || text.starts_with(b"::endgroup::") {
        return Some(Marker::End { name: None });
    }
    if let Some(rest) = text.strip_prefix(b"section_start:") {
        let name = field_after_time(rest)?;
        let name = name.split(|b| *b == b'[').next().unwrap_or(name);
        let name = String::from_utf8_lossy(name).into_owned();
        // The title is what a terminal shows: the text after the marker's carriage return.
        let shown = title_of(text);
        let title = if shown.is_empty() || shown.starts_with("section_start:") { name.clone() } else { shown };
        return Some(Marker::Start { title, name: Some(name), nests: true });
    }
    if let Some(rest) = text.strip_prefix(b"section_end:") {
        let name = field_after_time(rest)?;
        return Some(Marker::End { name: Some(String::from_utf8_lossy(name).into_owned()) });
    }
    if let Some(rest) = text.strip_prefix(b"travis_fold:start:") {
        let name = String::from_utf8_lossy(until_control(rest)).into_owned();
        return Some(Marker::Start { title: name.clone(), name: Some(name), nests: true });
    }
    if let Some(rest) = text.strip_prefix(b"travis_fold:end:") {
        return Some(Marker::End { name: Some(String::from_utf8_lossy(until_control(rest)).into_owned()) });
    }
    None
}

/// Past leading escape sequences (CSI, like `\e[0K` or a colour) and blanks.
fn skip_escapes(mut s: &[u8]) -> &[u8] {
    loop {
        match s {
            [0x1b, b'[', rest @ ..] => {
                let end = rest.iter().position(|b| (0x40..=0x7e).contains(b)).map_or(rest.len(), |i| i + 1);
                s = &rest[end..];
            }
            [b' ' | b'\t', rest @ ..] => s = rest,
            _ => return s,
        }
    }
}

/// `<time>:<name>…` → `<name>` up to a control character.
fn field_after_time(rest: &[u8]) -> Option<&[u8]> {
    let colon = rest.iter().position(|b| *b == b':')?;
    let name = until_control(&rest[colon + 1..]);
    (!name.is_empty()).then_some(name)
}

fn until_control(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|b| *b < 0x20 || *b == 0x7f).unwrap_or(s.len());
    &s[..end]
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The marker line that starts it (shown as the section's header).
    pub start: u64,
    /// Its last line (the end marker), or None while it is open.
    pub end: Option<u64>,
    pub title: Box<str>,
    /// How many sections it is inside.
    pub depth: u16,
    name: Option<Box<str>>,
}

/// The sections of one log, in the order they start, found by reading its lines in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sections {
    list: Vec<Section>,
    /// Indices into `list` of the sections open, innermost last.
    open: Vec<usize>,
    /// Lines read so far: the next line expected.
    upto: u64,
    /// More sections started than are remembered.
    pub truncated: bool,
}

impl Sections {
    /// Lines read so far.
    pub fn upto(&self) -> u64 {
        self.upto
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Section> {
        self.list.iter()
    }

    /// Reads line `line`; lines must come in order (one already read is ignored, a gap is
    /// skipped over: sections open across it stay open).
    pub fn observe(&mut self, line: u64, raw: &[u8]) {
        if line < self.upto {
            return;
        }
        self.upto = line + 1;
        match marker(raw) {
            Some(Marker::Start { title, name, nests }) => self.start(line, title, name, nests),
            Some(Marker::End { name }) => self.end(line, name.as_deref()),
            None => {}
        }
    }

    /// A marker line found elsewhere (the index of a log on disk): `line` must not be before the
    /// last one given.
    pub fn observe_marker(&mut self, line: u64, marker: Marker) {
        if line < self.upto {
            return;
        }
        self.upto = line + 1;
        match marker {
            Marker::Start { title, name, nests } => self.start(line, title, name, nests),
            Marker::End { name } => self.end(line, name.as_deref()),
        }
    }

    /// Lines up to `end` have been read (none of them a marker).
    pub fn read_to(&mut self, end: u64) {
        self.upto = self.upto.max(end);
    }

    fn start(&mut self, line: u64, title: String, name: Option<String>, nests: bool) {
        if !nests {
            // A GitHub group ends any group (of its kind) still open.
            while let Some(&i) = self.open.last() {
                if self.list[i].name.is_some() {
                    break;
                }
                self.list[i].end = Some(line.saturating_sub(1).max(self.list[i].start));
                self.open.pop();
            }
        }
        if self.list.len() >= MAX_SECTIONS {
            self.truncated = true;
            return;
        }
        let title = if title.is_empty() { "(untitled section)".to_string() } else { title };
        self.list.push(Section { start: line, end: None, title: title.into(), depth: self.open.len() as u16, name: name.map(Into::into) });
        self.open.push(self.list.len() - 1);
    }

    fn end(&mut self, line: u64, name: Option<&str>) {
        // The innermost open section of that name ends, and any opened inside it and left open.
        let Some(pos) = self.open.iter().rposition(|&i| self.list[i].name.as_deref() == name) else { return };
        for &i in &self.open[pos..] {
            self.list[i].end = Some(line);
        }
        self.open.truncate(pos);
    }

    /// The section that starts at `line`.
    pub fn starting_at(&self, line: u64) -> Option<&Section> {
        self.list.binary_search_by_key(&line, |s| s.start).ok().map(|i| &self.list[i])
    }

    /// Whether `line` is the end marker of a section.
    pub fn ends_at(&self, line: u64) -> bool {
        let i = self.list.partition_point(|s| s.start < line);
        // An end marker closes the innermost section before it; only those up to the depth limit
        // are looked at, newest first.
        self.list[..i].iter().rev().take(64).any(|s| s.end == Some(line))
    }

    /// The innermost section that holds `line` (its header included).
    pub fn containing(&self, line: u64) -> Option<&Section> {
        let i = self.list.partition_point(|s| s.start <= line);
        let mut depth_limit = u16::MAX;
        for s in self.list[..i].iter().rev() {
            if s.depth < depth_limit {
                if s.end.is_none_or(|e| e >= line) {
                    return Some(s);
                }
                depth_limit = s.depth;
                if depth_limit == 0 {
                    return None;
                }
            }
        }
        None
    }
}

/// Which sections are folded, and how the lines of a log look with them folded: a folded
/// section shows its header only.
pub struct Folded<'a> {
    pub sections: &'a Sections,
    pub folded: &'a BTreeSet<u64>,
    /// One past the log's last line.
    pub end: u64,
}

impl Folded<'_> {
    /// The folded section whose header `line` is, if the line is one.
    pub fn folded_at(&self, line: u64) -> Option<&Section> {
        if !self.folded.contains(&line) {
            return None;
        }
        self.sections.starting_at(line)
    }

    /// The line shown after `line`.
    pub fn next(&self, line: u64) -> u64 {
        match self.folded_at(line) {
            Some(s) => s.end.map_or(self.end, |e| e + 1).max(line + 1),
            None => line + 1,
        }
    }

    /// The line shown before `line` (`line` itself when it is the first).
    pub fn prev(&self, line: u64) -> u64 {
        if line == 0 {
            return 0;
        }
        self.shown(line - 1)
    }

    /// `line` if it is shown, else the header of the outermost folded section hiding it.
    pub fn shown(&self, line: u64) -> u64 {
        let mut hidden_by = None;
        for &start in self.folded.range(..line).rev() {
            let Some(s) = self.sections.starting_at(start) else { continue };
            if s.end.is_none_or(|e| e >= line) {
                hidden_by = Some(start);
                if s.depth == 0 {
                    break;
                }
            } else if s.depth == 0 {
                break;
            }
        }
        hidden_by.unwrap_or(line)
    }

    /// The lines shown from `top`, at most `rows` of them.
    pub fn rows_from(&self, top: u64, rows: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(rows);
        let mut line = self.shown(top);
        while out.len() < rows && line < self.end {
            out.push(line);
            line = self.next(line);
        }
        out
    }

    /// The top line that shows the log's last `rows` lines.
    pub fn top_for_end(&self, rows: usize) -> u64 {
        if self.end == 0 {
            return 0;
        }
        let mut line = self.shown(self.end - 1);
        for _ in 1..rows {
            if line == 0 {
                break;
            }
            line = self.prev(line);
        }
        line
    }

    /// `n` lines shown up from `line`.
    pub fn up(&self, line: u64, n: u64) -> u64 {
        let mut line = self.shown(line);
        for _ in 0..n {
            if line == 0 {
                break;
            }
            line = self.prev(line);
        }
        line
    }

    /// `n` lines shown down from `line` (not past the last).
    pub fn down(&self, line: u64, n: u64) -> u64 {
        let mut line = self.shown(line);
        for _ in 0..n {
            let next = self.next(line);
            if next >= self.end {
                break;
            }
            line = next;
        }
        line
    }
}

#[cfg(test)]
#[path = "sections_tests.rs"]
mod tests;

/// Finds, chunk after chunk of a log's bytes, where a section marker may be (a needle found
/// anywhere in a line: the line is then read and parsed). One pass over the bytes for all needles.
pub struct Candidates {
    finder: aho_corasick::AhoCorasick,
    /// The previous chunk's last bytes: a needle may straddle two chunks.
    tail: Vec<u8>,
}

/// Needles that every marker contains.
const NEEDLES: [&str; 3] = ["group", "section_", "travis_fold:"];
const LONGEST: usize = 12;

impl Default for Candidates {
    fn default() -> Self {
        let finder = aho_corasick::AhoCorasick::new(NEEDLES).expect("fixed needles build a searcher");
        Candidates { finder, tail: Vec::new() }
    }
}

impl Candidates {
    /// Offsets in `chunk` of the needles found (a needle begun in the previous chunk at 0), in order.
    pub fn find(&mut self, chunk: &[u8], out: &mut Vec<usize>) {
        out.clear();
        if !self.tail.is_empty() {
            let head = &chunk[..chunk.len().min(LONGEST)];
            let mut joined = std::mem::take(&mut self.tail);
            let split = joined.len();
            joined.extend_from_slice(head);
            if self.finder.find_iter(&joined).any(|m| m.start() < split && m.end() > split) {
                out.push(0);
            }
        }
        out.extend(self.finder.find_iter(chunk).map(|m| m.start()));
        self.tail = chunk[chunk.len().saturating_sub(LONGEST - 1)..].to_vec();
    }

    /// The next chunk does not follow this one.
    pub fn reset(&mut self) {
        self.tail.clear();
    }
}
