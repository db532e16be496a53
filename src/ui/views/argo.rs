//! Argo Rollouts in one Kubernetes context: the list, what needs a human first, with the
//! connection's state and the age of the data; below, the opened rollout — strategy, steps,
//! desired and actual weight, revisions, analysis runs, what you may do, and a timeline of
//! Kubernetes Events and condition changes. The undo revision picker lists revisions with image
//! and age.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::state::{ArgoConnection, ArgoDetail, State};
use crate::argo::Rollout;
use crate::argo::status::{self, actual_weight, set_weight, step_text};
use crate::logstore::sanitize::plain;
use crate::theme::Role;
use crate::ui::widgets::status as glyphs;
use crate::ui::widgets::text::{centered, heading, pad, truncate};

/// "3m" from an RFC 3339 time to now.
fn age(ts: Option<&str>, now: jiff::Timestamp) -> String {
    ts.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| crate::util::format_duration(std::time::Duration::from_secs((now.as_second() - t.as_second()).max(0) as u64)))
        .unwrap_or_else(|| "-".into())
}

fn row(r: &Rollout, st: &status::State, w: usize) -> String {
    let (g, _) = glyphs::argo(st);
    let text = format!(
        "{g} {} {} {} {:>6} {:>9}",
        pad(&plain(&r.metadata.namespace), 14),
        pad(&plain(&r.metadata.name), 22),
        pad(&plain(&st.describe()), w.saturating_sub(2 + 15 + 23 + 17).max(10)),
        step_text(r).unwrap_or_else(|| "-".into()),
        status::weight_text(r),
    );
    truncate(&text, w)
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let a = &state.argo;
    let scope = a.namespace.clone().unwrap_or_else(|| "all namespaces".into());
    let (chip, chip_role) = match &a.connection {
        _ if !a.enabled => ("not configured".to_string(), Role::Muted),
        ArgoConnection::Connecting => ("connecting…".to_string(), Role::Running),
        // A live watch is current by definition; the age of the data matters only once it is not.
        ArgoConnection::Live => ("● live".to_string(), Role::Success),
        ArgoConnection::Retrying(e) => {
            let since = a.last_update.map(|u| format!(" · data from {}", crate::util::age(u, state.now))).unwrap_or_default();
            (format!("⟳ reconnecting{since}: {}", plain(e)), Role::Warning)
        }
    };
    let env = a.environment().map(|e| format!(" · env {e}")).unwrap_or_default();
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(vec![
        Span::styled(
            format!(" Kubernetes · {} · {scope}{env} · {} rollouts ", plain(&a.context), a.rollouts.len()),
            t.fg(Role::Accent).add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{chip} "), t.fg(chip_role)),
    ]));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if !a.enabled {
        let msg =
            "no Kubernetes is configured — add [kubernetes] (kubeconfig, context, environments) to the config; see config.example.toml";
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))).wrap(Wrap { trim: true }), inner);
        return;
    }
    let w = inner.width as usize;
    let list_h = if a.detail.is_some() { (inner.height / 3).max(4) } else { inner.height };
    let mut lines = vec![heading(
        &format!(
            "  {} {} {} {:>6} {:>9}",
            pad("NAMESPACE", 14),
            pad("NAME", 22),
            pad("STATUS", w.saturating_sub(2 + 15 + 23 + 17).max(10)),
            "STEP",
            "WEIGHT"
        ),
        w,
        t,
    )];
    let ordered = a.ordered(state.now);
    if ordered.is_empty() {
        let msg = match &a.connection {
            ArgoConnection::Live => format!("no Argo Rollouts in {scope}"),
            _ => "waiting for the API server…".into(),
        };
        lines.push(Line::styled(msg, t.fg(Role::Muted)));
    }
    // Keep the cursor in view: 1,000 rollouts scroll.
    let rows = (list_h as usize).saturating_sub(1).max(1);
    let cursor = a.cursor(&ordered);
    let start = cursor.saturating_sub(rows.saturating_sub(1));
    for (i, r) in ordered.iter().enumerate().skip(start).take(rows) {
        let st = status::state(r, state.now);
        let style = if i == cursor { t.selection() } else { t.fg(glyphs::argo(&st).1) };
        lines.push(Line::styled(row(r, &st, w), style));
    }
    frame.render_widget(Paragraph::new(lines), Rect { height: list_h, ..inner });
    if let Some(d) = &a.detail {
        let area = Rect { y: inner.y + list_h, height: inner.height.saturating_sub(list_h), ..inner };
        if let Some(r) = a.rollouts.get(&d.key) {
            detail(frame, area, state, r, d);
        }
        if let (Some(i), Some(r)) = (a.picker, a.rollouts.get(&d.key)) {
            picker(frame, body, state, r, d, i);
        }
    }
}

fn detail(frame: &mut Frame, area: Rect, state: &State, r: &Rollout, d: &ArgoDetail) {
    // With a service judging this canary and room to spare, its charts take the right side.
    let result = state.argo.services.get(&d.key).and_then(|s| state.canary.data.get(s)).and_then(|c| c.result.as_ref());
    let area = match result.filter(|res| !res.metrics.is_empty() && area.width >= 140 && area.height >= 8) {
        Some(res) => {
            let charts_w = area.width * 9 / 20;
            let charts = Rect { x: area.right() - charts_w, width: charts_w, y: area.y + 1, height: area.height.saturating_sub(1) };
            let each = (charts.height / res.metrics.len() as u16).max(4);
            for (i, m) in res.metrics.iter().enumerate() {
                let y = charts.y + i as u16 * each;
                if y + 4 > charts.bottom() {
                    break;
                }
                super::canary::metric(frame, Rect { y, height: each.min(charts.bottom() - y), ..charts }, state, m);
            }
            Rect { width: area.width - charts_w - 1, ..area }
        }
        None => area,
    };
    let t = &state.theme;
    let w = area.width as usize;
    let now = state.now;
    let st = status::state(r, now);
    let (g, role) = glyphs::argo(&st);
    let strategy = if r.is_blue_green() { "blue-green" } else { "canary" };
    let revision = r.metadata.annotations.get(crate::argo::model::REVISION).cloned().unwrap_or_else(|| "-".into());
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", plain(&r.key())), t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
            Span::styled(
                format!("· {strategy} · revision {} · generation {}", plain(&revision), r.metadata.generation.unwrap_or(0)),
                t.fg(Role::Muted),
            ),
        ]),
        Line::styled(truncate(&format!("{g} {}", plain(&st.describe())), w), t.status(role)),
    ];
    // Steps, the current one marked.
    if !r.steps().is_empty() {
        let mut spans = vec![Span::styled("steps ", t.fg(Role::Muted))];
        for (i, s) in r.steps().iter().enumerate() {
            let style = if i == r.step_index() {
                t.status(Role::Running).add_modifier(Modifier::REVERSED)
            } else if i < r.step_index() {
                t.fg(Role::Success)
            } else {
                t.fg(Role::Muted)
            };
            spans.push(Span::styled(format!(" {} ", plain(&s.describe())), style));
        }
        lines.push(Line::from(spans));
    }
    if r.is_blue_green() {
        let b = &r.status.blue_green;
        lines.push(Line::styled(
            plain(&format!(
                "active service → {} · preview → {}",
                b.active_selector.as_deref().unwrap_or("-"),
                b.preview_selector.as_deref().unwrap_or("-")
            )),
            t.fg(Role::Text),
        ));
    } else {
        lines.push(Line::styled(format!("weight: desired {} % · actual {} %", set_weight(r), actual_weight(r)), t.fg(Role::Text)));
    }
    if let Some(service) = state.argo.services.get(&d.key) {
        let res = state.canary.data.get(service).and_then(|c| c.result.as_ref());
        let (delta, trend) = super::overview::error_summary(state, service);
        let text = match res {
            Some(res) => {
                let (g, _) = glyphs::verdict(res.phase);
                let errors = format!("errors Δ {delta} {trend}");
                format!(
                    "canary analysis ({service}): {g} {} · {} · {} (5 shows the charts)",
                    res.phase.label(),
                    errors.trim_end(),
                    res.reason
                )
            }
            None => format!("canary analysis ({service}): asking Prometheus…"),
        };
        let role = res.map(|r| glyphs::verdict(r.phase).1).unwrap_or(Role::Muted);
        lines.push(Line::styled(truncate(&plain(&text), w), t.fg(role)));
    }
    if !d.loaded {
        lines.push(Line::styled("reading revisions, analysis runs, events and permissions…", t.fg(Role::Muted)));
    }
    if let Some(e) = &d.error {
        lines.push(Line::styled(truncate(&format!("⚠ {}", plain(e)), w), t.status(Role::Warning)));
    }
    if let Some(p) = &d.permissions {
        let mark = |a: &crate::argo::client::Access| if a.allowed { "✓".to_string() } else { format!("✗ ({})", plain(&a.reason)) };
        lines.push(Line::styled(
            truncate(&format!("you may: patch {} · patch status {}", mark(&p.patch), mark(&p.patch_status)), w),
            t.fg(if p.patch.allowed && p.patch_status.allowed { Role::Muted } else { Role::Warning }),
        ));
    }
    if !d.revisions.is_empty() {
        lines.push(Line::styled("revisions", t.fg(Role::Muted)));
        for rs in &d.revisions {
            lines.push(Line::styled(truncate(&revision_line(r, rs, now), w), t.fg(Role::Text)));
        }
    }
    for run in &d.analysis_runs {
        let name = run["metadata"]["name"].as_str().unwrap_or("?");
        let phase = run["status"]["phase"].as_str().unwrap_or("Pending");
        let mut text = format!("analysis {name}: {phase}");
        for m in run["status"]["metricResults"].as_array().into_iter().flatten() {
            let last = m["measurements"].as_array().and_then(|v| v.last());
            text.push_str(&format!(
                " · {} {} (last {})",
                m["name"].as_str().unwrap_or("?"),
                m["phase"].as_str().unwrap_or("?"),
                last.and_then(|l| l["value"].as_str()).unwrap_or("-")
            ));
        }
        lines.push(Line::styled(truncate(&plain(&text), w), t.fg(Role::Text)));
    }
    lines.push(Line::styled("timeline", t.fg(Role::Muted)));
    let room = (area.height as usize).saturating_sub(lines.len() + 1);
    for (when, text) in timeline(r, d, &state.audit.records).into_iter().take(room) {
        lines.push(Line::styled(truncate(&plain(&format!("  {:>6}  {text}", age(Some(&when), now))), w), t.fg(Role::Text)));
    }
    frame.render_widget(Paragraph::new(lines), Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area });
}

fn revision_line(r: &Rollout, rs: &crate::argo::model::ReplicaSet, now: jiff::Timestamp) -> String {
    let hash = rs.hash().unwrap_or("");
    let tag = if Some(hash) == r.status.stable_rs.as_deref() {
        "stable"
    } else if Some(hash) == r.status.current_pod_hash.as_deref() {
        "canary"
    } else if Some(hash) == r.status.blue_green.active_selector.as_deref() {
        "active"
    } else if Some(hash) == r.status.blue_green.preview_selector.as_deref() {
        "preview"
    } else {
        ""
    };
    plain(&format!(
        "  rev {:<3} {} {} ready {}/{}  {:>6}  {}",
        rs.revision(),
        pad(&rs.metadata.name, 26),
        pad(tag, 7),
        rs.status.ready_replicas.unwrap_or(0),
        rs.spec.replicas.unwrap_or(0),
        age(rs.metadata.creation_timestamp.as_deref(), now),
        rs.images().join(", ")
    ))
}

/// Kubernetes Events, condition changes and flightdeck's own journal records, newest first.
fn timeline(r: &Rollout, d: &ArgoDetail, journal: &[crate::audit::AuditRecord]) -> Vec<(String, String)> {
    let mut items: Vec<(String, String)> = Vec::new();
    for rec in journal.iter().filter(|j| j.target == d.key && j.phase != crate::audit::Phase::Intent) {
        let why = if rec.reason.is_empty() { String::new() } else { format!(" — {}", rec.reason) };
        items.push((rec.time.clone(), format!("flightdeck {} by {}: {}{why}", rec.action, rec.actor, rec.result)));
    }
    for e in &d.events {
        let when = e["lastTimestamp"].as_str().or(e["eventTime"].as_str()).or(e["firstTimestamp"].as_str()).unwrap_or("");
        let kind = if e["type"] == "Warning" { "⚠ " } else { "" };
        items.push((when.to_string(), format!("{kind}{}: {}", e["reason"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""))));
    }
    for c in &r.status.conditions {
        if let Some(when) = &c.last_transition_time {
            items.push((when.clone(), format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message)));
        }
    }
    for p in &r.status.pause_conditions {
        if let Some(when) = &p.start_time {
            items.push((when.clone(), format!("paused: {}", p.reason)));
        }
    }
    if let Some(when) = &r.status.aborted_at {
        items.push((when.clone(), "aborted".into()));
    }
    items.sort_by(|a, b| b.0.cmp(&a.0));
    items
}

fn picker(frame: &mut Frame, body: Rect, state: &State, r: &Rollout, d: &ArgoDetail, cursor: usize) {
    let t = &state.theme;
    let h = (d.revisions.len() as u16 + 4).min(body.height);
    let area = centered(body, 90, h);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_style(t.border(true))
        .title(Span::styled(format!(" Undo {} to which revision? ", plain(&r.key())), t.fg(Role::Accent).add_modifier(Modifier::BOLD)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = d
        .revisions
        .iter()
        .enumerate()
        .map(|(i, rs)| {
            let current = rs.hash().is_some() && rs.hash() == r.status.current_pod_hash.as_deref();
            let mut text = revision_line(r, rs, state.now);
            if current {
                text.push_str("  (running now)");
            }
            Line::styled(truncate(&text, inner.width as usize), if i == cursor { t.selection() } else { t.fg(Role::Text) })
        })
        .collect();
    let k = |cmd| state.keymap.first(cmd);
    let hint = format!(
        "{}/{} move · {} asks to confirm · {} cancels",
        k(crate::keymap::Command::Up),
        k(crate::keymap::Command::Down),
        k(crate::keymap::Command::PickerChoose),
        k(crate::keymap::Command::PickerClose)
    );
    lines.push(Line::styled(hint, t.fg(Role::Muted)));
    frame.render_widget(Paragraph::new(lines), inner);
}
