pub mod approvals;
pub mod audit;
pub mod canary;
pub mod findings;
pub mod help;
pub mod overview;
pub mod pipelines;
pub mod release;
pub mod too_small;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::app::state::State;
use crate::ui::widgets::{footer, header};

/// Draws the header and footer every full-screen view shares; returns the body between them.
pub fn chrome(frame: &mut Frame, state: &State) -> Rect {
    let area = frame.area();
    header::render(frame, Rect { height: 1, ..area }, state);
    footer::render(frame, Rect { y: area.bottom().saturating_sub(1), height: 1, ..area }, state);
    Rect { y: area.y + 1, height: area.height.saturating_sub(2), ..area }
}
