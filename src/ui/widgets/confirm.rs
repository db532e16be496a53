//! The confirmation dialog: what will happen, to what, and No focused by default.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::state::{Confirm, State};
use crate::ui::theme::Role;
use crate::ui::widgets::text::{centered, width};

pub fn render(frame: &mut Frame, area: Rect, state: &State, c: &Confirm) {
    let t = &state.theme;
    let w = (area.width.saturating_sub(4)).clamp(30, 76);
    let inner_w = w.saturating_sub(4) as usize;
    let body_rows: usize = c.lines.iter().map(|l| width(l).max(1).div_ceil(inner_w)).sum();
    let h = (body_rows as u16 + 6).min(area.height);
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_style(t.status(Role::Warning))
        .title(Line::from(Span::styled(format!(" {} ", c.title), t.status(Role::Warning))));
    let mut lines: Vec<Line> = c.lines.iter().map(|l| Line::styled(l.clone(), t.fg(Role::Text))).collect();
    lines.push(Line::raw(""));
    let (no, yes) = if c.yes_focused { (t.fg(Role::Text), t.selection()) } else { (t.selection(), t.fg(Role::Text)) };
    let marker = |focused: bool| if focused { "▶" } else { " " };
    lines.push(Line::from(vec![
        Span::styled(format!("{}[ No ]", marker(!c.yes_focused)), no.add_modifier(Modifier::BOLD)),
        Span::raw("   "),
        Span::styled(format!("{}[ Yes ]", marker(c.yes_focused)), yes.add_modifier(Modifier::BOLD)),
    ]));
    lines.push(Line::styled("y yes · n/esc no · tab switch · enter chooses the focused one", t.fg(Role::Muted)));
    let inner = Rect { x: rect.x + 1, width: rect.width.saturating_sub(2), ..rect };
    frame.render_widget(block, rect);
    let text_area = Rect { x: inner.x + 1, y: inner.y + 1, width: inner.width.saturating_sub(2), height: inner.height.saturating_sub(2) };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
}
