//! The release overview: environments × services, one row per rollout — version, phase (with the
//! countdown of a timed pause), canary weight, error-rate delta against stable, the findings of the
//! latest run that deploys there and its pending approvals — what needs a human first. Below, the
//! selected rollout: its steps with the current one marked, the verdict, and its history.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::state::State;
use crate::rollout::{Phase, Record, RolloutSpec, Step};
use crate::ui::theme::Role;
use crate::ui::widgets::status;
use crate::ui::widgets::text::{heading, pad, truncate};

/// Phase with the countdown of a timed pause.
fn phase_text(state: &State, rec: &Record) -> String {
    let mut s = rec.phase.label().to_string();
    if let Some(until) = rec.pause.as_ref().and_then(|p| p.until) {
        let left = (until.as_second() - state.now.as_second()).max(0);
        s.push_str(&format!(" {left}s"));
    }
    s
}

/// The canary's error ratio minus stable's, from the canary analysis, in percentage points.
fn error_delta(state: &State, spec: &RolloutSpec) -> String {
    let service = spec.service.as_deref().unwrap_or(&spec.name);
    let delta = state.canary.data.get(service).and_then(|d| d.result.as_ref()).and_then(|r| r.error_delta());
    delta.map(|d| format!("{:+.2}pp", d * 100.0)).unwrap_or_else(|| "n/a".into())
}

/// Findings badge and waiting gates of the latest run that deploys to the rollout's environment.
fn release_evidence(state: &State, spec: &RolloutSpec) -> (String, usize) {
    let env = spec.environment.as_deref();
    let runs: Vec<&crate::domain::RunRecord> = state
        .runs
        .iter()
        .map(|r| &r.record)
        .filter(|r| env.is_none_or(|e| r.stages.iter().any(|s| s.environment.as_deref() == Some(e))))
        .collect();
    let waiting = runs.iter().map(|r| r.waiting_gates().count()).sum();
    let badge = runs
        .first()
        .map(|r| {
            let sums: Vec<&crate::domain::FindingsSummary> = r.jobs.iter().filter_map(|j| j.findings.as_ref()).collect();
            if sums.is_empty() {
                "-".to_string()
            } else {
                format!("#{} {}", r.id, crate::findings::Counts::total(sums.iter().map(|s| &s.counts)).badge())
            }
        })
        .unwrap_or_else(|| "-".into());
    (badge, waiting)
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let view = &state.rollouts;
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(Span::styled(
        format!(" Releases · {} rollout{} ", view.specs.len(), if view.specs.len() == 1 { "" } else { "s" }),
        t.fg(Role::Accent).add_modifier(Modifier::BOLD),
    )));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if view.specs.is_empty() {
        let msg = "no rollout is configured — add [rollouts.NAME] with its NGINX upstream and steps (see config.example.toml)";
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))).wrap(Wrap { trim: true }), inner);
        return;
    }
    let w = inner.width as usize;
    let mut lines = vec![heading(
        &format!(
            "  {:<8} {:<16} {:<18} {:<16} {:>6} {:>7} {:>9} {:<16} {:>9}",
            "ENV", "SERVICE", "VERSION", "PHASE", "STEP", "CANARY", "ERRORS Δ", "FINDINGS", "APPROVALS"
        ),
        w,
        t,
    )];
    let ordered = view.ordered();
    for (i, spec) in ordered.iter().enumerate() {
        let rec = view.records.get(&spec.name);
        let (glyph, role) = rec.map(|r| status::rollout(r.phase)).unwrap_or(("…", Role::Muted));
        let phase = match (rec, view.errors.get(&spec.name)) {
            (_, Some(_)) => "unreadable".to_string(),
            (Some(r), None) => phase_text(state, r),
            (None, None) => "loading".into(),
        };
        let version = rec
            .map(|r| match (&r.stable_version, &r.version) {
                (s, Some(v)) if r.phase != Phase::Healthy || r.weight > 0 => format!("{} → {v}", s.as_deref().unwrap_or("stable")),
                (Some(s), _) => s.clone(),
                _ => "-".into(),
            })
            .unwrap_or_default();
        let step = rec.map(|r| format!("{}/{}", (r.step + 1).min(spec.steps.len()), spec.steps.len())).unwrap_or_default();
        let weight = rec.map(|r| format!("{} %", r.weight)).unwrap_or_default();
        let (badge, waiting) = release_evidence(state, spec);
        let text = format!(
            "{} {:<8} {:<16} {:<18} {:<16} {:>6} {:>7} {:>9} {:<16} {:>9}",
            glyph,
            pad(spec.environment.as_deref().unwrap_or("-"), 8),
            pad(&spec.name, 16),
            pad(&version, 18),
            pad(&phase, 16),
            step,
            weight,
            error_delta(state, spec),
            pad(&badge, 16),
            if waiting > 0 { format!("{waiting} waiting") } else { "-".into() },
        );
        let style = if i == view.cursor { t.selection() } else { t.fg(role) };
        // Versions and actors come from outside (a pipeline's --version, the environment).
        lines.push(Line::styled(truncate(&crate::logstore::sanitize::plain(&text), w), style));
    }
    let table_h = (lines.len() as u16 + 1).min(inner.height);
    frame.render_widget(Paragraph::new(lines), Rect { height: table_h, ..inner });
    let rest = Rect { y: inner.y + table_h, height: inner.height.saturating_sub(table_h), ..inner };
    if let Some((spec, rec)) = view.selected() {
        detail(frame, rest, state, spec, rec);
    }
}

fn detail(frame: &mut Frame, area: Rect, state: &State, spec: &RolloutSpec, rec: Option<&Record>) {
    let t = &state.theme;
    let plain = crate::logstore::sanitize::plain;
    let mut lines = Vec::new();
    let mut title = vec![Span::styled(format!("{} ", spec.name), t.fg(Role::Accent).add_modifier(Modifier::BOLD))];
    title.push(Span::styled(
        format!("· NGINX upstream `{}` · {} · on failure: {:?}", spec.nginx.upstream, spec.nginx.include.display(), spec.on_failure),
        t.fg(Role::Muted),
    ));
    lines.push(Line::from(title));
    if let Some(e) = state.rollouts.errors.get(&spec.name) {
        lines.push(Line::styled(format!("⚠ {}", plain(e)), t.status(Role::Failure)));
    }
    let Some(rec) = rec else {
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    // Steps, the current one marked.
    let mut steps = vec![Span::styled("steps ", t.fg(Role::Muted))];
    for (i, s) in spec.steps.iter().enumerate() {
        let label = match s {
            Step::SetWeight(w) => format!("{w}%"),
            Step::Pause(Some(d)) => format!("pause {}", crate::util::format_duration(*d)),
            Step::Pause(None) => "pause ∞".into(),
            Step::Analysis(d) => format!("analysis {}", crate::util::format_duration(*d)),
        };
        let style = if i == rec.step && matches!(rec.phase, Phase::Progressing | Phase::Paused) {
            t.status(Role::Running).add_modifier(Modifier::REVERSED)
        } else if i < rec.step {
            t.fg(Role::Success)
        } else {
            t.fg(Role::Muted)
        };
        steps.push(Span::styled(format!(" {label} "), style));
        steps.push(Span::styled("→", t.fg(Role::Muted)));
    }
    steps.pop();
    lines.push(Line::from(steps));
    let (g, role) = status::rollout(rec.phase);
    let mut status = format!("{g} {} · canary {} % · revision {}", phase_text(state, rec), rec.weight, rec.revision);
    if let Some(p) = &rec.pause {
        status.push_str(&format!(" · {}", p.reason));
    }
    if let Some(c) = &rec.cause {
        status.push_str(&format!(" · {c}"));
    }
    lines.push(Line::styled(truncate(&plain(&status), area.width as usize), t.status(role)));
    if let Some(v) = &rec.verdict {
        lines.push(Line::styled(truncate(&format!("analysis: {}", plain(&v.to_string())), area.width as usize), t.fg(Role::Text)));
    }
    lines.push(Line::styled("history", t.fg(Role::Muted)));
    let room = (area.height as usize).saturating_sub(lines.len() + 1);
    for h in rec.history.iter().rev().take(room) {
        let when = h.at.strftime("%H:%M:%S");
        lines.push(Line::styled(
            truncate(&plain(&format!("  {when}  {:>3} %  {:<10} {}", h.weight, pad(&h.actor, 10), h.event)), area.width as usize),
            t.fg(Role::Text),
        ));
    }
    frame.render_widget(Paragraph::new(lines), Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area });
}
