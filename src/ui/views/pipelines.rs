//! The pipelines screen: runs list, the selected run as stage columns, the selected job's log.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::layout;
use crate::app::selectors::{job_duration, run_duration};
use crate::app::state::{Pane, State};
use crate::domain::RunStatus;
use crate::keymap::Command;
use crate::theme::Role;
use crate::ui::widgets::text::{pad, truncate, width};
use crate::ui::widgets::{footer, header, log_view, status};
use crate::util::age;

pub fn render(frame: &mut Frame, state: &State) {
    let areas = layout::pipelines(frame.area(), state);
    header::render(frame, areas.header, state);
    runs(frame, areas.runs, state);
    jobs(frame, areas.jobs, state);
    log_view::render(frame, areas.log, state);
    footer::render(frame, areas.footer, state);
}

fn pane_block(state: &State, pane: Pane, title: Line<'static>) -> Block<'static> {
    let focused = state.focus == pane && state.overlay.is_none();
    Block::bordered().border_style(state.theme.border(focused)).title(title)
}

fn runs(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let visible = state.visible_runs();
    let mut title = vec![Span::styled(format!(" Runs ({}) ", visible.len()), t.fg(Role::Accent).add_modifier(Modifier::BOLD))];
    if !state.filter.is_empty() {
        title.push(Span::styled(format!("filter: {} ", state.filter), t.fg(Role::Warning)));
    }
    let block = pane_block(state, Pane::Runs, Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner.height as usize;
    if !state.runs_loaded && state.runs.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("loading run history…", t.fg(Role::Muted))), inner);
        return;
    }
    if visible.is_empty() {
        let msg = if !state.filter.is_empty() {
            "no run matches the filter (Esc clears it)".to_string()
        } else if let Some(p) = &state.fallback_pipeline {
            let key = state.keymap.label(Command::Trigger).unwrap_or_else(|| ":run".into());
            format!("no runs yet — press {key} to run `{p}`")
        } else if state.pipelines.is_empty() {
            "no pipeline configured — see config.example.toml".to_string()
        } else {
            "no runs yet — :run PIPELINE starts one".to_string()
        };
        frame.render_widget(Paragraph::new(Line::styled(truncate(&msg, inner.width as usize), t.fg(Role::Muted))), inner);
        return;
    }
    let selected = state.selected_run.as_ref().and_then(|id| visible.iter().position(|r| r.record.id == *id)).unwrap_or(0);
    let offset = selected.saturating_sub(rows.saturating_sub(1));
    let w = inner.width as usize;
    let name_w = w.saturating_sub(2 + 6 + 12 + 8).clamp(6, 24);
    let mut lines = Vec::with_capacity(rows);
    for (i, r) in visible.iter().enumerate().skip(offset).take(rows) {
        let rec = &r.record;
        let (glyph, role) = status::run(rec.status);
        let dur = run_duration(rec, state.now).unwrap_or_else(|| "-".into());
        let when = age(rec.created_at, state.now);
        let mut spans = vec![
            Span::styled(format!("{glyph} "), t.status(role)),
            Span::styled(format!("#{:<4} ", rec.id.label(RUN_LABEL)), t.fg(Role::Text)),
            Span::styled(pad(&rec.pipeline, name_w), t.fg(Role::Text)),
            Span::styled(format!(" {:<11}", rec.status.label()), t.fg(role)),
            Span::styled(format!("{dur:>7} "), t.fg(Role::Muted)),
        ];
        let used: usize = spans.iter().map(|s| width(&s.content)).sum();
        if w > used + 4 {
            spans.push(Span::styled(pad(&format!("{when} · {}", rec.trigger.actor), w - used), t.fg(Role::Muted)));
        }
        let mut line = Line::from(spans);
        if i == selected {
            line = line.style(selection_style(state, Pane::Runs));
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The widest run reference in the runs list (the title of the run pane says it whole).
const RUN_LABEL: usize = 18;

/// The selection is bold-reverse in the focused pane and underlined elsewhere.
fn selection_style(state: &State, pane: Pane) -> Style {
    if state.focus == pane { state.theme.selection() } else { Style::default().add_modifier(Modifier::UNDERLINED) }
}

fn jobs(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let Some(run) = state.current_run() else {
        let block = pane_block(state, Pane::Jobs, Line::from(" Stages "));
        frame.render_widget(block, area);
        return;
    };
    let rec = &run.record;
    let (glyph, role) = status::run(rec.status);
    let dur = run_duration(rec, state.now).unwrap_or_else(|| "-".into());
    let mut title = vec![
        Span::styled(format!(" Run #{} ", rec.id), t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
        Span::styled(format!("{} ", rec.pipeline), t.fg(Role::Text)),
        Span::styled(format!("{glyph} {} ", rec.status.label()), t.status(role)),
        Span::styled(format!("{dur} · by {} via {} ", rec.trigger.actor, rec.trigger.via), t.fg(Role::Muted)),
    ];
    let summaries: Vec<&crate::domain::FindingsSummary> = rec.jobs.iter().filter_map(|j| j.findings.as_ref()).collect();
    if !summaries.is_empty() {
        let total = crate::findings::Counts::total(summaries.iter().map(|s| &s.counts));
        let role = if total.critical + total.high > 0 { Role::Failure } else { Role::Muted };
        title.push(Span::styled(format!("· findings {} ", total.badge()), t.fg(role)));
    }
    if let Some(ev) = &run.evidence {
        let today = state.now.to_zoned(jiff::tz::TimeZone::UTC).date();
        for env in crate::ops::run_environments(rec) {
            if let Some(p) = state.policy.environments.get(&env).filter(|p| p.security.max_allowed.is_some()) {
                let pass = ev.judge(&p.security, today).pass;
                let (g, role) = if pass { ("✓", Role::Success) } else { ("✗", Role::Failure) };
                title.push(Span::styled(format!("· gate {env} {g} "), t.status(role)));
            }
        }
    }
    if let Some(note) = &rec.note
        && rec.status == RunStatus::Interrupted
    {
        title.push(Span::styled(format!("· {note} "), t.fg(Role::Aborted)));
    }
    let block = pane_block(state, Pane::Jobs, Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let stages: Vec<_> = rec.stages.iter().filter(|s| rec.jobs_of(&s.name).next().is_some()).collect();
    if stages.is_empty() || inner.width < 4 {
        return;
    }
    let min_col = 16usize;
    let fit = (inner.width as usize / min_col).max(1);
    let sel_col =
        state.selected_job.as_ref().and_then(|k| stages.iter().position(|s| rec.jobs_of(&s.name).any(|j| &j.key == k))).unwrap_or(0);
    let first = if stages.len() <= fit { 0 } else { sel_col.saturating_sub(fit - 1).min(stages.len() - fit) };
    let shown = &stages[first..(first + fit).min(stages.len())];
    let col_w = inner.width as usize / shown.len();
    for (ci, stage) in shown.iter().enumerate() {
        let x = inner.x + (ci * col_w) as u16;
        let w = if ci == shown.len() - 1 { inner.width as usize - ci * col_w } else { col_w };
        let rect = Rect { x, width: w as u16, ..inner };
        let arrow = if first + ci > 0 { "→ " } else { "" };
        let gate = if stage.gate { " ⏸gate" } else { "" };
        let mut lines = vec![Line::styled(
            pad(&format!("{arrow}{}{gate}", stage.name), w.saturating_sub(1)),
            t.fg(Role::Accent).add_modifier(Modifier::BOLD),
        )];
        for job in rec.jobs_of(&stage.name).take(inner.height.saturating_sub(1) as usize) {
            let (g, role) = status::job(job.status);
            let d = job_duration(job, state.now).unwrap_or_default();
            let d = if job.attempts > 1 { format!("↻{} {d}", job.attempts) } else { d };
            // A scan job shows what it found instead of how long it took.
            let d = match &job.findings {
                Some(f) if !f.errors.is_empty() => "⚠ report".to_string(),
                Some(f) => f.counts.badge(),
                None => d,
            };
            let label = if job.matrix.is_empty() { job.stage.clone() } else { job.matrix.values().cloned().collect::<Vec<_>>().join(",") };
            let name_w = w.saturating_sub(3 + width(&d) + 2);
            let mut line = Line::from(vec![
                Span::styled(format!("{g} "), t.status(role)),
                Span::styled(pad(&label, name_w), t.fg(Role::Text)),
                Span::styled(format!(" {d} "), t.fg(Role::Muted)),
            ]);
            if state.selected_job.as_deref() == Some(job.key.as_str()) {
                line = line.style(selection_style(state, Pane::Jobs));
            }
            lines.push(line);
        }
        frame.render_widget(Paragraph::new(lines), rect);
    }
    if first + shown.len() < stages.len() {
        let more = format!("+{}→", stages.len() - first - shown.len());
        let r = Rect { x: inner.right().saturating_sub(width(&more) as u16), y: inner.y, width: width(&more) as u16, height: 1 };
        frame.render_widget(Paragraph::new(Span::styled(more, t.fg(Role::Muted))), r);
    }
}
