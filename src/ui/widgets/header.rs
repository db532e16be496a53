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

/// How much room the header's parts take: the full form first, then shorter ones until it fits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fit {
    Full,
    /// Tabs as their key and badge, except the screen in view and the releases.
    CompactTabs,
    /// And the right side as glyphs and counts.
    CompactAll,
}

/// What waits on each tab, counted once a frame (the context may hold a thousand rollouts).
struct Badges {
    gates: usize,
    releases: usize,
}

impl Badges {
    fn of(state: &State) -> Badges {
        // The releases tab counts what waits for a human, in every provider.
        Badges { gates: state.waiting_gates().len(), releases: state.releases_needing_a_human() }
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let width_of = |spans: &[Span]| spans.iter().map(|s| width(&s.content)).sum::<usize>();
    let badges = Badges::of(state);
    let mut chosen = None;
    for fit in [Fit::Full, Fit::CompactTabs, Fit::CompactAll] {
        let (left, right) = (left_side(state, &badges, fit), right_side(state, fit));
        let fits = width_of(&left) + width_of(&right) < area.width as usize;
        if fits || fit == Fit::CompactAll {
            chosen = Some((left, right));
            break;
        }
    }
    let Some((left, right)) = chosen else { return };
    let right_w = width_of(&right);
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

fn left_side(state: &State, badges: &Badges, fit: Fit) -> Vec<Span<'static>> {
    let t = &state.theme;
    let mut left = vec![Span::styled(" flightdeck ", t.selection()), Span::raw(" ")];
    let mut screens = vec![
        (Screen::Pipelines, Command::ScreenPipelines),
        (Screen::Approvals, Command::ScreenApprovals),
        (Screen::Findings, Command::ScreenFindings),
        (Screen::Audit, Command::ScreenAudit),
        (Screen::Canary, Command::ScreenCanary),
        (Screen::Overview, Command::ScreenOverview),
    ];
    if state.releases.enabled() {
        screens.push((Screen::Release, Command::ScreenRelease));
    }
    let gap = if fit == Fit::Full { "  " } else { " " };
    for (screen, cmd) in screens {
        let key = state.keymap.label(cmd).unwrap_or_default();
        let count = match screen {
            Screen::Approvals if badges.gates > 0 => format!("({})", badges.gates),
            // The releases list has every provider's rollouts: what waits for a human in all.
            Screen::Overview if badges.releases > 0 => format!("({})", badges.releases),
            _ => String::new(),
        };
        let named = fit == Fit::Full || state.screen == screen || screen == Screen::Overview;
        let text = match (named, key.is_empty()) {
            (true, true) => format!("{}{}", screen.title(), spaced(&count)),
            (true, false) => format!("{key} {}{}", screen.title(), spaced(&count)),
            (false, _) => format!("{key}{count}"),
        };
        if text.is_empty() {
            continue;
        }
        let style =
            if state.screen == screen { t.fg(Role::Accent).add_modifier(Modifier::BOLD | Modifier::UNDERLINED) } else { t.fg(Role::Muted) };
        left.push(Span::styled(text, style));
        left.push(Span::raw(gap));
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
    left
}

/// ` (3)` for a count, nothing without one.
fn spaced(count: &str) -> String {
    if count.is_empty() { String::new() } else { format!(" {count}") }
}

fn right_side(state: &State, fit: Fit) -> Vec<Span<'static>> {
    let t = &state.theme;
    let compact = fit == Fit::CompactAll;
    let active = state.runs.iter().filter(|r| !r.record.status.is_terminal()).count();
    let paused = state.runs.iter().filter(|r| r.record.status == RunStatus::Waiting).count();
    let mut right: Vec<Span> = Vec::new();
    if active > paused {
        let text = if compact { format!("●{} ", active - paused) } else { format!("● {} active ", active - paused) };
        right.push(Span::styled(text, t.fg(Role::Running)));
    }
    if paused > 0 {
        let text = if compact { format!("⏸{paused} ") } else { format!("⏸ {paused} waiting ") };
        right.push(Span::styled(text, t.status(Role::Paused)));
    }
    if state.notifications.failed > 0 {
        let n = state.notifications.failed;
        let text = if compact { format!("✉✗{n} ") } else { format!("✉ {n} not delivered ") };
        right.push(Span::styled(text, t.status(Role::Failure)));
    }
    let who = if compact {
        state.identity.actor.clone()
    } else if state.identity.origin == "local" {
        state.identity.shown()
    } else {
        format!("{} — {}", state.identity.shown(), state.identity.origin)
    };
    right.push(Span::styled(format!(" {who} "), t.fg(Role::Muted)));
    if state.read_only {
        right.push(Span::styled(if compact { " RO " } else { " READ-ONLY " }, t.status(Role::Warning).add_modifier(Modifier::REVERSED)));
    }
    right
}
