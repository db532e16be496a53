//! The log view's part of the state: a job's log as held (all of it, its latest lines, or a
//! window of a long log on disk), the search, the filtered view, and where the view is.

use std::collections::{BTreeMap, BTreeSet};

use crate::logstore::sections::{Folded, Sections};
use crate::logstore::{LogStore, StoredLine};

#[derive(Clone, Debug)]
pub struct JobLog {
    /// The lines held: all of a short log, the latest of a live one, or a window of a long one
    /// (numbered as lines of the whole log).
    pub store: LogStore,
    /// Loaded from the log file of a finished job (live lines are not expected).
    pub from_disk: bool,
    /// The whole log on disk, when the store holds only part of it: the view reads the rest.
    pub file: Option<LogFileView>,
    /// Its foldable sections, and the version of them read from disk (0: none read).
    pub sections: Sections,
    pub sections_version: u64,
    /// Headers of the sections folded.
    pub folded: BTreeSet<u64>,
    /// Lines on screen that the window does not hold (either side of a long folded section).
    pub extra: BTreeMap<u64, StoredLine>,
    /// Lines of the live stream received so far: the number of the next live line.
    pub live_end: u64,
    /// The sections are being read from disk.
    pub sections_loading: bool,
}

/// A log whose whole text is on disk, seen through a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFileView {
    /// Lines in the whole log, as last known.
    pub total: u64,
    /// The first line of the window being read now: one is asked for at a time.
    pub loading: Option<u64>,
}

impl JobLog {
    pub fn new(caps: crate::config::LogSettings) -> JobLog {
        JobLog::with_store(LogStore::new(caps.max_lines, caps.max_bytes))
    }

    /// A log whose stream so far is what `store` holds.
    pub fn with_store(store: LogStore) -> JobLog {
        JobLog {
            live_end: store.end_seq(),
            store,
            from_disk: false,
            file: None,
            sections: Sections::default(),
            sections_version: 0,
            folded: BTreeSet::new(),
            extra: BTreeMap::new(),
            sections_loading: false,
        }
    }

    /// Pushes a line that follows the last one, noting a section marker.
    pub fn push_raw(&mut self, ts_ms: i64, stream: crate::logstore::Stream, raw: &[u8]) {
        self.sections.observe(self.store.end_seq(), raw);
        self.store.push_raw(ts_ms, stream, raw);
    }

    /// The log as shown, with its folded sections.
    pub fn folds(&self) -> Folded<'_> {
        Folded { sections: &self.sections, folded: &self.folded, end: self.end_line() }
    }

    /// A line's text: from the window, or read for the screen.
    pub fn line(&self, seq: u64) -> Option<&StoredLine> {
        self.store.get(seq).or_else(|| self.extra.get(&seq))
    }

    /// Sections read from disk, when newer than those known. Ignored when the live lines have
    /// gone past what was read (the next read brings them).
    pub fn take_sections(&mut self, version: u64, sections: Sections) {
        // The version is kept either way: it is asked for again only when it changes.
        self.sections_version = version;
        if sections.upto() >= self.sections.upto() {
            self.sections = sections;
            let sections = &self.sections;
            self.folded.retain(|l| sections.starting_at(*l).is_some());
        }
    }

    /// The first line the view may show.
    pub fn first_line(&self) -> u64 {
        if self.file.is_some() { 0 } else { self.store.first_seq() }
    }

    /// One past the last line of the log.
    pub fn end_line(&self) -> u64 {
        self.file.as_ref().map_or(self.store.end_seq(), |f| f.total.max(self.store.end_seq())).max(self.live_end)
    }

    /// Whether the store holds the end of the log, so that live lines belong in it.
    pub fn at_end(&self) -> bool {
        self.store.end_seq() >= self.end_line()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Search {
    pub query: String,
    pub matches: Vec<u64>,
    /// Index into `matches` of the current one.
    pub current: Option<usize>,
    /// A search of the whole log on disk under way: its request, and bytes scanned of how many.
    pub running: Option<(u64, u64, u64)>,
    /// More lines matched than are kept.
    pub truncated: bool,
}

/// The log filtered to the lines its search matches, like `grep -n`: a cursor over the matches,
/// and the text of those on screen.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// Index into the search's matches of the selected one.
    pub cursor: usize,
    /// Index of the first one shown.
    pub top: usize,
    /// Text of matched lines read from disk (only those near the screen are kept).
    pub lines: std::collections::BTreeMap<u64, crate::logstore::StoredLine>,
    /// Lines asked for and not arrived yet.
    pub loading: bool,
}

#[derive(Clone, Debug)]
pub struct LogView {
    pub follow: bool,
    /// Sequence number of the top line when not following.
    pub top: u64,
    pub hscroll: usize,
    pub wrap: bool,
    pub timestamps: bool,
    /// Lines that arrived while not following.
    pub new_lines: u64,
    pub search: Option<Search>,
    /// Showing only the lines the search matches.
    pub filter: Option<LogFilter>,
    /// One end of the lines `y` copies (the other is the current line).
    pub mark: Option<u64>,
}

impl Default for LogView {
    fn default() -> Self {
        LogView { follow: true, top: 0, hscroll: 0, wrap: false, timestamps: false, new_lines: 0, search: None, filter: None, mark: None }
    }
}
