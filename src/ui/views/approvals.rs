//! The approvals inbox: every gate waiting for a decision, with the evidence, and whether you may
//! decide it (and if not, the rule that says so).

use ratatui::Frame;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::state::State;
use crate::domain::{JobRecord, RunRecord};
use crate::policy::{ActionKind, Request, Verdict};
use crate::theme::Role;
use crate::ui::widgets::status;
use crate::ui::widgets::text::{heading, pad, truncate, width};
use crate::util::{elapsed, format_duration};

/// Whether the current user may approve this gate, and if not why.
pub fn may_approve(state: &State, run: &RunRecord, gate: &JobRecord) -> Result<(), String> {
    if let Some(why) = gate.gate.as_ref().and_then(|g| g.refused_by_service.clone()) {
        return Err(why);
    }
    let env: Vec<String> = gate.gate.as_ref().and_then(|g| g.environment.clone()).into_iter().collect();
    let started_by = run.started_by();
    match state.policy.evaluate(&Request {
        kind: ActionKind::Approve,
        environments: env,
        actor: &state.identity.actor,
        run_triggered_by: &started_by,
        now: state.now,
        break_glass: false,
        security: state.run(&run.id).and_then(|r| r.evidence.as_ref()),
    }) {
        Verdict::Allowed { .. } => Ok(()),
        Verdict::Refused { message, .. } => Err(message),
    }
}

pub fn evidence(run: &RunRecord) -> String {
    let done: Vec<&JobRecord> = run.jobs.iter().filter(|j| j.status.is_terminal()).collect();
    let ok = done.iter().filter(|j| j.status.satisfies_needs()).count();
    let bad: Vec<String> =
        done.iter().filter(|j| !j.status.satisfies_needs()).map(|j| format!("{} {}", status::job(j.status).0, j.key)).collect();
    if bad.is_empty() { format!("{ok}/{} jobs passed", run.jobs.len() - 1) } else { format!("{ok} passed; {}", bad.join(", ")) }
}

pub fn render(frame: &mut Frame, state: &State) {
    let t = &state.theme;
    let body = super::chrome(frame, state);
    let gates = state.waiting_gates();
    let block = Block::bordered()
        .border_style(t.border(state.overlay.is_none()))
        .title(Line::from(Span::styled(format!(" Approvals · {} waiting ", gates.len()), t.fg(Role::Accent).add_modifier(Modifier::BOLD))));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if gates.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("nothing is waiting for a decision", t.fg(Role::Muted))), inner);
        return;
    }
    let w = inner.width as usize;
    // As wide as the longest run id (`#2`, `#aws:payments/…`), within reason.
    let run_w = gates.iter().map(|(r, _)| width(&format!("#{}", r.id))).max().unwrap_or(0).clamp(6, 16);
    let mut lines = vec![heading(
        &format!(
            "{:<10} {:<run_w$} {:<16} {:<8} {:<14} {:>8} {:>9}  EVIDENCE",
            "PIPELINE", "RUN", "GATE", "ENV", "TRIGGERED BY", "WAITING", "TIMEOUT"
        ),
        w,
        t,
    )];
    let cursor = state.approvals_cursor.min(gates.len() - 1);
    for (i, (run, gate)) in gates.iter().enumerate() {
        let env = gate.gate.as_ref().and_then(|g| g.environment.clone()).unwrap_or_else(|| "-".into());
        let waited = elapsed(gate.started_at, None, state.now).map(crate::util::waited).unwrap_or_default();
        let timeout = gate
            .gate
            .as_ref()
            .and_then(|g| g.deadline)
            .map(|d| {
                if d > state.now {
                    format_duration(std::time::Duration::from_millis((d.as_millisecond() - state.now.as_millisecond()) as u64))
                } else {
                    "due".into()
                }
            })
            .unwrap_or_else(|| "none".into());
        // Cells are cut to their columns: a CI service's long names and ids keep the table aligned.
        let row = format!(
            "{:<10} {:<run_w$} {:<16} {:<8} {:<14} {:>8} {:>9}  {}",
            truncate(&run.pipeline, 10),
            tail(&format!("#{}", run.id), run_w),
            truncate(&gate.key, 16),
            truncate(&env, 8),
            truncate(&run.trigger.actor, 14),
            waited,
            timeout,
            evidence(run)
        );
        let allowed = may_approve(state, run, gate);
        let mut line = Line::styled(pad(&row, w), if allowed.is_ok() { t.fg(Role::Text) } else { t.fg(Role::Muted) });
        if i == cursor {
            line = line.style(t.selection());
        }
        lines.push(line);
        if let Err(why) = allowed {
            lines.push(Line::styled(
                pad(&format!("    you cannot approve this: {why}"), w),
                t.disabled().remove_modifier(Modifier::CROSSED_OUT),
            ));
        }
    }
    let (run, gate) = gates[cursor];
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!("Run #{} of `{}` started by {} via {}", run.id, run.pipeline, run.trigger.actor, run.trigger.via),
        t.fg(Role::Accent),
    ));
    for j in &run.jobs {
        let (g, role) = status::job(j.status);
        let d = crate::app::selectors::job_duration(j, state.now).unwrap_or_default();
        let marker = if j.key == gate.key { "  ◀ this gate" } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format!("  {g} "), t.status(role)),
            Span::styled(format!("{:<24} {:<16} {d}{marker}", j.key, j.status.label()), t.fg(Role::Text)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// An id cut to `max` columns from its end (`…3733a7c8-a0a0`): ids differ at their end.
fn tail(id: &str, max: usize) -> String {
    if width(id) <= max {
        return id.to_string();
    }
    let kept: String = id.chars().rev().take(max.saturating_sub(1)).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{kept}")
}
