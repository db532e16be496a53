//! The release overview: environments × services, one row per rollout — version, phase (with the
//! countdown of a timed pause), canary weight, error-rate delta against stable, the findings of the
//! latest run that deploys there and its pending approvals — what needs a human first. Below, the
//! selected rollout: its steps with the current one marked, the verdict, and its history.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::releases::Release;
use crate::app::state::State;
use crate::rollout::{Phase, Record, RolloutSpec, Step};
use crate::theme::Role;
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

fn errors(state: &State, spec: &RolloutSpec) -> (String, String) {
    error_summary(state, spec.service.as_deref().unwrap_or(&spec.name))
}

/// The canary's error ratio minus stable's, in percentage points, and a sparkline of the canary's
/// error ratio, from the canary analysis of `service`.
pub(super) fn error_summary(state: &State, service: &str) -> (String, String) {
    let Some(result) = state.canary.data.get(service).and_then(|d| d.result.as_ref()) else {
        return ("n/a".into(), String::new());
    };
    let delta = result.error_delta().map(|d| format!("{:+.2}pp", d * 100.0)).unwrap_or_else(|| "n/a".into());
    let trend = result
        .metrics
        .iter()
        .find(|m| m.unit == "ratio")
        .map(|m| {
            let v: Vec<f64> = m.measurements.iter().filter_map(|x| x.canary.value()).collect();
            crate::ui::widgets::spark::line(&v, TREND)
        })
        .unwrap_or_default();
    (delta, trend)
}

/// Width of the error-ratio sparkline.
const TREND: usize = 8;

/// Findings badge of the run behind the rollout (see `State::release_run`, and an Argo Rollout's
/// `flightdeck.dev/run`), and the gates waiting for the rollout's environment.
fn release_evidence(state: &State, env: Option<&str>, run: Option<crate::domain::RunRef>) -> (String, usize) {
    let waiting = state
        .waiting_gates()
        .iter()
        .filter(|(_, j)| env.is_none() || j.gate.as_ref().and_then(|g| g.environment.as_deref()) == env)
        .count();
    let badge = run
        .and_then(|id| state.run(&id))
        .map(|r| {
            let sums: Vec<&crate::domain::FindingsSummary> = r.record.jobs.iter().filter_map(|j| j.findings.as_ref()).collect();
            if sums.is_empty() {
                format!("#{} -", r.record.id)
            } else {
                format!("#{} {}", r.record.id, crate::findings::Counts::total(sums.iter().map(|s| &s.counts)).badge())
            }
        })
        .unwrap_or_else(|| "-".into());
    (badge, waiting)
}

/// A table column: header, width, right-aligned, and priority (lower stays longer on narrow
/// terminals).
struct Column {
    header: &'static str,
    width: usize,
    right: bool,
    priority: u8,
}

const COLUMNS: [Column; 10] = [
    Column { header: "ENV", width: 8, right: false, priority: 1 },
    Column { header: "SERVICE", width: 14, right: false, priority: 0 },
    Column { header: "VERSION", width: 16, right: false, priority: 2 },
    Column { header: "PHASE", width: 16, right: false, priority: 0 },
    Column { header: "STEP", width: 5, right: true, priority: 5 },
    Column { header: "CANARY", width: 6, right: true, priority: 1 },
    Column { header: "ERRORS Δ", width: 9, right: true, priority: 3 },
    Column { header: "TREND", width: TREND, right: false, priority: 6 },
    Column { header: "FINDINGS", width: 14, right: false, priority: 7 },
    Column { header: "APPROVALS", width: 9, right: true, priority: 4 },
];

/// Which columns fit in `width` (after the status glyph), in table order.
fn visible_columns(width: usize) -> Vec<usize> {
    let mut by_priority: Vec<usize> = (0..COLUMNS.len()).collect();
    by_priority.sort_by_key(|&i| COLUMNS[i].priority);
    let mut used = 2;
    let mut shown = Vec::new();
    for i in by_priority {
        if used + COLUMNS[i].width < width {
            used += COLUMNS[i].width + 1;
            shown.push(i);
        }
    }
    shown.sort_unstable();
    shown
}

/// One table line: each cell made plain (cells carry outside text) and then fitted to its column.
fn table_line(shown: &[usize], lead: &str, cells: &[String]) -> String {
    let mut line = lead.to_string();
    for &i in shown {
        let c = &COLUMNS[i];
        let text = pad(&crate::logstore::sanitize::plain(&cells[i]), c.width);
        let text = if c.right { format!("{:>w$}", text.trim_end(), w = c.width) } else { text };
        line.push(' ');
        line.push_str(&text);
    }
    line
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let rows = state.releases();
    let argo = if state.argo.enabled { format!(" (Argo Rollouts of {})", plain_text(&state.argo.context)) } else { String::new() };
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(Span::styled(
        format!(" Releases · {} rollout{}{argo} ", rows.len(), if rows.len() == 1 { "" } else { "s" }),
        t.fg(Role::Accent).add_modifier(Modifier::BOLD),
    )));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if rows.is_empty() {
        let msg = if state.argo.enabled && !state.argo.watching {
            "no NGINX rollout is configured; the Argo Rollouts of the Kubernetes context are listed here once 7 has been visited"
        } else {
            "no rollout is configured — add [rollouts.NAME] with its NGINX upstream and steps, or [kubernetes] for Argo Rollouts (see config.example.toml)"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))).wrap(Wrap { trim: true }), inner);
        return;
    }
    let w = inner.width as usize;
    let shown = visible_columns(w);
    let headers: Vec<String> = COLUMNS.iter().map(|c| c.header.to_string()).collect();
    let mut lines = vec![heading(&table_line(&shown, " ", &headers), w, t)];
    // Only the rows that fit are built (a context may hold a thousand rollouts), leaving room for
    // the selected one's detail, and the window follows the cursor.
    const DETAIL_ROWS: u16 = 8;
    let capacity = (inner.height.saturating_sub(DETAIL_ROWS + 2) as usize).max(3);
    let cursor = state.release_cursor(&rows);
    let offset = cursor.saturating_sub(capacity - 1);
    for (i, row) in rows.iter().enumerate().skip(offset).take(capacity) {
        let (glyph, role, cells) = match row {
            Release::Nginx(spec, rec) => nginx_row(state, spec, *rec),
            Release::Argo(r) => argo_row(state, r),
        };
        let style = if i == cursor { t.selection() } else { t.fg(role) };
        lines.push(Line::styled(truncate(&table_line(&shown, glyph, &cells), w), style));
    }
    let table_h = (lines.len() as u16 + 1).min(inner.height);
    frame.render_widget(Paragraph::new(lines), Rect { height: table_h, ..inner });
    let rest = Rect { y: inner.y + table_h, height: inner.height.saturating_sub(table_h), ..inner };
    match rows.get(cursor).copied() {
        Some(Release::Nginx(spec, rec)) => detail(frame, rest, state, spec, rec),
        Some(Release::Argo(r)) => {
            let st = crate::argo::status::state(r, state.now);
            let lines = vec![
                Line::styled(format!("{} · Argo Rollout in {}", r.key(), plain_text(&state.argo.context)), t.fg(Role::Accent)),
                Line::styled(truncate(&plain_text(&st.describe()), rest.width as usize), t.fg(Role::Text)),
                Line::styled("enter opens it on the Kubernetes screen (steps, revisions, analysis, timeline)", t.fg(Role::Muted)),
            ];
            frame.render_widget(Paragraph::new(lines), Rect { y: rest.y + 1, height: rest.height.saturating_sub(1), ..rest });
        }
        None => {}
    }
}

fn plain_text(s: &str) -> String {
    crate::logstore::sanitize::plain(s)
}

/// An Argo Rollout's row: its state, step, weight, and the run linked to it.
fn argo_row(state: &State, r: &crate::argo::Rollout) -> (&'static str, Role, [String; 10]) {
    let st = crate::argo::status::state(r, state.now);
    let (glyph, role) = status::argo(&st);
    let env = state.argo.environment();
    let (badge, waiting) = release_evidence(state, env, r.release_run());
    let (delta, trend) = match state.argo.services.get(&r.key()) {
        Some(service) => error_summary(state, service),
        None => ("-".into(), String::new()),
    };
    let cells = [
        env.unwrap_or("-").to_string(),
        r.key(),
        "argo".into(),
        st.describe(),
        crate::argo::status::step_text(r).unwrap_or_else(|| "-".into()),
        format!("{} %", crate::argo::status::actual_weight(r)),
        delta,
        trend,
        badge,
        if waiting > 0 { format!("{waiting} waiting") } else { "-".into() },
    ];
    (glyph, role, cells)
}

/// An NGINX canary's row.
fn nginx_row(state: &State, spec: &RolloutSpec, rec: Option<&Record>) -> (&'static str, Role, [String; 10]) {
    let view = &state.rollouts;
    let (glyph, role) = rec.map(|r| status::rollout(r.phase)).unwrap_or(("…", Role::Muted));
    let phase = match (rec, view.errors.get(&spec.name)) {
        (_, Some(_)) => "unreadable".to_string(),
        (Some(r), None) => phase_text(state, r),
        (None, None) => "loading".into(),
    };
    let version = rec
        .map(|r| match (&r.stable_version, &r.version) {
            // Fully promoted: the new version serves everything.
            (_, Some(v)) if r.phase == Phase::Healthy && r.weight >= 100 => v.clone(),
            (s, Some(v)) if r.phase != Phase::Healthy || r.weight > 0 => format!("{} → {v}", s.as_deref().unwrap_or("stable")),
            (Some(s), _) => s.clone(),
            _ => "-".into(),
        })
        .unwrap_or_default();
    let step = rec.map(|r| format!("{}/{}", (r.step + 1).min(spec.steps.len()), spec.steps.len())).unwrap_or_default();
    let weight = rec.map(|r| format!("{} %", r.weight)).unwrap_or_default();
    let (badge, waiting) = release_evidence(state, spec.environment.as_deref(), state.release_run(spec));
    let (delta, trend) = errors(state, spec);
    let cells = [
        spec.environment.clone().unwrap_or_else(|| "-".into()),
        spec.name.clone(),
        version,
        phase,
        step,
        weight,
        delta,
        trend,
        badge,
        if waiting > 0 { format!("{waiting} waiting") } else { "-".into() },
    ];
    (glyph, role, cells)
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
