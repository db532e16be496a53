//! Rendering: pure functions from `&State` to a frame. No I/O, no mutation.

pub mod views;
pub mod widgets;

use ratatui::Frame;

use crate::app::layout;
use crate::app::state::{Overlay, Screen, State};

pub fn render(frame: &mut Frame, state: &State) {
    let area = frame.area();
    if layout::too_small(area) {
        views::too_small::render(frame, area, state);
        return;
    }
    match state.screen {
        Screen::Pipelines => views::pipelines::render(frame, state),
        Screen::Approvals => views::approvals::render(frame, state),
        Screen::Findings => views::findings::render(frame, state),
        Screen::Audit => views::audit::render(frame, state),
        Screen::Canary => views::canary::render(frame, state),
        Screen::Overview => views::overview::render(frame, state),
        Screen::Release => views::release::render(frame, state),
    }
    widgets::toast::render(frame, area, state);
    match &state.overlay {
        Some(Overlay::Help { scroll }) => views::help::render(frame, area, state, *scroll),
        Some(Overlay::Confirm(c)) => widgets::confirm::render(frame, area, state, c),
        Some(Overlay::Input(i)) => widgets::input::render(frame, area, state, i),
        None => {}
    }
}
