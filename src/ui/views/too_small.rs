use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::layout::{MIN_HEIGHT, MIN_WIDTH};
use crate::app::state::State;
use crate::keymap::Command;
use crate::theme::Role;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let quit = state.keymap.label(Command::Quit).unwrap_or_else(|| "ctrl-c".into());
    let lines = vec![
        Line::styled("Terminal too small", state.theme.status(Role::Warning)),
        Line::raw(format!("need {MIN_WIDTH}×{MIN_HEIGHT}, have {}×{}", area.width, area.height)),
        Line::raw(format!("enlarge the window, or {quit} to quit")),
    ];
    let top = area.height.saturating_sub(lines.len() as u16) / 2;
    let rect = Rect { y: area.y + top, height: area.height - top, ..area };
    frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center).wrap(Wrap { trim: true }), rect);
}
