//! The one-line editor for `:` commands, `/` search and the runs filter, with suggestions above it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::state::{Input, InputKind, State};
use crate::theme::Role;
use crate::ui::widgets::text::{pad, width};

pub fn render(frame: &mut Frame, area: Rect, state: &State, input: &Input) {
    let t = &state.theme;
    let line = Rect { x: area.x, y: area.bottom().saturating_sub(1), width: area.width, height: 1 };
    let prompt = match input.kind {
        InputKind::Command => ":",
        InputKind::Search => "search /",
        InputKind::Filter | InputKind::AuditFilter | InputKind::FindingsFilter => "filter /",
    };
    frame.render_widget(Clear, line);
    let pw = width(prompt) as u16;
    frame.render_widget(Paragraph::new(Span::styled(prompt, t.status(Role::Accent))), Rect { width: pw, ..line });
    let mut text = input.text.clone();
    text.set_cursor_line_style(Style::default());
    text.set_style(t.fg(Role::Text));
    frame.render_widget(&text, Rect { x: line.x + pw, width: line.width.saturating_sub(pw), ..line });

    if input.kind == InputKind::Command && !input.suggestions.is_empty() {
        let shown: Vec<&String> = input.suggestions.iter().take(8).collect();
        let w = (area.width / 2).clamp(30, 64).min(area.width);
        let h = shown.len() as u16 + 2;
        let rect = Rect { x: area.x, y: line.y.saturating_sub(h), width: w, height: h.min(line.y) };
        frame.render_widget(Clear, rect);
        let lines: Vec<Line> = shown
            .iter()
            .map(|s| {
                let word = s.split(' ').next().unwrap_or("");
                let desc = crate::app::command::names().find(|(c, _)| *c == word && !s.contains(' ')).map(|(_, d)| d).unwrap_or("");
                if desc.is_empty() {
                    // A long line differs from what is typed only in its last word: show that.
                    let label = match s.rsplit_once(' ') {
                        Some((head, last)) if head.contains(' ') => format!("… {last}"),
                        _ => s.to_string(),
                    };
                    return Line::styled(label, t.fg(Role::Accent));
                }
                Line::from(vec![Span::styled(pad(s, 16), t.fg(Role::Accent)), Span::styled(desc.to_string(), t.fg(Role::Muted))])
            })
            .collect();
        let block = Block::bordered().border_style(t.fg(Role::Border)).title(" tab completes ");
        frame.render_widget(Paragraph::new(lines).block(block), rect);
    }
}
