//! The releases: every rollout of every provider, one row each — environment, name, provider,
//! version, state (with the countdown of a timed pause), step, canary weight, error-rate delta
//! against stable, the findings of the run behind it and its pending approvals — what needs a
//! human first. Below, the selected release: its steps with the current one marked, the verdict,
//! and its timeline.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::state::State;
use crate::delivery::{FeedState, Release};
use crate::theme::Role;
use crate::ui::widgets::status;
use crate::ui::widgets::text::{heading, pad, truncate};

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

/// Findings badge of the run behind the release (see `State::release_run`), and the gates waiting
/// for its environment.
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

const COLUMNS: [Column; 11] = [
    Column { header: "ENV", width: 8, right: false, priority: 1 },
    Column { header: "RELEASE", width: 18, right: false, priority: 0 },
    Column { header: "BY", width: 5, right: false, priority: 8 },
    Column { header: "VERSION", width: 16, right: false, priority: 2 },
    Column { header: "STATE", width: 16, right: false, priority: 0 },
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
    // Where the rows come from, and how each feed is doing.
    let feeds: Vec<String> = state
        .releases
        .feeds
        .values()
        .map(|f| match &f.state {
            FeedState::Live => plain_text(&f.label),
            FeedState::Connecting => format!("{} connecting…", plain_text(&f.label)),
            FeedState::Retrying(e) => {
                let since =
                    state.releases.last_update.map(|u| format!(", data from {}", crate::util::age(u, state.now))).unwrap_or_default();
                format!("{} ⟳ reconnecting{since}: {}", plain_text(&f.label), plain_text(e))
            }
        })
        .collect();
    let from = if feeds.is_empty() { String::new() } else { format!(" · {}", feeds.join(" · ")) };
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(Span::styled(
        format!(" Releases · {} rollout{}{from} ", rows.len(), if rows.len() == 1 { "" } else { "s" }),
        t.fg(Role::Accent).add_modifier(Modifier::BOLD),
    )));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if rows.is_empty() {
        let msg = if state.releases.enabled() {
            "no rollout reported yet by the configured providers"
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
    let capacity = crate::app::releases::releases_capacity(inner.height);
    let cursor = state.release_cursor(&rows);
    let window = State::release_window(rows.len(), cursor, capacity);
    for (i, row) in rows.iter().enumerate().skip(window.start).take(window.len()) {
        let (glyph, role) = status::release(row.health);
        let cells = cells(state, row);
        let style = if i == cursor { t.selection() } else { t.fg(role) };
        lines.push(Line::styled(truncate(&table_line(&shown, glyph, &cells), w), style));
    }
    let table_h = (lines.len() as u16 + 1).min(inner.height);
    frame.render_widget(Paragraph::new(lines), Rect { height: table_h, ..inner });
    let rest = Rect { y: inner.y + table_h, height: inner.height.saturating_sub(table_h), ..inner };
    if let Some(r) = rows.get(cursor) {
        let area = Rect { y: rest.y + 1, height: rest.height.saturating_sub(1), ..rest };
        super::release::summary(frame, area, state, r, true);
    }
}

fn plain_text(s: &str) -> String {
    crate::logstore::sanitize::plain(s)
}

/// A release's row.
fn cells(state: &State, r: &Release) -> [String; 11] {
    let (badge, waiting) = release_evidence(state, r.environment.as_deref(), state.release_run(r));
    let (delta, trend) = match &r.service {
        Some(service) => error_summary(state, service),
        None => ("-".into(), String::new()),
    };
    [
        r.environment.clone().unwrap_or_else(|| "-".into()),
        r.reference.short(),
        r.reference.provider.clone(),
        r.version_text(),
        r.state_at(state.now),
        r.step_text(),
        r.weight.map(|w| format!("{w} %")).unwrap_or_else(|| "-".into()),
        delta,
        trend,
        badge,
        if waiting > 0 { format!("{waiting} waiting") } else { "-".into() },
    ]
}
