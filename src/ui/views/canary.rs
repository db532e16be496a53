//! The canary screen: for each service, canary against stable from Prometheus. Per metric a chart
//! over the selected window with the threshold drawn, and the numbers beside it (a chart is never
//! the only carrier of information); the verdict, why, the firing alerts, and how fresh the data is.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline, Wrap};

use crate::app::state::{CANARY_WINDOWS, State};
use crate::metrics::analysis::{MetricResult, format_value};
use crate::theme::Role;
use crate::ui::widgets::status;
use crate::ui::widgets::text::{pad, truncate};

/// Points of one side of a metric, downsampled (averaged) to at most `width` points.
fn series(m: &MetricResult, canary: bool, width: usize) -> Vec<(f64, f64)> {
    let pts: Vec<(f64, f64)> =
        m.measurements.iter().filter_map(|x| Some((x.time as f64, if canary { x.canary } else { x.stable }.value()?))).collect();
    crate::ui::widgets::spark::downsample(&pts, width)
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let (wname, _) = CANARY_WINDOWS[state.canary.window % CANARY_WINDOWS.len()];
    let mut title = Line::from(vec![
        Span::styled(" Canary vs stable ", t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
        Span::styled(format!("· window {wname} (←/→ change) "), t.fg(Role::Muted)),
    ]);
    if let Some(d) = &state.canary.faults {
        let key = state.keymap.label(crate::keymap::Command::InjectFault).unwrap_or_else(|| ":inject".into());
        let name = |i: usize| d.faults.get(i).map(|f| f.name.as_str()).unwrap_or("?");
        let (text, role) = match d.pending {
            Some(f) => (format!("· demo canary → {}… ", name(f)), Role::Running),
            None if d.is_healthy() => (format!("· demo canary {} ({key} injects a fault) ", name(d.current)), Role::Muted),
            None => {
                let what = d.faults.get(d.current).map(|f| f.description.as_str()).unwrap_or("?");
                (format!("· demo canary {what} ({key} next) "), Role::Warning)
            }
        };
        title.push_span(Span::styled(text, t.fg(role)));
    }
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(title);
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if state.canary.services.is_empty() {
        let msg = "no service is configured for canary analysis — add [prometheus.NAME] and [services.NAME] (see config.example.toml)";
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))).wrap(Wrap { trim: true }), inner);
        return;
    }

    // One line per service: verdict, error-rate delta, a sparkline of the first metric, freshness.
    let w = inner.width as usize;
    for (i, (name, every)) in state.canary.services.iter().enumerate() {
        let y = inner.y + i as u16;
        if y >= inner.bottom() {
            break;
        }
        let d = state.canary.data.get(name);
        let res = d.and_then(|d| d.result.as_ref());
        let (glyph, role) = res.map(|r| status::verdict(r.phase)).unwrap_or(("…", Role::Muted));
        let verdict = res.map(|r| r.phase.label()).unwrap_or("waiting");
        let delta =
            res.and_then(|r| r.error_delta()).map(|d| format!("errors {:+.2}pp", d * 100.0)).unwrap_or_else(|| "errors  n/a".into());
        // To the minute: an idle screen writes nothing; stale data says so loudly.
        let age = match d.and_then(|d| d.last_ok) {
            Some(ts) => {
                let secs = state.now.as_second() - ts.as_second();
                let when = crate::util::age(ts, state.now);
                if secs > 3 * every.max(&30) { format!("STALE: newest sample {when}") } else { format!("newest sample {when}") }
            }
            None if res.is_some_and(|r| r.metrics.is_empty()) => "not measured".into(),
            None => "no data yet".into(),
        };
        let marker = if i == state.canary.selected { "▸ " } else { "  " };
        let left = format!("{marker}{} {glyph} {:<12} {:<16} ", pad(name, 14), verdict, delta);
        let right = format!(" {age}");
        let spark_w = w.saturating_sub(left.chars().count() + right.chars().count()).min(40);
        let style = if i == state.canary.selected { t.selection() } else { t.fg(role) };
        frame.render_widget(Paragraph::new(Line::styled(left.clone(), style)), Rect { y, height: 1, ..inner });
        if let Some(m) = res.and_then(|r| r.metrics.first()) {
            let data: Vec<u64> = series(m, true, spark_w).iter().map(|p| (p.1 * 1000.0).max(0.0) as u64).collect();
            let x = inner.x + left.chars().count() as u16;
            frame.render_widget(
                Sparkline::default().data(&data).style(t.fg(Role::Running)),
                Rect { x, y, width: spark_w as u16, height: 1 },
            );
        }
        let rx = inner.right().saturating_sub(right.chars().count() as u16);
        frame.render_widget(
            Paragraph::new(Span::styled(right, t.fg(if age.starts_with("STALE") { Role::Warning } else { Role::Muted }))),
            Rect { x: rx, y, width: inner.right() - rx, height: 1 },
        );
    }

    let top = state.canary.services.len() as u16 + 1;
    let Some((name, _)) = state.canary.services.get(state.canary.selected) else { return };
    let area = Rect { y: inner.y + top, height: inner.height.saturating_sub(top), ..inner };
    let Some(res) = state.canary.data.get(name).and_then(|d| d.result.as_ref()) else {
        frame.render_widget(Paragraph::new(Line::styled(format!("asking Prometheus about {name}…"), t.fg(Role::Muted))), area);
        return;
    };
    detail(frame, area, state, res);
}

/// The verdict and why (wrapped, never cut), the firing alerts, a legend, and the metrics: a
/// chart each when they fit, else one line each and the chart of the metric that decides.
fn detail(frame: &mut Frame, area: Rect, state: &State, res: &crate::metrics::AnalysisResult) {
    let t = &state.theme;
    let (g, role) = status::verdict(res.phase);
    let score = res.score.map(|s| format!("score {s:.0} · ")).unwrap_or_default();
    let mut head = vec![Line::from(vec![
        Span::styled(format!("{g} {} ", res.phase.label()), t.status(role)),
        Span::styled(format!("{score}{}", crate::logstore::sanitize::plain(&res.reason)), t.fg(Role::Text)),
    ])];
    for a in &res.alerts {
        // Alert names and summaries are whatever the rules' authors wrote.
        let text = crate::logstore::sanitize::plain(&format!("🔔 alert firing: {} {}", a.name, a.summary));
        head.push(Line::styled(text, t.status(Role::Failure)));
    }
    head.push(legend(state));
    let head = Paragraph::new(head).wrap(Wrap { trim: true });
    let head_h = (head.line_count(area.width) as u16).min(area.height);
    frame.render_widget(head, Rect { height: head_h, ..area });
    let charts = Rect { y: area.y + head_h, height: area.height.saturating_sub(head_h), ..area };
    if res.metrics.is_empty() || charts.height < 3 {
        return;
    }
    let n = res.metrics.len() as u16;
    let each = charts.height / n;
    let fits = res
        .metrics
        .iter()
        .all(|m| each >= 6 && numbers(state, m).line_count(numbers_width(charts).saturating_sub(1).max(1)) as u16 <= each);
    if fits {
        for (i, m) in res.metrics.iter().enumerate() {
            metric(frame, Rect { y: charts.y + i as u16 * each, height: each, ..charts }, state, m);
        }
        return;
    }
    // Too small for every chart: a line per metric, and the chart of the one that decides.
    for (i, m) in res.metrics.iter().enumerate() {
        let y = charts.y + i as u16;
        if y >= charts.bottom() {
            return;
        }
        let (g, role) = status::verdict(m.phase);
        let (c, s) = latest(m);
        let p = m.p_value.map(|p| format!("p {p:.4}")).unwrap_or_default();
        let text = format!("{g} {} canary {c:>9}  stable {s:>9}  {p}", pad(&label(m), 22));
        frame.render_widget(
            Paragraph::new(Line::styled(truncate(&text, charts.width as usize), t.fg(role))),
            Rect { y, height: 1, ..charts },
        );
    }
    let shown = deciding(res);
    let top = charts.y + n;
    if let Some(m) = shown.filter(|_| top + 3 <= charts.bottom()) {
        metric(frame, Rect { y: top, height: charts.bottom() - top, ..charts }, state, m);
    }
}

/// The metric worth drawing when only one fits: the worst deciding one.
fn deciding(res: &crate::metrics::AnalysisResult) -> Option<&MetricResult> {
    res.metrics.iter().filter(|m| m.judged && !m.dry_run).max_by_key(|m| m.phase).or(res.metrics.first())
}

fn label(m: &MetricResult) -> String {
    let role = if m.dry_run {
        " (dry run)"
    } else if m.critical {
        " (critical)"
    } else {
        ""
    };
    crate::logstore::sanitize::plain(&format!("{}{role}", m.name))
}

/// What the marks of a chart mean: each has its own glyph as well as its colour.
fn legend(state: &State) -> Line<'static> {
    let t = &state.theme;
    Line::from(vec![
        Span::styled("⣿ canary  ", t.fg(Role::Running)),
        Span::styled("• stable  ", t.fg(Role::Success)),
        Span::styled("▄ limit  ", t.fg(Role::Failure)),
        Span::styled("time → newest sample on the right", t.fg(Role::Muted)),
    ])
}

/// The column of numbers beside a chart (its first cell is a gap).
fn numbers_width(row: Rect) -> u16 {
    34u16.min(row.width / 2).max(1)
}

/// The newest canary and stable readings.
fn latest(m: &MetricResult) -> (String, String) {
    let last = m.measurements.iter().rev().find(|x| x.canary.value().is_some()).or(m.measurements.last());
    last.map(|x| (x.canary.describe(&m.unit), x.stable.describe(&m.unit))).unwrap_or(("-".into(), "-".into()))
}

/// The numbers beside a chart: a chart is never the only carrier of information.
fn numbers<'a>(state: &State, m: &MetricResult) -> Paragraph<'a> {
    let t = &state.theme;
    let (_, role) = status::verdict(m.phase);
    let (c, s) = latest(m);
    let p = m.p_value.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into());
    let mut judge = format!("p = {p}");
    if m.weight != 1.0 {
        judge.push_str(&format!(" · weight {}", m.weight));
    }
    let lines = vec![
        Line::styled(format!("canary  {c}"), t.fg(Role::Running)),
        Line::styled(format!("stable  {s}"), t.fg(Role::Success)),
        Line::styled(format!("limit   {}", m.condition), t.fg(Role::Muted)),
        Line::styled(format!("judge   {judge}"), t.fg(Role::Muted)),
        Line::styled(crate::logstore::sanitize::plain(&m.reason), t.fg(role)),
    ];
    Paragraph::new(lines).wrap(Wrap { trim: true })
}

/// One metric: canary and stable over time with the limit drawn, and the numbers beside it.
pub(super) fn metric(frame: &mut Frame, row: Rect, state: &State, m: &MetricResult) {
    let t = &state.theme;
    let numbers_w = numbers_width(row);
    let chart_area = Rect { width: row.width - numbers_w, ..row };
    let num_area = Rect { x: row.x + chart_area.width, width: numbers_w, ..row };
    let width = chart_area.width.saturating_sub(10) as usize * 2;
    let canary = series(m, true, width);
    let stable = series(m, false, width);
    let (x0, x1) = m.measurements.first().zip(m.measurements.last()).map(|(a, b)| (a.time as f64, b.time as f64)).unwrap_or((0.0, 1.0));
    let threshold = condition_line(m, &stable);
    let threshold_pts: Vec<(f64, f64)> = threshold.map(|v| vec![(x0, v), (x1, v)]).unwrap_or_default();
    let ymax = canary.iter().chain(&stable).map(|p| p.1).chain(threshold).fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let mut sets = vec![
        Dataset::default().name("canary").marker(Marker::Braille).graph_type(GraphType::Line).style(t.fg(Role::Running)).data(&canary),
        Dataset::default().name("stable").marker(Marker::Dot).graph_type(GraphType::Line).style(t.fg(Role::Success)).data(&stable),
    ];
    if !threshold_pts.is_empty() {
        sets.push(
            Dataset::default()
                .name("limit")
                .marker(Marker::Bar)
                .graph_type(GraphType::Line)
                .style(t.fg(Role::Failure))
                .data(&threshold_pts),
        );
    }
    let (g, role) = status::verdict(m.phase);
    // Time labels from the data alone (how far back the chart reaches): an idle screen writes nothing.
    let span = crate::util::age(
        jiff::Timestamp::from_second(x0 as i64).unwrap_or_default(),
        jiff::Timestamp::from_second(x1 as i64).unwrap_or_default(),
    );
    let chart = Chart::new(sets)
        .block(Block::bordered().border_style(t.fg(Role::Border)).title(Line::from(vec![
            Span::styled(format!(" {} ", label(m)), t.fg(Role::Accent)),
            Span::styled(format!("{g} {} ", m.phase.label()), t.status(role)),
        ])))
        .hidden_legend_constraints((Constraint::Length(0), Constraint::Length(0)))
        .x_axis(
            Axis::default()
                .bounds([x0, x1.max(x0 + 1.0)])
                .labels(vec![Span::styled(span.replace(" ago", " before"), t.fg(Role::Muted)), Span::styled("newest", t.fg(Role::Muted))]),
        )
        .y_axis(Axis::default().bounds([0.0, ymax]).labels(vec![Span::raw("0"), Span::raw(format_value(ymax, &m.unit))]));
    frame.render_widget(chart, chart_area);
    frame.render_widget(numbers(state, m), Rect { x: num_area.x + 1, width: num_area.width.saturating_sub(1), ..num_area });
}

/// Where to draw the limit: the absolute maximum, else the relative one against stable's mean.
fn condition_line(m: &MetricResult, stable: &[(f64, f64)]) -> Option<f64> {
    if let Some(max) = m.max {
        return Some(max);
    }
    let ratio = m.max_ratio?;
    if stable.is_empty() {
        return None;
    }
    Some(ratio * stable.iter().map(|p| p.1).sum::<f64>() / stable.len() as f64)
}
