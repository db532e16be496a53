//! The header line: screens (with what waits in each), breadcrumbs, and who you are.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::state::{Pane, Screen, State};
use crate::domain::RunStatus;
use crate::keymap::Command;
use crate::theme::Role;
use crate::ui::widgets::text::{truncate, width};

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let mut left = vec![Span::styled(" flightdeck ", t.selection()), Span::raw(" ")];
    let waiting = state.waiting_gates().len();
    let attention = state.rollouts.records.values().filter(|r| r.phase.urgency() == 0).count();
    let argo_attention = state.argo.rollouts.values().filter(|r| crate::argo::status::state(r, state.now).urgency() <= 1).count();
    let mut screens = vec![
        (Screen::Pipelines, Command::ScreenPipelines),
        (Screen::Approvals, Command::ScreenApprovals),
        (Screen::Findings, Command::ScreenFindings),
        (Screen::Audit, Command::ScreenAudit),
        (Screen::Canary, Command::ScreenCanary),
        (Screen::Overview, Command::ScreenOverview),
    ];
    if state.argo.enabled {
        screens.push((Screen::Argo, Command::ScreenArgo));
    }
    for (screen, cmd) in screens {
        let key = state.keymap.label(cmd).map(|k| format!("{k} ")).unwrap_or_default();
        let count = match screen {
            Screen::Approvals if waiting > 0 => format!(" ({waiting})"),
            Screen::Overview if attention > 0 => format!(" ({attention})"),
            Screen::Argo if argo_attention > 0 => format!(" ({argo_attention})"),
            _ => String::new(),
        };
        let style =
            if state.screen == screen { t.fg(Role::Accent).add_modifier(Modifier::BOLD | Modifier::UNDERLINED) } else { t.fg(Role::Muted) };
        left.push(Span::styled(format!("{key}{}{count}", screen.title()), style));
        left.push(Span::raw("  "));
    }
    if state.screen == Screen::Pipelines
        && let Some(run) = state.current_run()
    {
        let mut crumbs = vec![run.record.pipeline.clone(), format!("#{}", run.record.id)];
        if let Some(job) = &state.selected_job
            && state.focus != Pane::Runs
        {
            crumbs.push(job.clone());
        }
        left.push(Span::styled("› ", t.fg(Role::Muted)));
        left.push(Span::styled(crumbs.join(" › "), t.fg(Role::Text)));
    }
    let active = state.runs.iter().filter(|r| !r.record.status.is_terminal()).count();
    let paused = state.runs.iter().filter(|r| r.record.status == RunStatus::Waiting).count();
    let mut right: Vec<Span> = Vec::new();
    if active > paused {
        right.push(Span::styled(format!("● {} active ", active - paused), t.fg(Role::Running)));
    }
    if paused > 0 {
        right.push(Span::styled(format!("⏸ {paused} waiting "), t.status(Role::Paused)));
    }
    let who = if state.identity.origin == "local" {
        state.identity.actor.clone()
    } else {
        format!("{} ({})", state.identity.actor, state.identity.origin)
    };
    right.push(Span::styled(format!(" {who} "), t.fg(Role::Muted)));
    if state.read_only {
        right.push(Span::styled(" READ-ONLY ", t.status(Role::Warning).add_modifier(Modifier::REVERSED)));
    }
    let right_w: usize = right.iter().map(|s| width(&s.content)).sum();
    let left_w = (area.width as usize).saturating_sub(right_w + 1);
    let mut used = 0;
    let mut shown = Vec::new();
    for s in left {
        let w = width(&s.content);
        if used + w <= left_w {
            used += w;
            shown.push(s);
        } else {
            shown.push(Span::styled(truncate(&s.content, left_w - used), s.style));
            break;
        }
    }
    frame.render_widget(Paragraph::new(Line::from(shown)), area);
    if right_w < area.width as usize {
        let r = Rect { x: area.right() - right_w as u16, width: right_w as u16, ..area };
        frame.render_widget(Paragraph::new(Line::from(right)), r);
    }
}
