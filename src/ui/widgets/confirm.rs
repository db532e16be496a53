//! The confirmation dialog at the tier the policy asked for: y/N with No focused; a dialog that
//! states the exact effect; or the target's name typed exactly plus a mandatory reason, with submit
//! disabled until both are valid. A change freeze shows why and offers break-glass.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::state::{Confirm, ConfirmField, State};
use crate::keymap::Command;
use crate::logstore::sanitize::plain;
use crate::policy::Tier;
use crate::theme::Role;
use crate::ui::widgets::text::{centered, wrap_hard};

pub fn render(frame: &mut Frame, area: Rect, state: &State, c: &Confirm) {
    let t = &state.theme;
    let w = area.width.saturating_sub(4).clamp(30, 84);
    let inner_w = w.saturating_sub(4) as usize;
    // Lines are broken here (a request body has no spaces to wrap at), so their count is known.
    let body: Vec<String> = c.lines.iter().flat_map(|l| wrap_hard(&plain(l), inner_w)).collect();
    let notes: Vec<(bool, String)> = c
        .notes
        .iter()
        .flat_map(|n| wrap_hard(&format!("policy: {n}"), inner_w).into_iter().map(move |l| (n.starts_with("BREAK-GLASS"), l)))
        .collect();
    let typed = c.tier == Tier::Typed && c.frozen.is_none();
    let extra = if c.frozen.is_some() {
        4
    } else if typed {
        8
    } else {
        3
    };
    let h = ((body.len() + notes.len()) as u16 + extra + 3).min(area.height);
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    let danger = c.break_glass || c.frozen.is_some() || c.tier == Tier::Typed;
    let role = if danger { Role::Failure } else { Role::Warning };
    let block = Block::bordered().border_style(t.status(role)).title(Line::from(Span::styled(format!(" {} ", c.title), t.status(role))));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(2), ..inner };

    let mut lines: Vec<Line> = body.iter().map(|l| Line::styled(l.clone(), t.fg(Role::Text))).collect();
    for (glass, n) in notes {
        let style = if glass { t.status(Role::Failure) } else { t.fg(Role::Muted) };
        lines.push(Line::styled(n, style));
    }
    let body_h = lines.len() as u16;
    frame.render_widget(Paragraph::new(lines), Rect { height: body_h.min(inner.height), ..inner });
    let mut y = inner.y + body_h + 1;

    if let Some(freeze) = &c.frozen {
        let bg = state.keymap.label(Command::BreakGlass).unwrap_or_else(|| "(unbound)".into());
        let lines = vec![
            Line::styled(format!("✗ refused: {}", plain(freeze)), t.status(Role::Failure)),
            Line::from(vec![
                Span::styled(bg, t.status(Role::Accent)),
                Span::styled(" break-glass: override the freeze with a typed confirmation and a reason (journaled)", t.fg(Role::Text)),
            ]),
            Line::styled(format!("{} cancels", state.keymap.first(Command::DialogCancel)), t.fg(Role::Muted)),
        ];
        frame
            .render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), Rect { y, height: inner.bottom().saturating_sub(y), ..inner });
        return;
    }

    if typed {
        let want = c.target.as_ref().map(|t| t.name.clone()).unwrap_or_default();
        let mut field = |label: String, focused: bool, y: u16, area: &ratatui_textarea::TextArea<'static>| {
            let label_style = if focused { t.status(Role::Accent) } else { t.fg(Role::Muted) };
            frame.render_widget(Paragraph::new(Line::styled(label, label_style)), Rect { y, height: 1, ..inner });
            let mut ta = area.clone();
            let style = if focused { Style::default().add_modifier(Modifier::UNDERLINED) } else { Style::default() };
            ta.set_style(t.fg(Role::Text).patch(style));
            ta.set_cursor_line_style(Style::default());
            if !focused {
                ta.set_cursor_style(Style::default());
            }
            frame.render_widget(&ta, Rect { x: inner.x + 2, y: y + 1, width: inner.width.saturating_sub(2), height: 1 });
        };
        field(format!("Type `{want}` to confirm:"), c.field == ConfirmField::Name, y, &c.name);
        y += 2;
        field("Reason (required, journaled):".into(), c.field == ConfirmField::Reason, y, &c.reason);
        y += 2;
        if let Some(exp) = &c.expiry {
            field("Expires (YYYY-MM-DD; the acceptance stops counting after it):".into(), c.field == ConfirmField::Expiry, y, exp);
            y += 2;
        }
        y += 1;
    } else {
        y = y.saturating_sub(1);
    }

    let blocked = c.blocked();
    let (no_label, yes_label) = if typed {
        ("[ Cancel ]", "[ Submit ]")
    } else if c.tier == Tier::Dialog {
        ("[ Cancel ]", "[ Confirm ]")
    } else {
        ("[ No ]", "[ Yes ]")
    };
    let focus_buttons = !typed || c.field == ConfirmField::Buttons;
    let no_style = if !c.yes_focused && focus_buttons { t.selection() } else { t.fg(Role::Text) };
    let yes_style = match (&blocked, c.yes_focused && focus_buttons) {
        (Some(_), _) => t.disabled(),
        (None, true) => t.selection(),
        (None, false) => t.fg(Role::Text),
    };
    let marker = |f: bool| if f { "▶" } else { " " };
    let mut buttons = vec![
        Span::styled(format!("{}{no_label}", marker(!c.yes_focused && focus_buttons)), no_style.add_modifier(Modifier::BOLD)),
        Span::raw("   "),
        Span::styled(format!("{}{yes_label}", marker(c.yes_focused && focus_buttons)), yes_style.add_modifier(Modifier::BOLD)),
    ];
    if let Some(why) = &blocked {
        buttons.push(Span::styled(format!("  submit disabled: {why}"), t.fg(Role::Warning)));
    }
    let k = |cmd| state.keymap.first(cmd);
    let hint = if typed {
        format!(
            "{} next field · {} submits when valid · {} cancels",
            k(Command::DialogNextField),
            k(Command::DialogSubmit),
            k(Command::DialogCancel)
        )
    } else {
        format!(
            "{} yes · {}/{} no · {} switch · {} chooses the focused one",
            k(Command::DialogYes),
            k(Command::DialogNo),
            k(Command::DialogCancel),
            k(Command::DialogNextField),
            k(Command::DialogSubmit)
        )
    };
    let lines = vec![Line::from(buttons), Line::styled(hint, t.fg(Role::Muted))];
    if y < inner.bottom() {
        frame.render_widget(Paragraph::new(lines), Rect { y, height: inner.bottom() - y, ..inner });
    }
}
