//! The log view: scrolling, following, search.

use super::*;

pub(crate) fn reset_log_view(state: &mut State) {
    let (wrap, timestamps) = (state.log.wrap, state.log.timestamps);
    state.log = Default::default();
    state.log.wrap = wrap;
    state.log.timestamps = timestamps;
    state.pending_log = None;
}

/// The lines `e` looks for in a long log: the words `looks_like_error` looks for, whole.
pub const ERROR_SEARCH: &str = r"re:\b(error|errors|fatal|failed|failure|panic|panicked|exception)\b";

/// How many lines of a long log are held around what is shown.
pub const WINDOW: usize = 2_000;
/// The most matches a search of the whole log keeps (line numbers: 8 bytes each).
pub const MAX_MATCHES: usize = 2_000_000;

pub(crate) fn scroll_up(state: &mut State, n: u64) {
    let top = current_top(state);
    let Some(log) = state.current_log() else { return };
    state.log.top = log.folds().up(top, n).max(log.first_line());
    state.log.follow = false;
}

pub(crate) fn scroll_down(state: &mut State, n: u64) {
    if state.log.follow {
        return;
    }
    let Some(log) = state.current_log() else {
        return;
    };
    let rows = layout::log_rows(state) as usize;
    let folds = log.folds();
    let bottom_top = folds.top_for_end(rows).max(log.first_line());
    let top = folds.down(current_top(state), n);
    if top >= bottom_top {
        state.log.follow = true;
        state.log.new_lines = 0;
    } else {
        state.log.top = top;
    }
}

pub(crate) fn jump_to(state: &mut State, seq: u64) {
    reveal(state, seq);
    let rows = layout::log_rows(state) as u64;
    state.log.follow = false;
    let Some(log) = state.current_log() else { return };
    state.log.top = log.folds().up(seq, rows / 3).max(log.first_line());
}

/// The lines of a long log the view needs and the store does not hold are read from disk: one
/// window at a time, around what is shown.
pub(crate) fn ensure_window(state: &mut State) -> Option<Effect> {
    let rows = layout::log_rows(state) as usize;
    let top = current_top(state);
    let follow = state.log.follow;
    let needed = screen_lines(state, top, rows);
    let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
    let log = state.run_mut(&run)?.logs.get_mut(&job)?;
    let end = log.end_line();
    let sections = log.sections_version;
    let missing: Vec<u64> = needed.iter().copied().filter(|l| log.line(*l).is_none()).collect();
    let file = log.file.as_mut()?;
    if file.loading.is_some() || end == 0 {
        return None;
    }
    let behind = follow && log.store.end_seq() < end;
    if missing.is_empty() && !behind {
        return None;
    }
    // What one window must hold: the lines on screen, and when following, the end.
    let lo = needed.first().copied().unwrap_or(top).min(top);
    let hi = if follow { end } else { needed.last().map_or(top, |l| l + 1) };
    if hi - lo <= WINDOW as u64 {
        let from = if follow { end.saturating_sub(WINDOW as u64) } else { lo.saturating_sub((WINDOW as u64 - (hi - lo)) / 2) };
        file.loading = Some(from);
        return Some(Effect::LoadLogWindow { run, job, from, count: WINDOW, sections });
    }
    // Either side of a folded section longer than a window: the lines on screen, on their own.
    if missing.is_empty() {
        return None;
    }
    file.loading = Some(lo);
    Some(Effect::LoadLogLines { run, job, lines: missing, for_filter: false })
}

/// A window of a long log, read from disk: it replaces what the store held.
pub(crate) fn window_loaded(state: &mut State, run: &RunRef, job: &str, from: u64, result: Result<crate::app::action::LogWindow, String>) {
    let caps = state.log_caps;
    let following = state.log.follow;
    let Some(view) = state.run_mut(run) else { return };
    let finished = view.record.job(job).is_some_and(|j| j.status.is_terminal());
    let log = view.logs.entry(job.to_string()).or_insert_with(|| JobLog::new(caps));
    match result {
        // The live lines held reach further than this window, read while following: they stay
        // (a file written after its lines were sent lags behind them).
        Ok(window) if following && log.store.end_seq() >= log.live_end && from + (window.lines.len() as u64) < log.store.end_seq() => {
            let live = !finished && log.live_end > 0;
            if let Some(f) = log.file.as_mut() {
                f.loading = None;
                if !live {
                    f.total = f.total.max(window.total);
                }
            }
            if let Some(s) = window.sections {
                let (version, sections) = *s;
                log.take_sections(version, sections);
            }
        }
        Ok(window) => {
            let mut store = LogStore::starting_at(caps.max_lines, caps.max_bytes, from);
            for l in &window.lines {
                store.push_raw(l.ts_ms, l.stream, &l.bytes);
            }
            log.store = store;
            log.extra.clear();
            log.from_disk |= finished;
            // While the job runs, its live lines say where the log ends: a file read ahead of them
            // would send the view chasing the disk instead of following the stream.
            let read_to = from + window.lines.len() as u64;
            let total = if !finished && log.live_end > 0 { window.total.min(read_to.max(log.live_end)) } else { window.total.max(read_to) };
            log.file = Some(LogFileView { total, loading: None });
            if let Some(s) = window.sections {
                let (version, sections) = *s;
                log.take_sections(version, sections);
            }
        }
        Err(e) => {
            // Not on disk (a provider that keeps no file): the view keeps what it holds.
            if let Some(f) = log.file.as_mut() {
                f.loading = None;
            }
            if log.store.is_empty() || log.store.first_seq() > 0 {
                log.file = None;
            }
            state.toast_error(format!("cannot read the log of `{job}`: {e}"));
        }
    }
    state.dirty = true;
}

pub(crate) fn search(state: &mut State, query: &str) -> Vec<Effect> {
    if let Some(Search { running: Some((request, ..)), .. }) = state.log.search {
        state.log.search = None;
        return [Effect::CancelSearch { request }].into_iter().chain(search(state, query)).collect();
    }
    if query.is_empty() {
        state.log.search = None;
        return Vec::new();
    }
    let top = current_top(state);
    let Some(log) = state.current_log() else {
        let why = if state.pending_log.is_some() {
            "the log is still being read; search again in a moment"
        } else {
            "no log to search; select a job first"
        };
        state.toast_error(why);
        return Vec::new();
    };
    let (regex, text) = match query.strip_prefix("re:") {
        Some(r) => (true, r.to_string()),
        None => (false, query.to_string()),
    };
    // The whole log is on disk: it is searched there, off the UI, and the matches come in.
    if log.file.is_some() {
        if regex && let Err(e) = crate::logstore::index::Pattern::regex(&text) {
            state.toast_error(format!("not a regular expression: {e}"));
            return Vec::new();
        }
        let (run, job) = match (state.current_run(), state.current_job()) {
            (Some(r), Some(j)) => (r.record.id.clone(), j.key.clone()),
            _ => return Vec::new(),
        };
        let request = state.request_id();
        state.log.search =
            Some(Search { query: query.to_string(), matches: Vec::new(), current: None, running: Some((request, 0, 0)), truncated: false });
        let _ = top;
        return vec![Effect::SearchLog { request, run, job, query: text, regex }];
    }
    let matches = if regex {
        match crate::logstore::index::Pattern::regex(&text) {
            Ok(p) => log
                .store
                .iter()
                .enumerate()
                .filter(|(_, l)| p.is_match_text(&l.text))
                .map(|(i, _)| log.store.first_seq() + i as u64)
                .collect(),
            Err(e) => {
                state.toast_error(format!("not a regular expression: {e}"));
                return Vec::new();
            }
        }
    } else {
        log.store.find_all(&text)
    };
    let current = matches.iter().position(|m| *m >= top).or(if matches.is_empty() { None } else { Some(0) });
    let target = current.map(|i| matches[i]);
    if matches.is_empty() {
        state.toast_info(format!("no line matches `{query}`"));
    }
    state.log.search = Some(Search { query: query.to_string(), matches, current, running: None, truncated: false });
    if let Some(seq) = target {
        jump_to(state, seq);
    }
    Vec::new()
}

/// Matches of a search of the whole log: the first one at or below the view is jumped to.
pub(crate) fn search_found(state: &mut State, request: u64, hits: Vec<u64>, scanned: u64, of: u64, done: bool) {
    let top = current_top(state);
    let Some(s) = state.log.search.as_mut().filter(|s| s.running.is_some_and(|(r, ..)| r == request)) else { return };
    let room = MAX_MATCHES.saturating_sub(s.matches.len());
    s.truncated |= hits.len() > room;
    s.matches.extend(hits.into_iter().take(room));
    s.running = if done { None } else { Some((request, scanned, of)) };
    let mut jump = None;
    if s.current.is_none()
        && let Some(i) = s.matches.iter().position(|m| *m >= top).or(if done && !s.matches.is_empty() { Some(0) } else { None })
    {
        s.current = Some(i);
        jump = Some(s.matches[i]);
    }
    let (empty, query) = (s.matches.is_empty(), s.query.clone());
    if done && empty {
        state.toast_info(format!("no line matches `{query}`"));
    }
    if let Some(seq) = jump {
        jump_to(state, seq);
    }
    state.dirty = true;
}

pub(crate) fn step_match(state: &mut State, forward: bool) {
    let Some(s) = state.log.search.as_mut() else {
        state.toast_info("no search yet: press / in the log to search");
        return;
    };
    if s.matches.is_empty() {
        let q = s.query.clone();
        state.toast_info(format!("no line matches `{q}`"));
        return;
    }
    let n = s.matches.len();
    let next = match (s.current, forward) {
        (None, _) => 0,
        (Some(i), true) => (i + 1) % n,
        (Some(i), false) => (i + n - 1) % n,
    };
    s.current = Some(next);
    let seq = s.matches[next];
    jump_to(state, seq);
}

/// `:time T`: the first line at or after T. T is a time of day in UTC on the day of the log's
/// first line held, or an RFC 3339 timestamp.
pub(crate) fn jump_to_time(state: &mut State, text: &str) -> Option<Effect> {
    let Some(log) = state.current_log() else {
        state.toast_error("no log to move in; select a job first");
        return None;
    };
    let day = log.store.iter().next().and_then(|l| jiff::Timestamp::from_millisecond(l.ts_ms).ok()).unwrap_or(state.now);
    let at = match parse_time(text, day) {
        Ok(t) => t.as_millisecond(),
        Err(e) => {
            state.toast_error(e);
            return None;
        }
    };
    if log.file.is_some() {
        let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
        return Some(Effect::FindLogTime { run, job, ts_ms: at });
    }
    let found = log.store.iter().position(|l| l.ts_ms >= at).map(|i| log.store.first_seq() + i as u64);
    match found {
        Some(line) => jump_to(state, line),
        None => state.toast_info(format!("no line at or after {text}")),
    }
    None
}

fn parse_time(text: &str, day: jiff::Timestamp) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let time: jiff::civil::Time =
        text.parse().map_err(|_| format!("`{text}` is not a time (e.g. 14:02, 14:02:30, or 2026-11-29T14:02:30Z)"))?;
    let date = day.to_zoned(jiff::tz::TimeZone::UTC).date();
    date.to_datetime(time).to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string())
}

/// The most lines `y` copies at once: terminals limit what a clipboard request may carry.
pub const COPY_LINES: u64 = 5_000;
const COPY_BYTES: usize = 512 * 1024;

/// `m`: the current line is one end of what `y` copies (pressed again on it: no mark).
pub(crate) fn mark_line(state: &mut State) {
    let line = current_line(state);
    if state.log.mark.take() == Some(line) {
        state.toast_info("mark removed");
        return;
    }
    state.log.mark = Some(line);
    let y = state.keymap.label(Command::LogCopy).unwrap_or_default();
    state.toast_info(format!("line {} marked: move, then {y} copies from it to the current line", line + 1));
}

/// `y`: the current line — or the lines from the mark to it — as shown (sanitised, without
/// colours), to the user's clipboard. Lines the view does not hold are read from disk first.
pub(crate) fn copy_lines(state: &mut State) -> Option<Effect> {
    let line = current_line(state);
    let (from, to) = match state.log.mark {
        Some(m) => (m.min(line), m.max(line)),
        None => (line, line),
    };
    let count = to - from + 1;
    if count > COPY_LINES {
        let v = state.keymap.label(Command::LogPager).unwrap_or_default();
        state.toast_error(format!("{count} lines are more than a clipboard takes ({COPY_LINES} at most); {v} opens the log in your pager"));
        return None;
    }
    let log = state.current_log()?;
    let held: Option<Vec<String>> =
        (from..=to).map(|l| log.line(l).map(|l| crate::logstore::sanitize::strip_sgr(&l.text).into_owned())).collect();
    match held {
        Some(lines) => copied(state, from, lines),
        None if log.file.is_some() => {
            let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
            Some(Effect::ReadLogForCopy { run, job, from, count: count as usize })
        }
        None => {
            state.toast_info("those lines are no longer held; open the log in your pager to copy them");
            None
        }
    }
}

/// Lines read for `y`: to the clipboard.
pub(crate) fn copied(state: &mut State, from: u64, lines: Vec<String>) -> Option<Effect> {
    state.log.mark = None;
    let text = lines.join("\n");
    if text.len() > COPY_BYTES {
        state.toast_error(format!("{} are more than a clipboard takes (512 KiB at most)", crate::util::format_bytes(text.len() as u64)));
        return None;
    }
    let what = match lines.len() {
        0 => {
            state.toast_info("nothing to copy there");
            return None;
        }
        1 => format!("line {}", from + 1),
        n => format!("lines {}–{}", from + 1, from + n as u64),
    };
    state.toast_info(format!("{what} copied to your clipboard"));
    Some(Effect::Clipboard(text))
}

/// `v`/`V`: the log in the user's pager or editor, at the current line (the terminal is handed
/// over, and taken back when it ends).
pub(crate) fn open_outside(state: &mut State, editor: bool) -> Option<Effect> {
    let line = current_line(state) + 1;
    let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
    state.toast_info(if editor { "opening the log in your editor…" } else { "opening the log in your pager…" });
    Some(Effect::OpenLog { run, job, line, editor })
}
