//! The audit journal: every recorded action, filterable, with the chain's verification status.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::state::State;
use crate::audit::Phase;
use crate::theme::Role;
use crate::ui::widgets::text::{heading, pad, truncate};

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let a = &state.audit;
    let (chip, role) = match (&a.report, &a.error) {
        (_, Some(e)) => (format!("✗ cannot read: {e}"), Role::Failure),
        (Some(r), None) if r.ok() => (format!("✓ chain verified: {} records", r.good), Role::Success),
        (Some(r), None) => (format!("✗ {r}"), Role::Failure),
        (None, None) => ("loading…".into(), Role::Muted),
    };
    let mut title = vec![
        Span::styled(" Audit journal ", t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
        Span::styled(format!("{chip} "), t.status(role)),
    ];
    if !a.filter.is_empty() {
        title.push(Span::styled(format!("filter: {} ", a.filter), t.fg(Role::Warning)));
    }
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(title));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let visible = a.visible();
    let w = inner.width as usize;
    if visible.is_empty() {
        let msg = if a.records.is_empty() { "the journal is empty: nothing has been changed yet" } else { "no record matches the filter" };
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))), inner);
        return;
    }
    let detail_h = 6u16.min(inner.height / 3);
    let list_h = inner.height.saturating_sub(detail_h) as usize;
    let cursor = a.cursor.min(visible.len() - 1);
    let offset = cursor.saturating_sub(list_h.saturating_sub(2));
    let mut lines = vec![heading(
        &format!(
            "{:>5} {:<19} {:<16} {:<13} {:<18} {:<9} {}",
            "SEQ", "TIME (UTC)", "ACTOR", "ACTION", "TARGET", "RESULT", "REASON / ERROR"
        ),
        w,
        t,
    )];
    for (i, r) in visible.iter().enumerate().skip(offset).take(list_h.saturating_sub(1)) {
        let role = match r.result.as_str() {
            "success" => Role::Success,
            "failure" | "refused" => Role::Failure,
            "pending" => Role::Pending,
            _ => Role::Info,
        };
        let phase = match r.phase {
            Phase::Intent => "→",
            Phase::Outcome => "←",
            Phase::Refused => "✗",
            Phase::Event => "•",
        };
        let why = r.error.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| r.reason.clone());
        let glass = if r.break_glass { "BREAK-GLASS " } else { "" };
        let time = r.time.get(..19).unwrap_or(&r.time).replace('T', " ");
        let text = format!(
            "{:>5} {:<19} {:<16} {:<13} {:<18} {phase} {:<7} {glass}{}",
            r.seq,
            time,
            truncate(&r.actor, 16),
            truncate(&r.action, 13),
            truncate(&r.target, 18),
            r.result,
            crate::logstore::sanitize::plain(&why)
        );
        let mut line = Line::styled(pad(&text, w), if r.break_glass { t.status(Role::Failure) } else { t.fg(role) });
        if i == cursor {
            line = line.style(t.selection());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), Rect { height: list_h as u16, ..inner });
    let r = visible[cursor];
    let detail = vec![
        Line::styled(
            format!("#{} {} by {} ({}) in {}", r.seq, r.action, r.actor, r.origin, r.environment.as_deref().unwrap_or("-")),
            t.fg(Role::Accent),
        ),
        Line::styled(format!("parameters: {}", crate::logstore::sanitize::plain(&r.parameters.to_string())), t.fg(Role::Text)),
        Line::styled(format!("reason: {}", crate::logstore::sanitize::plain(&r.reason)), t.fg(Role::Text)),
        Line::styled(
            format!("hash {} · prev {}", &r.hash.get(..16).unwrap_or(""), &r.prev_hash.get(..16).unwrap_or("")),
            t.fg(Role::Muted),
        ),
    ];
    frame.render_widget(Paragraph::new(detail).wrap(Wrap { trim: true }), Rect { y: inner.bottom() - detail_h, height: detail_h, ..inner });
}
