//! Help, generated from the key map so it always tells the truth about the bindings in force.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::state::State;
use crate::keymap::{COMMANDS, Context};
use crate::theme::Role;
use crate::ui::widgets::text::{centered, pad, truncate};

pub fn render(frame: &mut Frame, area: Rect, state: &State, scroll: u16) {
    let t = &state.theme;
    let rect = centered(area, area.width.saturating_sub(4).min(100), area.height.saturating_sub(2));
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_style(t.border(true))
        .title(Line::from(Span::styled(" Help — keys (any other key closes) ", t.status(Role::Accent))));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let key_w = 18usize;
    let mut lines = Vec::new();
    for ctx in Context::ALL {
        let defs: Vec<_> = COMMANDS.iter().filter(|d| d.context == ctx).collect();
        if defs.is_empty() {
            continue;
        }
        lines.push(Line::styled(ctx.title(), t.fg(Role::Accent).add_modifier(Modifier::BOLD | Modifier::UNDERLINED)));
        for d in defs {
            let keys = state.keymap.label(d.command).unwrap_or_else(|| "(unbound)".into());
            let mut desc = d.desc.to_string();
            if d.mutating && state.read_only {
                desc.push_str(" — disabled: read-only mode");
            }
            let style = if d.mutating && state.read_only { t.disabled() } else { t.fg(Role::Text) };
            let desc = truncate(&desc, (inner.width as usize).saturating_sub(key_w + 2));
            lines.push(Line::from(vec![Span::styled(pad(&format!("  {keys}"), key_w), t.status(Role::Accent)), Span::styled(desc, style)]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled(
        "Rebind or unbind any key in the [keys] table of the config file (see config.example.toml).",
        t.fg(Role::Muted),
    ));
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    frame.render_widget(Paragraph::new(lines).scroll((scroll.min(max_scroll), 0)), inner);
}
