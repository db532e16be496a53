//! The findings screen: the selected run's security findings, most severe first, filterable
//! (`sev:high`, `tool:trivy`, `fixable`, free text), the gate's verdict per environment, and the
//! detail of the selected finding.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::selectors::{visible_failures, visible_findings};
use crate::app::state::State;
use crate::findings::{Counts, Severity};
use crate::logstore::sanitize::plain;
use crate::ops::run_environments;
use crate::theme::Role;
use crate::ui::widgets::text::{heading, pad, truncate};

pub fn severity_role(s: Severity) -> Role {
    match s {
        Severity::Critical | Severity::High => Role::Failure,
        Severity::Medium => Role::Warning,
        Severity::Low => Role::Info,
        Severity::Info => Role::Muted,
    }
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let Some(run) = state.current_run() else {
        let block = Block::bordered().border_style(t.border(true)).title(" Findings ");
        let inner = block.inner(body);
        frame.render_widget(block, body);
        frame.render_widget(Paragraph::new(Line::styled("select a run on the pipelines screen (1) first", t.fg(Role::Muted))), inner);
        return;
    };
    let rec = &run.record;
    let mut title =
        vec![Span::styled(format!(" Findings · run #{} {} ", rec.id, rec.pipeline), t.fg(Role::Accent).add_modifier(Modifier::BOLD))];
    if !state.findings_view.filter.is_empty() {
        title.push(Span::styled(format!("filter: {} ", state.findings_view.filter), t.fg(Role::Warning)));
    }
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(title));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let w = inner.width as usize;
    let Some(ev) = run.evidence.as_ref() else {
        frame.render_widget(Paragraph::new(Line::styled("reading the findings…", t.fg(Role::Muted))), inner);
        return;
    };

    // The gate, per environment this run deploys to.
    let mut top: Vec<Line> = Vec::new();
    let today = state.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    for env in run_environments(rec) {
        let Some(p) = state.policy.environments.get(&env) else { continue };
        if !p.security.judges() {
            continue;
        }
        let v = ev.judge(&p.security, today);
        let (glyph, role) = if v.pass { ("✓", Role::Success) } else { ("✗", Role::Failure) };
        if v.rules.len() <= 1 {
            top.push(Line::from(vec![
                Span::styled(format!("{glyph} gate {env}: "), t.status(role)),
                Span::styled(truncate(&plain(&v.summary), w.saturating_sub(12)), t.fg(Role::Text)),
            ]));
            continue;
        }
        // One line per rule: a verdict of several kinds does not fit on one.
        top.push(Line::styled(format!("{glyph} gate {env}: {}", if v.pass { "pass" } else { "FAIL" }), t.status(role)));
        for r in &v.rules {
            let (glyph, role) = if r.pass { ("✓", Role::Success) } else { ("✗", Role::Failure) };
            top.push(Line::from(vec![
                Span::styled(format!("  {glyph} {}: ", r.rule), t.status(role)),
                Span::styled(truncate(&plain(&r.summary), w.saturating_sub(r.rule.len() + 6)), t.fg(Role::Text)),
            ]));
        }
    }
    let counts = Counts::of(ev.findings.iter().filter(|f| f.suppressed.is_none()));
    let suppressed = ev.findings.iter().filter(|f| f.suppressed.is_some()).count();
    let mut summary = format!("{} findings: {}", ev.findings.len(), counts.badge());
    if suppressed > 0 {
        summary.push_str(&format!(" ({suppressed} suppressed by their tools)"));
    }
    top.push(Line::styled(summary, t.fg(Role::Muted)));
    for e in &ev.unreadable {
        top.push(Line::styled(truncate(&format!("✗ unreadable: {}", plain(&e.to_string())), w), t.status(Role::Failure)));
    }
    // The run's other evidence: test results, with their first failures, and coverage.
    for r in &ev.tests {
        let role = if r.summary.failing() > 0 { Role::Failure } else { Role::Success };
        top.push(Line::styled(truncate(&plain(&format!("tests {}: {}", r.path, r.summary.text())), w), t.status(role)));
        for f in r.summary.failed.iter().take(3) {
            let place = f.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
            let text = format!("  ✗ {} {}{place}: {}", f.classname, f.name, f.message.lines().next().unwrap_or_default());
            top.push(Line::styled(truncate(&plain(&text), w), t.fg(Role::Text)));
        }
    }
    for r in &ev.coverage {
        top.push(Line::styled(truncate(&plain(&format!("coverage {}: {}", r.path, r.summary.text())), w), t.fg(Role::Muted)));
    }
    for g in &ev.quality {
        let role = if g.passed() { Role::Muted } else { Role::Failure };
        let link = g.dashboard_url.as_deref().map(|u| format!(" · {u}")).unwrap_or_default();
        top.push(Line::styled(truncate(&plain(&format!("sonarqube {}{link}", g.text())), w), t.status(role)));
    }
    for i in &ev.images {
        let state = match &i.problem {
            Some(p) => format!("registry not read: {p}"),
            None => format!("{} signature(s), {} attestation(s) in the registry", i.signatures.len(), i.attestations.len()),
        };
        let role = if i.problem.is_some() { Role::Failure } else { Role::Muted };
        top.push(Line::styled(truncate(&plain(&format!("image {}@{}: {state}", i.image, i.digest)), w), t.status(role)));
    }
    for r in &ev.load {
        let crossed: Vec<String> = r.summary.failed_thresholds().map(|t| format!("{} {}", t.metric, t.expression)).collect();
        let role = if crossed.is_empty() { Role::Muted } else { Role::Failure };
        let text = format!("load {} {}: {}", r.summary.tool, r.path, r.summary.text());
        top.push(Line::styled(truncate(&plain(&text), w), t.status(role)));
        if !crossed.is_empty() {
            top.push(Line::styled(truncate(&plain(&format!("  ✗ crossed: {}", crossed.join(", "))), w), t.fg(Role::Text)));
        }
    }
    let top_h = (top.len() as u16).min(inner.height * 2 / 5);
    frame.render_widget(Paragraph::new(top), Rect { height: top_h, ..inner });

    let detail_h = 8u16.min(inner.height.saturating_sub(top_h) / 2);
    let list = Rect { y: inner.y + top_h, height: inner.height.saturating_sub(top_h + detail_h), ..inner };
    if state.findings_view.failed_tests {
        // The output gets the room: it is what a failure is read from.
        let detail_h = inner.height.saturating_sub(top_h) / 2;
        let list = Rect { y: inner.y + top_h, height: inner.height.saturating_sub(top_h + detail_h), ..inner };
        failures(frame, state, list, Rect { y: inner.bottom() - detail_h, height: detail_h, ..inner });
        return;
    }
    let visible = visible_findings(state);
    let rows = list.height as usize;
    let cursor = state.findings_view.cursor.min(visible.len().saturating_sub(1));
    let offset = cursor.saturating_sub(rows.saturating_sub(2));
    // On a narrow terminal whether a finding is accepted or open comes before where it is, and
    // the fix moves to the detail below.
    let wide = w >= 120;
    let header = if wide {
        format!("{:<9} {:<22} {:<14} {:<40} {:<16} STATE", "SEVERITY", "ID", "TOOL", "LOCATION", "FIX")
    } else {
        format!("{:<9} {:<18} {:<20} {:<8} LOCATION", "SEVERITY", "ID", "STATE", "TOOL")
    };
    let mut lines = vec![heading(&header, w, t)];
    if visible.is_empty() {
        let msg = if ev.findings.is_empty() { "no findings" } else { "no finding matches the filter" };
        lines.push(Line::styled(msg, t.fg(Role::Muted)));
    }
    for (i, f) in visible.iter().enumerate().skip(offset).take(rows.saturating_sub(1)) {
        let state_txt = match (&f.suppressed, ev.acceptances.find(f)) {
            (Some(s), _) => truncate(s, 24),
            (None, Some(a)) if a.expired(today) => format!("acceptance EXPIRED {}", a.expires),
            (None, Some(a)) => format!("accepted until {}", a.expires),
            (None, None) => "open".into(),
        };
        let text = if wide {
            format!(
                "{:<9} {:<22} {:<14} {:<40} {:<16} {state_txt}",
                f.severity.label(),
                truncate(&plain(&f.id), 22),
                truncate(&f.tools.join("+"), 14),
                truncate(&plain(&f.location), 40),
                truncate(f.fixed.as_deref().unwrap_or("-"), 16),
            )
        } else {
            let short = state_txt.replace("accepted until ", "accepted ≤").replace("acceptance EXPIRED ", "EXPIRED ");
            format!(
                "{:<9} {:<18} {:<20} {:<8} {}",
                f.severity.label(),
                truncate(&plain(&f.id), 18),
                truncate(&short, 20),
                truncate(&f.tools.join("+"), 8),
                plain(&f.location),
            )
        };
        let style = if f.suppressed.is_some() { t.fg(Role::Muted) } else { t.fg(severity_role(f.severity)) };
        let mut line = Line::styled(pad(&text, w), style);
        if i == cursor {
            line = line.style(t.selection());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), list);

    if let Some(f) = visible.get(cursor) {
        let mut d = vec![
            Line::styled(format!("{} — {}", plain(&f.id), plain(&f.title)), t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
            Line::styled(
                format!("severity {} ({}); reported as {}", f.severity.label(), f.severity_reason, plain(&f.raw_severity)),
                t.fg(Role::Text),
            ),
            Line::styled(format!("where: {}", plain(&f.location)), t.fg(Role::Text)),
        ];
        if let Some(p) = &f.package {
            d.push(Line::styled(
                format!("package {p} {} → fixed in {}", f.installed.as_deref().unwrap_or("?"), f.fixed.as_deref().unwrap_or("no fix yet")),
                t.fg(Role::Text),
            ));
        }
        if let Some(u) = &f.url {
            d.push(Line::styled(format!("more: {}", plain(u)), t.fg(Role::Info)));
        }
        d.push(Line::styled(format!("from {} ({})", f.reports.join(", "), f.tools.join(", ")), t.fg(Role::Muted)));
        if let Some(a) = ev.acceptances.find(f) {
            d.push(Line::styled(format!("accepted by {} until {}: {}", a.by, a.expires, plain(&a.reason)), t.fg(Role::Paused)));
        }
        if !f.description.is_empty() {
            d.push(Line::styled(plain(&f.description.replace('\n', " ")), t.fg(Role::Text)));
        }
        frame.render_widget(Paragraph::new(d).wrap(Wrap { trim: true }), Rect { y: inner.bottom() - detail_h, height: detail_h, ..inner });
    }
}

/// The run's failed tests (`T`), and the selected one's message, place and output below.
fn failures(frame: &mut Frame, state: &State, list: Rect, detail: Rect) {
    let t = &state.theme;
    let w = list.width as usize;
    let visible = visible_failures(state);
    let rows = list.height as usize;
    let cursor = state.findings_view.cursor.min(visible.len().saturating_sub(1));
    let offset = cursor.saturating_sub(rows.saturating_sub(2));
    let mut lines = vec![heading(&format!("{:<7} {:<40} {:<28} MESSAGE", "KIND", "TEST", "WHERE"), w, t)];
    if visible.is_empty() {
        let none = if state.findings_view.filter.is_empty() {
            "no failed test (T shows the findings)"
        } else {
            "no failed test matches the filter"
        };
        lines.push(Line::styled(none, t.fg(Role::Muted)));
    }
    for (i, (_, f)) in visible.iter().enumerate().skip(offset).take(rows.saturating_sub(1)) {
        let test = if f.classname.is_empty() { f.name.clone() } else { format!("{} {}", f.classname, f.name) };
        let text = format!(
            "{:<7} {:<40} {:<28} {}",
            f.kind,
            truncate(&plain(&test), 40),
            truncate(&plain(f.location.as_deref().unwrap_or("-")), 28),
            plain(f.message.lines().next().unwrap_or_default())
        );
        let mut line = Line::styled(pad(&text, w), t.fg(Role::Failure));
        if i == cursor {
            line = line.style(t.selection());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), list);
    let Some((report, f)) = visible.get(cursor) else { return };
    let mut d = vec![
        Line::styled(plain(&format!("{} — {} {}", f.suite, f.classname, f.name)), t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
        Line::styled(
            plain(&format!("{} at {} (from {report})", f.kind, f.location.as_deref().unwrap_or("an unknown place"))),
            t.fg(Role::Text),
        ),
    ];
    d.extend(f.message.lines().take(4).map(|l| Line::styled(plain(l), t.fg(Role::Failure))));
    // The test's own output: its stack trace and what it printed, as the report kept them.
    d.extend(f.detail.lines().map(|l| Line::styled(plain(l), t.fg(Role::Muted))));
    frame.render_widget(Paragraph::new(d).wrap(Wrap { trim: false }), detail);
}
