//! Folding the sections of a log (`z` one, `Z` all), and the text of lines on screen that the
//! window cannot hold: either side of a folded section longer than the window.

use super::*;
use crate::logstore::RawLine;

/// `z`: folds or unfolds the section the current line is in (else the first one on screen).
pub(crate) fn toggle_fold(state: &mut State) -> Vec<Effect> {
    let line = current_line(state);
    let top = current_top(state);
    let rows = layout::log_rows(state) as usize;
    let Some(log) = state.current_log() else { return Vec::new() };
    let target = match log.sections.containing(line) {
        Some(s) => Some(s.start),
        None => log.folds().rows_from(top, rows).into_iter().find(|l| log.sections.starting_at(*l).is_some()),
    };
    let Some(start) = target else {
        let why = if log.sections.is_empty() {
            "this log marks no sections (##[group], ::group::, section_start:, travis_fold:)"
        } else {
            "no section here: move to a section's header or into it"
        };
        state.toast_info(why);
        return Vec::new();
    };
    let Some(log) = current_log_mut(state) else { return Vec::new() };
    if !log.folded.remove(&start) {
        log.folded.insert(start);
        if !state.log.follow && state.log.top > start {
            state.log.top = start;
        }
    }
    state.dirty = true;
    Vec::new()
}

/// `Z`: unfolds every section when one is folded, else folds them all.
pub(crate) fn toggle_all_folds(state: &mut State) -> Vec<Effect> {
    let Some(log) = current_log_mut(state) else { return Vec::new() };
    if log.sections.is_empty() {
        state.toast_info("this log marks no sections (##[group], ::group::, section_start:, travis_fold:)");
        return Vec::new();
    }
    if log.folded.is_empty() {
        log.folded = log.sections.iter().map(|s| s.start).collect();
    } else {
        log.folded.clear();
    }
    let top = state.log.top;
    if let Some(log) = state.current_log() {
        state.log.top = log.folds().shown(top);
    }
    state.dirty = true;
    Vec::new()
}

/// Unfolds what hides `line`, so that it can be shown.
pub(crate) fn reveal(state: &mut State, line: u64) {
    let Some(log) = current_log_mut(state) else { return };
    loop {
        let header = log.folds().shown(line);
        if header == line || !log.folded.remove(&header) {
            break;
        }
    }
}

/// The lines on screen whose text is needed (section headers and ends are drawn from the
/// sections), none of them held: read on their own when they are too far apart for one window.
pub(crate) fn screen_lines(state: &State, top: u64, rows: usize) -> Vec<u64> {
    let Some(log) = state.current_log() else { return Vec::new() };
    log.folds().rows_from(top, rows).into_iter().filter(|l| log.sections.starting_at(*l).is_none() && !log.sections.ends_at(*l)).collect()
}

/// Text of lines on screen, read from disk.
pub(crate) fn screen_lines_loaded(state: &mut State, run: &RunRef, job: &str, lines: Vec<(u64, RawLine)>) {
    let rows = layout::log_rows(state) as usize;
    let top = current_top(state);
    let shown: std::collections::BTreeSet<u64> = screen_lines(state, top, rows).into_iter().collect();
    let Some(log) = state.run_mut(run).and_then(|v| v.logs.get_mut(job)) else { return };
    if let Some(f) = log.file.as_mut() {
        f.loading = None;
    }
    for (n, l) in lines {
        log.extra.insert(n, crate::logstore::StoredLine::from_raw(&l));
    }
    if log.extra.len() > 4 * rows.max(50) {
        log.extra.retain(|n, _| shown.contains(n));
    }
    state.dirty = true;
}

fn current_log_mut(state: &mut State) -> Option<&mut JobLog> {
    let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
    state.run_mut(&run)?.logs.get_mut(&job)
}

/// The sections of a log on disk not read yet (a log followed from near its end, or opened while
/// its job ran) are asked for, apart from any window.
pub(crate) fn ensure_sections(state: &mut State) -> Option<Effect> {
    let (run, job) = (state.current_run()?.record.id.clone(), state.current_job()?.key.clone());
    let log = state.run_mut(&run)?.logs.get_mut(&job)?;
    if log.file.is_none() || log.sections_version != 0 || log.sections_loading {
        return None;
    }
    log.sections_loading = true;
    Some(Effect::LoadLogSections { run, job })
}

/// Sections read from disk (none: the log has no file, or it could not be read; not asked again).
pub(crate) fn sections_loaded(
    state: &mut State,
    run: &RunRef,
    job: &str,
    sections: Option<Box<(u64, crate::logstore::sections::Sections)>>,
) {
    let Some(log) = state.run_mut(run).and_then(|v| v.logs.get_mut(job)) else { return };
    log.sections_loading = false;
    match sections {
        Some(s) => {
            let (version, sections) = *s;
            log.take_sections(version, sections);
        }
        None => log.sections_version = u64::MAX,
    }
    state.dirty = true;
}
