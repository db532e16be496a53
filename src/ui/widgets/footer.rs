//! Key hints generated from the key map: the focused pane's keys, then the global ones. Disabled
//! actions stay visible, struck through, with the reason.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::state::State;
use crate::keymap::{COMMANDS, Command, Context};
use crate::theme::Role;
use crate::ui::widgets::text::width;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let ctx = state.context();
    let mut items: Vec<Command> = COMMANDS
        .iter()
        .filter(|d| d.context == ctx && ctx != Context::Global)
        .filter(|d| crate::app::selectors::offered(state, d.command))
        .map(|d| d.command)
        .collect();
    items.extend_from_slice(crate::keymap::footer_extras(ctx));
    let mut spans = Vec::new();
    let mut used = 0usize;
    let max = area.width as usize;
    let reason = " read-only: changes disabled";
    // The way to every other key is never crowded out, however narrow the terminal.
    let help = state.keymap.label(Command::Help).map(|k| (k, crate::keymap::def_of(Command::Help).hint));
    let help_w = help.as_ref().map(|(k, h)| width(k) + 1 + width(h) + 2).unwrap_or(0);
    let reserve = help_w + if state.read_only { width(reason) } else { 0 };
    let mut first_reason: Option<String> = None;
    let mut first_note: Option<String> = None;
    for cmd in items.into_iter().filter(|c| *c != Command::Help) {
        let d = crate::keymap::def_of(cmd);
        let Some(key) = state.keymap.label(cmd) else {
            continue;
        };
        // Greyed when it would be refused right now; the first reason is spelled out.
        let refused = if d.mutating { crate::app::selectors::preview(state, cmd).err() } else { None };
        let disabled = d.mutating && (state.read_only || refused.is_some());
        if let Some(why) = refused.filter(|_| !state.read_only && first_reason.is_none()) {
            first_reason = Some(format!(" {}: {why}", d.hint));
        }
        // Allowed with a caveat: the key is marked and the caveat said where a reason would be.
        let note = if d.mutating && !disabled { crate::app::selectors::note(state, cmd) } else { None };
        let hint = if note.is_some() { format!("{}*", d.hint) } else { d.hint.to_string() };
        if let Some(n) = note.filter(|_| first_note.is_none()) {
            first_note = Some(format!(" {}*: {n}", d.hint));
        }
        let piece_w = width(&key) + 1 + width(&hint) + 2;
        if used + piece_w + reserve > max {
            break;
        }
        used += piece_w;
        let (ks, hs) = if disabled { (t.disabled(), t.disabled()) } else { (t.status(Role::Accent), t.fg(Role::Muted)) };
        spans.push(Span::styled(key, ks));
        spans.push(Span::styled(format!(" {hint}  "), hs));
    }
    if let Some((key, hint)) = help {
        spans.push(Span::styled(key, t.status(Role::Accent)));
        spans.push(Span::styled(format!(" {hint}  "), t.fg(Role::Muted)));
        used += help_w;
    }
    if state.read_only {
        spans.push(Span::styled(reason, t.fg(Role::Warning)));
    } else if let Some((said, role)) = first_reason.map(|r| (r, Role::Warning)).or(first_note.map(|n| (n, Role::Muted))) {
        let room = max.saturating_sub(used);
        if room > 12 {
            // Reasons and caveats quote backends (a window's schedule, a server's refusal).
            spans.push(Span::styled(crate::ui::widgets::text::truncate(&crate::logstore::sanitize::plain(&said), room), t.fg(role)));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
