//! One release in full, whatever its provider: where it runs and how it is set up, its steps with
//! the current one marked, weights and versions, the canary's verdict, what you may not do and
//! why, revisions, analysis runs, and a timeline of the provider's events and flightdeck's own
//! journal. Undo's revision picker lists the revisions. The releases list shows the same, shorter.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::state::State;
use crate::delivery::{Detail, Release, StepState};
use crate::logstore::sanitize::plain;
use crate::theme::Role;
use crate::ui::widgets::status as glyphs;
use crate::ui::widgets::text::{centered, truncate};

/// "3m" from a time to now.
fn age(at: Option<jiff::Timestamp>, now: jiff::Timestamp) -> String {
    at.map(|t| crate::util::format_duration(std::time::Duration::from_secs((now.as_second() - t.as_second()).max(0) as u64)))
        .unwrap_or_else(|| "-".into())
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let Some(r) = state.selected_release() else {
        let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(" Release ");
        let inner = block.inner(body);
        frame.render_widget(block, body);
        let msg = if state.releases.enabled() {
            "no release is selected: 6 lists them (the providers may still be connecting)"
        } else {
            "no rollout is configured — add [rollouts.NAME] with its NGINX upstream and steps, or [kubernetes] for Argo Rollouts (see config.example.toml)"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))).wrap(Wrap { trim: true }), inner);
        return;
    };
    // Where it comes from: the provider's feed, else what kind of delivery it is.
    let from = state.releases.feeds.get(&r.reference.provider).map(|f| f.label.as_str()).unwrap_or(&r.kind);
    let block = Block::bordered().border_style(t.border(state.overlay.is_none())).title(Line::from(Span::styled(
        format!(" Release · {} · {} ", plain(&r.reference.short()), plain(from)),
        t.fg(Role::Accent).add_modifier(Modifier::BOLD),
    )));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    // With a service judging this canary and room to spare, its charts take the right side.
    let result = r.service.as_ref().and_then(|s| state.canary.data.get(s)).and_then(|c| c.result.as_ref());
    let area = match result.filter(|res| !res.metrics.is_empty() && inner.width >= 140 && inner.height >= 8) {
        Some(res) => {
            let charts_w = inner.width * 9 / 20;
            let charts = Rect { x: inner.right() - charts_w, width: charts_w, ..inner };
            let each = (charts.height / res.metrics.len() as u16).max(4);
            for (i, m) in res.metrics.iter().enumerate() {
                let y = charts.y + i as u16 * each;
                if y + 4 > charts.bottom() {
                    break;
                }
                super::canary::metric(frame, Rect { y, height: each.min(charts.bottom() - y), ..charts }, state, m);
            }
            Rect { width: inner.width - charts_w - 1, ..inner }
        }
        None => inner,
    };
    summary(frame, area, state, r, false);
    if let (Some(cursor), Some(d)) = (state.releases.picker, state.detail_of(r)) {
        picker(frame, body, state, r, d, cursor);
    }
}

/// The release's detail in `area`; `compact` under the releases list (no revisions, sections or
/// permissions, a short timeline).
pub fn summary(frame: &mut Frame, area: Rect, state: &State, r: &Release, compact: bool) {
    let t = &state.theme;
    let w = area.width as usize;
    let now = state.now;
    let detail = state.detail_of(r);
    let line = |text: String, role: Role| Line::styled(truncate(&plain(&text), w), t.fg(role));
    let mut lines = Vec::new();
    if compact {
        let env = r.environment.as_deref().map(|e| format!(" · env {e}")).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", plain(&r.reference.short())), t.fg(Role::Accent).add_modifier(Modifier::BOLD)),
            Span::styled(truncate(&plain(&format!("· {}{env} · {}", r.kind, r.reference.text())), w), t.fg(Role::Muted)),
        ]));
    }
    for about in detail.map(|d| d.about.as_slice()).unwrap_or_default().iter().take(if compact { 1 } else { 4 }) {
        lines.push(line(about.clone(), Role::Muted));
    }
    // Steps, the current one marked.
    if let Some(d) = detail.filter(|d| !d.steps.is_empty()) {
        let mut spans = vec![Span::styled("steps ", t.fg(Role::Muted))];
        for s in &d.steps {
            let style = match s.state {
                StepState::Current => t.status(Role::Running).add_modifier(Modifier::REVERSED),
                StepState::Done => t.fg(Role::Success),
                StepState::Todo => t.fg(Role::Muted),
            };
            spans.push(Span::styled(format!(" {} ", plain(&s.label)), style));
        }
        lines.push(Line::from(spans));
    }
    let (g, role) = glyphs::release(r.health);
    // Releases without steps (a GitOps application) say nothing of them.
    let mut status = format!("{g} {}", r.state_at(now));
    if r.step.is_some() {
        status.push_str(&format!(" · step {}", r.step_text()));
    }
    if let Some(w) = r.weight {
        status.push_str(&format!(" · canary {w} %"));
        if let Some(d) = r.desired_weight.filter(|d| *d != w) {
            status.push_str(&format!(" (desired {d} %)"));
        }
    }
    status.push_str(&format!(" · {}", r.version_text()));
    if let Some(m) = &r.message {
        status.push_str(&format!(" · {m}"));
    }
    lines.push(Line::styled(truncate(&plain(&status), w), t.status(role)));
    if let Some(run) = &r.run {
        lines.push(line(format!("built by run {} (its evidence judges promotions; f opens its findings)", run.text()), Role::Muted));
    }
    // Only a service the configuration analyses has a verdict to show.
    if let Some(service) = r.service.as_ref().filter(|s| state.canary.services.iter().any(|(name, _)| name == *s)) {
        let res = state.canary.data.get(service).and_then(|c| c.result.as_ref());
        let (delta, trend) = super::overview::error_summary(state, service);
        let windows = crate::app::state::CANARY_WINDOWS;
        let window = format!("last {}", windows[state.canary.window % windows.len()].0);
        let text = match res {
            Some(res) => {
                let (g, _) = glyphs::verdict(res.phase);
                let errors = format!("errors Δ {delta} {trend}");
                format!(
                    "canary now ({service}, {window}): {g} {} · {} · {} (5 shows the charts)",
                    res.phase.label(),
                    errors.trim_end(),
                    res.reason
                )
            }
            None => format!("canary now ({service}, {window}): asking Prometheus…"),
        };
        lines.push(line(text, res.map(|r| glyphs::verdict(r.phase).1).unwrap_or(Role::Muted)));
    }
    match detail {
        None if !compact => lines.push(line("press enter to read its revisions, analysis and timeline".into(), Role::Muted)),
        Some(d) if !d.loaded => lines.push(line("reading its detail…".into(), Role::Muted)),
        _ => {}
    }
    if let Some(e) = detail.and_then(|d| d.error.as_ref()) {
        lines.push(Line::styled(truncate(&format!("⚠ {}", plain(e)), w), t.status(Role::Warning)));
    }
    if let Some(d) = detail.filter(|_| !compact) {
        if let Some(p) = d.permissions.as_ref().filter(|p| !p.denied.is_empty()) {
            // One line per reason, with every action it forbids.
            let mut by_reason: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
            for (verb, why) in &p.denied {
                by_reason.entry(why.as_str()).or_default().push(verb.as_str());
            }
            for (why, verbs) in by_reason {
                lines.push(line(format!("✗ {} — {why}", verbs.join(", ")), Role::Warning));
            }
        }
        for (verb, note) in d.permissions.iter().flat_map(|p| &p.notes) {
            lines.push(line(format!("✓ {verb} — {note}"), Role::Muted));
        }
        if !d.revisions.is_empty() {
            lines.push(line("revisions".into(), Role::Muted));
            for rev in &d.revisions {
                lines.push(line(format!("  rev {:<3} {}  {:>6}", rev.number, rev.label, age(rev.created, now)), Role::Text));
            }
        }
        for s in &d.sections {
            lines.push(line(s.title.clone(), Role::Muted));
            for l in &s.lines {
                lines.push(line(format!("  {l}"), Role::Text));
            }
        }
    }
    lines.push(line("timeline".into(), Role::Muted));
    let room = (area.height as usize).saturating_sub(lines.len());
    for (when, text) in timeline(state, r, detail).into_iter().take(room) {
        lines.push(line(format!("  {:>6}  {text}", age(when, now)), Role::Text));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The provider's events and flightdeck's own journal records about the release, newest first.
fn timeline(state: &State, r: &Release, detail: Option<&Detail>) -> Vec<(Option<jiff::Timestamp>, String)> {
    let name = r.reference.short();
    let mut items: Vec<(Option<jiff::Timestamp>, String)> = Vec::new();
    for rec in state.audit.records.iter().filter(|j| j.target == name && j.phase != crate::audit::Phase::Intent) {
        // Entries the provider keeps itself (an NGINX canary's history) already say what the
        // controller did; the journal adds what people did, and why.
        if rec.actor == crate::rollout::controller::CONTROLLER && rec.origin == "rollout controller" {
            continue;
        }
        let why = if rec.reason.is_empty() { String::new() } else { format!(" — {}", rec.reason) };
        items.push((rec.time.parse().ok(), format!("flightdeck {} by {}: {}{why}", rec.action, rec.actor, rec.result)));
    }
    for e in detail.map(|d| d.timeline.as_slice()).unwrap_or_default() {
        items.push((e.at, e.text.clone()));
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    items
}

fn picker(frame: &mut Frame, body: Rect, state: &State, r: &Release, d: &Detail, cursor: usize) {
    let t = &state.theme;
    let owned = state.releases.picking_owned;
    // Each choice as text: a revision with its age, or an owned release with its state.
    let choices: Vec<String> = if owned {
        d.related
            .iter()
            .map(|o| match state.owned_row(o) {
                Some(row) => format!("  {}  {} · {}", o.short(), row.state_at(state.now), row.version_text()),
                None => format!("  {}  (not among the releases)", o.short()),
            })
            .collect()
    } else {
        d.revisions
            .iter()
            .map(|rev| {
                let running = if rev.current { "  (running now)" } else { "" };
                format!("  rev {:<3} {}  {:>6}{running}", rev.number, rev.label, age(rev.created, state.now))
            })
            .collect()
    };
    let h = (choices.len() as u16 + 4).min(body.height);
    let area = centered(body, 90, h);
    frame.render_widget(Clear, area);
    let title = if owned {
        format!(" Which Argo Rollout of {}? ", plain(&r.reference.short()))
    } else {
        format!(" Undo {} to which revision? ", plain(&r.reference.short()))
    };
    let block = Block::bordered().border_style(t.border(true)).title(Span::styled(title, t.fg(Role::Accent).add_modifier(Modifier::BOLD)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = choices
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Line::styled(truncate(&plain(text), inner.width as usize), if i == cursor { t.selection() } else { t.fg(Role::Text) })
        })
        .collect();
    let k = |cmd| state.keymap.first(cmd);
    let hint = format!(
        "{}/{} move · {} {} · {} cancels",
        k(crate::keymap::Command::Up),
        k(crate::keymap::Command::Down),
        k(crate::keymap::Command::PickerChoose),
        if owned { "opens it" } else { "asks to confirm" },
        k(crate::keymap::Command::PickerClose)
    );
    lines.push(Line::styled(hint, t.fg(Role::Muted)));
    frame.render_widget(Paragraph::new(lines), inner);
}
