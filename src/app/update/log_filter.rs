//! The log filtered to the lines its search matches, with their numbers (like `grep -n`); Enter
//! shows the selected one in context. The text of matches the store does not hold is read from
//! the log on disk, only for those on screen.

use super::*;
use crate::app::state::LogFilter;
use crate::logstore::RawLine;

/// `F`: the filtered view of the current search, or back to the whole log.
pub(crate) fn toggle_filter(state: &mut State) -> Vec<Effect> {
    if state.log.filter.take().is_some() {
        return Vec::new();
    }
    match &state.log.search {
        Some(s) if !s.matches.is_empty() || s.running.is_some() => {
            let cursor = s.current.unwrap_or(0);
            state.log.filter = Some(LogFilter { cursor, top: cursor, ..Default::default() });
            ensure_filter_lines(state).into_iter().collect()
        }
        Some(s) => {
            let q = s.query.clone();
            state.toast_info(format!("no line matches `{q}`: nothing to filter"));
            Vec::new()
        }
        None => {
            state.toast_info("search first (/), then F shows only the matching lines");
            Vec::new()
        }
    }
}

/// Up, down, a page, the first or the last match.
pub(crate) fn filter_move(state: &mut State, cmd: Command) -> Vec<Effect> {
    let rows = (layout::log_rows(state) as usize).max(1);
    let count = state.log.search.as_ref().map_or(0, |s| s.matches.len());
    let Some(f) = state.log.filter.as_mut() else { return Vec::new() };
    if count == 0 {
        return Vec::new();
    }
    f.cursor = match cmd {
        Command::Up => f.cursor.saturating_sub(1),
        Command::Down => f.cursor + 1,
        Command::PageUp => f.cursor.saturating_sub(rows - 1),
        Command::PageDown => f.cursor + rows - 1,
        Command::Top => 0,
        Command::Bottom => count - 1,
        _ => f.cursor,
    }
    .min(count - 1);
    if f.cursor < f.top {
        f.top = f.cursor;
    } else if f.cursor >= f.top + rows {
        f.top = f.cursor + 1 - rows;
    }
    ensure_filter_lines(state).into_iter().collect()
}

/// Enter: the selected match in the whole log, in context.
pub(crate) fn filter_open(state: &mut State) -> Vec<Effect> {
    let Some(f) = state.log.filter.take() else { return Vec::new() };
    if let Some(s) = state.log.search.as_mut()
        && let Some(line) = s.matches.get(f.cursor).copied()
    {
        s.current = Some(f.cursor);
        jump_to(state, line);
    }
    Vec::new()
}

/// The matches on screen whose text is neither held by the store nor read yet are asked for.
pub(crate) fn ensure_filter_lines(state: &mut State) -> Option<Effect> {
    let rows = layout::log_rows(state) as usize;
    let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
    let matches: Vec<u64> = {
        let s = state.log.search.as_ref()?;
        let f = state.log.filter.as_ref()?;
        s.matches.iter().skip(f.top).take(rows).copied().collect()
    };
    let log = state.current_log()?;
    let f = state.log.filter.as_ref()?;
    if f.loading {
        return None;
    }
    let missing: Vec<u64> = matches.into_iter().filter(|l| log.store.get(*l).is_none() && !f.lines.contains_key(l)).collect();
    if missing.is_empty() || log.file.is_none() {
        return None;
    }
    state.log.filter.as_mut()?.loading = true;
    Some(Effect::LoadLogLines { run, job, lines: missing, for_filter: true })
}

/// Text of matched lines, read from disk.
pub(crate) fn filter_lines_loaded(state: &mut State, lines: Vec<(u64, RawLine)>) {
    let rows = layout::log_rows(state) as usize;
    let visible: std::collections::BTreeSet<u64> = match (&state.log.search, &state.log.filter) {
        (Some(s), Some(f)) => s.matches.iter().skip(f.top).take(rows).copied().collect(),
        _ => return,
    };
    let Some(f) = state.log.filter.as_mut() else { return };
    f.loading = false;
    for (n, l) in lines {
        f.lines.insert(n, crate::logstore::StoredLine::from_raw(&l));
    }
    // Only the lines near the screen are kept: past a few screens' worth, those not shown go.
    if f.lines.len() > 4 * rows.max(50) {
        f.lines.retain(|n, _| visible.contains(n));
    }
    state.dirty = true;
}
