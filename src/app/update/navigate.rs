//! Moving through lists and panes on every screen.

use super::*;

/// Moves a list cursor of `len` items.
pub(crate) fn step(cursor: usize, len: usize, cmd: Command) -> usize {
    let last = len.saturating_sub(1);
    match cmd {
        Command::Up => cursor.saturating_sub(1),
        Command::Down => (cursor + 1).min(last),
        Command::PageUp => cursor.saturating_sub(10),
        Command::PageDown => (cursor + 10).min(last),
        Command::Top => 0,
        Command::Bottom => last,
        _ => cursor.min(last),
    }
}

pub(crate) fn navigate(state: &mut State, cmd: Command) -> Vec<Effect> {
    match state.screen {
        Screen::Approvals => {
            let n = state.waiting_gates().len();
            state.approvals_cursor = step(state.approvals_cursor, n, cmd);
            return Vec::new();
        }
        Screen::Audit => {
            let n = state.audit.visible().len();
            state.audit.cursor = step(state.audit.cursor, n, cmd);
            return Vec::new();
        }
        Screen::Findings => {
            let n = crate::app::selectors::findings_rows(state);
            state.findings_view.cursor = step(state.findings_view.cursor, n, cmd);
            return Vec::new();
        }
        Screen::Canary => {
            match cmd {
                Command::Left | Command::Right => {
                    let n = crate::app::state::CANARY_WINDOWS.len();
                    state.canary.window =
                        if cmd == Command::Left { (state.canary.window + n - 1) % n } else { (state.canary.window + 1) % n };
                    // A new window: ask again now, and drop answers for the old one.
                    for d in state.canary.data.values_mut() {
                        d.asked_at = None;
                        d.pending = None;
                    }
                }
                _ => state.canary.selected = step(state.canary.selected, state.canary.services.len(), cmd),
            }
            return canary_refresh(state).into_iter().collect();
        }
        Screen::Overview | Screen::Release => return super::release::navigate(state, cmd),
        Screen::Pipelines => {}
    }
    match state.focus {
        Pane::Runs => {
            let ids: Vec<RunRef> = state.visible_runs().iter().map(|r| r.record.id.clone()).collect();
            if ids.is_empty() {
                return Vec::new();
            }
            let cur = state.selected_run.as_ref().and_then(|s| ids.iter().position(|i| i == s)).unwrap_or(0);
            let page = 10;
            let next = match cmd {
                Command::Up => cur.saturating_sub(1),
                Command::Down => (cur + 1).min(ids.len() - 1),
                Command::PageUp => cur.saturating_sub(page),
                Command::PageDown => (cur + page).min(ids.len() - 1),
                Command::Top => 0,
                Command::Bottom => ids.len() - 1,
                Command::Right => {
                    state.focus = Pane::Jobs;
                    return Vec::new();
                }
                _ => cur,
            };
            select_run(state, ids[next].clone())
        }
        Pane::Jobs => {
            let Some(run) = state.current_run() else {
                return Vec::new();
            };
            let rec = &run.record;
            let columns: Vec<Vec<String>> = rec
                .stages
                .iter()
                .map(|s| rec.jobs_of(&s.name).map(|j| j.key.clone()).collect())
                .filter(|c: &Vec<String>| !c.is_empty())
                .collect();
            if columns.is_empty() {
                return Vec::new();
            }
            let (mut col, mut row) = state
                .selected_job
                .as_ref()
                .and_then(|k| columns.iter().enumerate().find_map(|(c, jobs)| jobs.iter().position(|j| j == k).map(|r| (c, r))))
                .unwrap_or((0, 0));
            match cmd {
                Command::Left => col = col.saturating_sub(1),
                Command::Right => col = (col + 1).min(columns.len() - 1),
                Command::Up => row = row.saturating_sub(1),
                Command::Down => row += 1,
                Command::Top | Command::PageUp => (col, row) = (0, 0),
                Command::Bottom | Command::PageDown => (col, row) = (columns.len() - 1, usize::MAX),
                _ => {}
            }
            let row = row.min(columns[col].len() - 1);
            let key = columns[col][row].clone();
            select_job(state, key)
        }
        Pane::Log if state.log.filter.is_some() => filter_move(state, cmd),
        Pane::Log => {
            let rows = layout::log_rows(state) as u64;
            match cmd {
                Command::Up => scroll_up(state, 1),
                Command::Down => scroll_down(state, 1),
                Command::PageUp => scroll_up(state, rows.saturating_sub(1).max(1)),
                Command::PageDown => scroll_down(state, rows.saturating_sub(1).max(1)),
                Command::Top => {
                    let first = state.current_log().map(|l| l.first_line()).unwrap_or(0);
                    state.log.follow = false;
                    state.log.top = first;
                }
                Command::Bottom => {
                    state.log.follow = true;
                    state.log.new_lines = 0;
                }
                Command::Left if !state.log.wrap => state.log.hscroll = state.log.hscroll.saturating_sub(8),
                Command::Right if !state.log.wrap => state.log.hscroll += 8,
                _ => {}
            }
            Vec::new()
        }
    }
}
