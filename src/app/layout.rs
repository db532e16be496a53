//! Where things go, as pure functions of the terminal size, shared by the renderer and by the
//! reducer (which needs page sizes).

use ratatui::layout::Rect;

use crate::app::state::State;

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;
/// At this width and above the runs list sits beside the run.
pub const WIDE: u16 = 120;

pub struct Areas {
    pub header: Rect,
    pub runs: Rect,
    pub jobs: Rect,
    pub log: Rect,
    pub footer: Rect,
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Rows the stage columns need: the busiest stage's jobs plus borders and the stage header.
pub fn jobs_height(state: &State) -> u16 {
    let busiest =
        state.current_run().map(|r| r.record.stages.iter().map(|s| r.record.jobs_of(&s.name).count()).max().unwrap_or(1)).unwrap_or(1);
    (busiest as u16 + 3).clamp(5, 10)
}

pub fn pipelines(area: Rect, state: &State) -> Areas {
    let header = Rect { height: 1, ..area };
    let footer = Rect { y: area.bottom().saturating_sub(1), height: 1, ..area };
    let body = Rect { y: area.y + 1, height: area.height.saturating_sub(2), ..area };
    let jobs_h = jobs_height(state);
    if area.width >= WIDE {
        let runs_w = (area.width / 4).clamp(38, 56);
        let runs = Rect { width: runs_w, ..body };
        let right = Rect { x: body.x + runs_w, width: body.width - runs_w, ..body };
        let jobs = Rect { height: jobs_h.min(right.height / 2), ..right };
        let log = Rect { y: right.y + jobs.height, height: right.height - jobs.height, ..right };
        Areas { header, runs, jobs, log, footer }
    } else {
        let runs_h = (body.height / 4).clamp(4, 8);
        let runs = Rect { height: runs_h, ..body };
        let jobs_h = jobs_h.min(body.height.saturating_sub(runs_h) / 2);
        let jobs = Rect { y: body.y + runs_h, height: jobs_h, ..body };
        let log = Rect { y: jobs.y + jobs_h, height: body.height.saturating_sub(runs_h + jobs_h), ..body };
        Areas { header, runs, jobs, log, footer }
    }
}

/// Text rows inside the log pane.
pub fn log_rows(state: &State) -> u16 {
    let area = Rect::new(0, 0, state.size.0, state.size.1);
    pipelines(area, state).log.height.saturating_sub(2).max(1)
}

/// Text columns inside the log pane.
pub fn log_cols(state: &State) -> u16 {
    let area = Rect::new(0, 0, state.size.0, state.size.1);
    pipelines(area, state).log.width.saturating_sub(2).max(1)
}
