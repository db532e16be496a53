//! Toasts in the top-right corner: info fades after a few seconds, errors stay until dismissed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::state::{State, ToastLevel};
use crate::keymap::Command;
use crate::theme::Role;
use crate::ui::widgets::text::width;

const MAX_SHOWN: usize = 3;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let w = (area.width / 2).clamp(30, 70).min(area.width);
    // Stacked upwards from just above the footer, newest at the bottom, clear of the header.
    let mut bottom = area.bottom().saturating_sub(1);
    let dismiss = state.keymap.label(Command::Back).unwrap_or_else(|| "esc".into());
    let hidden = state.toasts.len().saturating_sub(MAX_SHOWN);
    for toast in state.toasts.iter().rev().take(MAX_SHOWN) {
        let (glyph, role, tail) = match toast.level {
            ToastLevel::Info => ("✓ ", Role::Info, String::new()),
            ToastLevel::Error => ("✗ ", Role::Failure, format!("  [{dismiss} dismisses]")),
        };
        let text = format!("{glyph}{}{tail}", toast.text);
        let inner_w = w.saturating_sub(2).max(1) as usize;
        let h = (width(&text).div_ceil(inner_w) as u16 + 2).min(6);
        if bottom < area.y + 1 + h {
            break;
        }
        let y = bottom - h;
        let rect = Rect { x: area.right() - w, y, width: w, height: h };
        frame.render_widget(Clear, rect);
        let block = Block::bordered().border_style(t.status(role));
        let line = Line::from(vec![
            Span::styled(glyph, t.status(role)),
            Span::styled(toast.text.clone(), t.fg(Role::Text)),
            Span::styled(tail, t.fg(Role::Muted)),
        ]);
        frame.render_widget(Paragraph::new(line).block(block).wrap(Wrap { trim: false }), rect);
        bottom = y;
    }
    if hidden > 0 && bottom > area.y + 1 {
        let msg = format!(" +{hidden} more ");
        let rect = Rect { x: area.right().saturating_sub(width(&msg) as u16), y: bottom - 1, width: width(&msg) as u16, height: 1 };
        frame.render_widget(Paragraph::new(Span::styled(msg, t.fg(Role::Muted))), rect);
    }
}
