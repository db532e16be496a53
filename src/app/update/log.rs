//! The log view: scrolling, following, search.

use super::*;

pub(crate) fn reset_log_view(state: &mut State) {
    let (wrap, timestamps) = (state.log.wrap, state.log.timestamps);
    state.log = Default::default();
    state.log.wrap = wrap;
    state.log.timestamps = timestamps;
    state.pending_log = None;
}

pub(crate) fn scroll_up(state: &mut State, n: u64) {
    let top = current_top(state);
    let first = state.current_log().map(|l| l.store.first_seq()).unwrap_or(0);
    state.log.top = top.saturating_sub(n).max(first);
    state.log.follow = false;
}

pub(crate) fn scroll_down(state: &mut State, n: u64) {
    if state.log.follow {
        return;
    }
    let Some(log) = state.current_log() else {
        return;
    };
    let rows = layout::log_rows(state) as u64;
    let bottom_top = log.store.end_seq().saturating_sub(rows).max(log.store.first_seq());
    let top = current_top(state) + n;
    if top >= bottom_top {
        state.log.follow = true;
        state.log.new_lines = 0;
    } else {
        state.log.top = top;
    }
}

pub(crate) fn jump_to(state: &mut State, seq: u64) {
    let rows = layout::log_rows(state) as u64;
    let first = state.current_log().map(|l| l.store.first_seq()).unwrap_or(0);
    state.log.follow = false;
    state.log.top = seq.saturating_sub(rows / 3).max(first);
}

pub(crate) fn search(state: &mut State, query: &str) {
    if query.is_empty() {
        state.log.search = None;
        return;
    }
    let top = current_top(state);
    let Some(log) = state.current_log() else {
        state.toast_error("no log to search; select a job first");
        return;
    };
    let matches = log.store.find_all(query);
    let current = matches.iter().position(|m| *m >= top).or(if matches.is_empty() { None } else { Some(0) });
    let target = current.map(|i| matches[i]);
    if matches.is_empty() {
        state.toast_info(format!("no line matches `{query}`"));
    }
    state.log.search = Some(Search { query: query.to_string(), matches, current });
    if let Some(seq) = target {
        jump_to(state, seq);
    }
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
