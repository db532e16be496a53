//! The log view. Only the visible window is turned into spans, so a frame costs the same whether
//! the store holds a hundred lines or a million.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

use crate::app::selectors::{current_line, current_top};
use crate::app::state::JobLog;
use crate::app::state::{Pane, State};
use crate::domain::JobStatus;
use crate::keymap::Command;
use crate::logstore::sanitize::strip_sgr;
use crate::logstore::{StoredLine, Stream, ansi};
use crate::theme::{Role, Theme};
use crate::ui::widgets::text::width;
use crate::util::{clock_ms, format_bytes};

const TS_WIDTH: usize = 13;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.theme;
    let focused = state.focus == Pane::Log && state.overlay.is_none();
    let job = state.current_job();
    let log = state.current_log();
    let mut title = vec![Span::styled(" Log ", t.fg(Role::Accent).add_modifier(Modifier::BOLD))];
    if let Some(j) = job {
        title.push(Span::styled(format!("{} ", j.display_name()), t.fg(Role::Text)));
        if let Some(code) = j.exit_code {
            title.push(Span::styled(format!("exit {code} "), t.fg(if code == 0 { Role::Success } else { Role::Failure })));
        }
    }
    if let Some(l) = log {
        title.push(Span::styled(format!("· {} lines ", l.end_line()), t.fg(Role::Muted)));
        if l.file.is_none() && l.store.evicted() > 0 {
            title.push(Span::styled(
                format!("(+{} older dropped, cap {}) ", l.store.evicted(), format_bytes(l.store.bytes() as u64)),
                t.fg(Role::Warning),
            ));
        }
        if state.log.follow {
            title.push(Span::styled("· following ", t.fg(Role::Running)));
        } else {
            let g = state.keymap.label(Command::Bottom).unwrap_or_default();
            let more = if state.log.new_lines > 0 { format!("{} new ↓ ", state.log.new_lines) } else { String::new() };
            title.push(Span::styled(format!("· paused {more}({g} follows) "), t.status(Role::Paused)));
        }
    }
    if let Some(s) = &state.log.search {
        let pos = s.current.map(|c| format!("{}/{}", c + 1, s.matches.len())).unwrap_or_else(|| format!("0/{}", s.matches.len()));
        let more = if s.truncated { "+ (only the first are kept) " } else { "" };
        title.push(Span::styled(format!("· /{} {pos}{more} ", s.query), t.fg(Role::Warning)));
        if let Some((_, scanned, of)) = s.running {
            let pct = (scanned * 100).checked_div(of).unwrap_or(0);
            let esc = state.keymap.label(Command::Back).unwrap_or_default();
            title.push(Span::styled(format!("searching {pct}% ({esc} stops) "), t.fg(Role::Running)));
        }
    }
    if state.log.wrap {
        title.push(Span::styled("· wrap ", t.fg(Role::Muted)));
    }
    if state.log.filter.is_some() {
        let enter = state.keymap.label(Command::Open).unwrap_or_default();
        title.push(Span::styled(format!("· only the matching lines ({enter} shows one in context) "), t.fg(Role::Accent)));
    }
    let block = Block::bordered().border_style(t.border(focused)).title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    let Some(job) = job else {
        frame.render_widget(Paragraph::new(Line::styled("select a run and a job to see its log", t.fg(Role::Muted))), inner);
        return;
    };
    let Some(log) = log.filter(|l| l.end_line() > 0) else {
        let msg = match job.status {
            JobStatus::Pending => "not started yet",
            JobStatus::Running => "running — waiting for output…",
            JobStatus::Skipped => "skipped: nothing ran",
            _ if state.pending_log.is_some() => "loading the log…",
            _ => "no output",
        };
        let msg = job
            .error
            .as_ref()
            .filter(|_| job.status != JobStatus::Running)
            .map(|e| format!("{msg} — {e}"))
            .unwrap_or_else(|| msg.to_string());
        if !job.steps.is_empty() && !job.status.is_terminal() {
            // A CI service that publishes a job's log only when the job ends: its steps meanwhile.
            frame.render_widget(Paragraph::new(steps_so_far(job, t, state.now)), inner);
            return;
        }
        frame.render_widget(Paragraph::new(Line::styled(msg, t.fg(Role::Muted))), inner);
        return;
    };

    if let (Some(f), Some(search)) = (&state.log.filter, &state.log.search) {
        render_filter(frame, inner, state, log, f, search);
        return;
    }
    let rows = inner.height as usize;
    let cols = inner.width as usize;
    let prefix = if state.log.timestamps { TS_WIDTH } else { 0 };
    let avail = cols.saturating_sub(prefix).max(1);
    let store = &log.store;
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    let current_match = state.log.search.as_ref().and_then(|s| s.current.map(|c| s.matches.get(c).copied())).flatten();

    let folds = log.folds();
    // The marked range, worked out once per frame (the current line walks the folds).
    let marked = state.log.mark.map(|m| {
        let here = current_line(state);
        m.min(here)..=m.max(here)
    });
    let selected = |seq: u64| marked.as_ref().is_some_and(|r| r.contains(&seq));
    if !state.log.wrap {
        let top = current_top(state);
        for seq in folds.rows_from(top, rows) {
            let mut line = if let Some(header) = section_row(log, seq, t) {
                header
            } else {
                match log.line(seq) {
                    Some(l) => {
                        let spans = line_spans(l, state, t, current_match == Some(seq));
                        let mut body = slice(&spans, state.log.hscroll, avail);
                        if prefix > 0 {
                            body.insert(0, Span::styled(format!("{} ", clock_ms(l.ts_ms)), t.fg(Role::Muted)));
                        }
                        Line::from(body)
                    }
                    // Not held yet: being read from disk.
                    None => Line::styled("…", t.fg(Role::Muted)),
                }
            };
            if selected(seq) {
                line = line.patch_style(t.selection());
            }
            lines.push(line);
        }
    } else {
        let start = wrapped_start(log, state, rows, avail);
        let mut skip_rows = start.1;
        let mut seq = start.0;
        while seq < store.end_seq() {
            let this = seq;
            seq = folds.next(seq);
            if let Some(header) = section_row(log, this, t) {
                if skip_rows > 0 {
                    skip_rows -= 1;
                    continue;
                }
                lines.push(header);
                if lines.len() == rows {
                    break;
                }
                continue;
            }
            let Some(l) = store.get(this) else { continue };
            let seq = this;
            let spans = line_spans(l, state, t, current_match == Some(seq));
            let total = width(&strip_sgr(&l.text)).max(1);
            let n_rows = total.div_ceil(avail);
            for r in 0..n_rows {
                if skip_rows > 0 {
                    skip_rows -= 1;
                    continue;
                }
                let mut body = slice(&spans, r * avail, avail);
                if prefix > 0 {
                    let ts = if r == 0 { format!("{} ", clock_ms(l.ts_ms)) } else { " ".repeat(TS_WIDTH) };
                    body.insert(0, Span::styled(ts, t.fg(Role::Muted)));
                }
                lines.push(Line::from(body));
                if lines.len() == rows {
                    break;
                }
            }
            if lines.len() == rows {
                break;
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Where a wrapped view starts: the line and how many of its rows scroll off the top.
fn wrapped_start(log: &JobLog, state: &State, rows: usize, avail: usize) -> (u64, usize) {
    if !state.log.follow {
        return (current_top(state), 0);
    }
    let (store, folds) = (&log.store, log.folds());
    let mut need = rows;
    let mut seq = store.end_seq();
    while seq > store.first_seq() {
        seq = folds.prev(seq);
        let n = if log.sections.starting_at(seq).is_some() {
            1
        } else {
            let Some(l) = store.get(seq) else { break };
            width(&strip_sgr(&l.text)).max(1).div_ceil(avail)
        };
        if n >= need {
            return (seq, n - need);
        }
        need -= n;
    }
    (store.first_seq(), 0)
}

/// A section's header (folded: with how many lines it hides) or its end, drawn from the
/// sections rather than the marker's own text.
fn section_row<'a>(log: &JobLog, seq: u64, t: &Theme) -> Option<Line<'a>> {
    if let Some(s) = log.sections.starting_at(seq) {
        let indent = "  ".repeat(s.depth.min(8) as usize);
        let title = Span::styled(
            format!("{indent}{} {}", if log.folded.contains(&seq) { "▸" } else { "▾" }, s.title),
            t.fg(Role::Accent).add_modifier(Modifier::BOLD),
        );
        if !log.folded.contains(&seq) {
            return Some(Line::from(title));
        }
        let hidden = match s.end {
            Some(e) => format!("  ⋯ {} lines", e - seq),
            None => format!("  ⋯ {} lines so far", log.end_line().saturating_sub(seq + 1)),
        };
        return Some(Line::from(vec![title, Span::styled(hidden, t.fg(Role::Muted))]));
    }
    if log.sections.ends_at(seq) {
        return Some(Line::styled("╰", t.fg(Role::Muted)));
    }
    None
}

fn line_spans<'a>(l: &'a StoredLine, state: &State, t: &Theme, is_current: bool) -> Vec<Span<'a>> {
    let base = match l.stream {
        Stream::Meta => t.fg(Role::Accent).add_modifier(Modifier::ITALIC),
        Stream::Err => t.fg(Role::Text),
        Stream::Out => t.fg(Role::Text),
    };
    let mut spans = match &state.log.search {
        Some(s) if !s.query.is_empty() && crate::logstore::store_matcher(&s.query).is_match(&l.text) => {
            highlight(&l.text, &s.query, base, t)
        }
        _ => ansi::spans(&l.text, base, t.colours()),
    };
    if l.stream == Stream::Meta {
        spans.insert(0, Span::styled("▸ ", base));
    }
    if is_current {
        for s in spans.iter_mut() {
            s.style = s.style.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        }
    }
    spans
}

/// Plain text with every occurrence of the query highlighted (colour codes are dropped on
/// matching lines so the highlight is exact).
fn highlight<'a>(text: &'a str, query: &str, base: Style, t: &Theme) -> Vec<Span<'a>> {
    let plain = strip_sgr(text).into_owned();
    let insensitive = !query.chars().any(char::is_uppercase);
    let (hay, needle) = if insensitive { (plain.to_lowercase(), query.to_lowercase()) } else { (plain.clone(), query.to_string()) };
    if hay.len() != plain.len() || needle.is_empty() {
        return vec![Span::styled(plain, t.highlight())];
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = hay[pos..].find(&needle) {
        let s = pos + i;
        let e = s + needle.len();
        if s > pos {
            out.push(Span::styled(plain[pos..s].to_string(), base));
        }
        out.push(Span::styled(plain[s..e].to_string(), t.highlight()));
        pos = e;
    }
    if pos < plain.len() {
        out.push(Span::styled(plain[pos..].to_string(), base));
    }
    out
}

/// The columns `[skip, skip+take)` of a line of spans.
fn slice<'a>(spans: &[Span<'a>], skip: usize, take: usize) -> Vec<Span<'a>> {
    let mut out = Vec::new();
    let mut col = 0;
    let end = skip + take;
    for s in spans {
        let w = width(&s.content);
        if col + w <= skip {
            col += w;
            continue;
        }
        if col >= end {
            break;
        }
        if col >= skip && col + w <= end {
            out.push(s.clone());
            col += w;
            continue;
        }
        let mut piece = String::new();
        for c in s.content.chars() {
            let cw = c.width().unwrap_or(0);
            if col >= skip && col + cw <= end {
                piece.push(c);
            }
            col += cw;
            if col >= end {
                break;
            }
        }
        if !piece.is_empty() {
            out.push(Span::styled(piece, s.style));
        }
    }
    out
}

/// The steps of a job whose log is published only when it ends, with a word on why.
fn steps_so_far<'a>(job: &'a crate::domain::JobRecord, t: &crate::theme::Theme, now: jiff::Timestamp) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled("The CI service publishes this job's log when the job ends. Its steps so far:", t.fg(Role::Muted))];
    for s in &job.steps {
        let role = match s.status {
            JobStatus::Success => Role::Success,
            JobStatus::Failed | JobStatus::TimedOut => Role::Failure,
            JobStatus::Running => Role::Running,
            _ => Role::Muted,
        };
        let took = crate::util::elapsed(s.started_at, s.finished_at, now).map(crate::util::format_duration).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!("  {} {:<10} {took:>6}  ", s.status.glyph(), s.status.label()), t.fg(role)),
            Span::raw(crate::logstore::sanitize::plain(&s.name)),
        ]));
    }
    lines
}

/// The matching lines only, numbered as in the whole log (`grep -n`), the selected one marked.
fn render_filter(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    log: &crate::app::state::JobLog,
    f: &crate::app::state::LogFilter,
    search: &crate::app::state::Search,
) {
    let t = &state.theme;
    let rows = area.height as usize;
    let width_no = search.matches.last().map_or(1, |n| (n + 1).to_string().len()).max(4);
    let avail = (area.width as usize).saturating_sub(width_no + 3).max(1);
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    for (i, &n) in search.matches.iter().enumerate().skip(f.top).take(rows) {
        let selected = i == f.cursor;
        let number = Span::styled(format!("{:>width_no$} │ ", n + 1), if selected { t.selection() } else { t.fg(Role::Muted) });
        let mut spans = vec![number];
        match log.store.get(n).or_else(|| f.lines.get(&n)) {
            Some(l) => spans.extend(slice(&line_spans(l, state, t, selected), 0, avail)),
            None => spans.push(Span::styled("…", t.fg(Role::Muted))),
        }
        lines.push(Line::from(spans));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no matching line yet…", t.fg(Role::Muted)));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing_respects_columns_across_spans() {
        let spans = vec![Span::raw("hello "), Span::raw("wide 世界 end")];
        let text = |v: Vec<Span>| v.iter().map(|s| s.content.to_string()).collect::<String>();
        assert_eq!(text(slice(&spans, 0, 5)), "hello");
        assert_eq!(text(slice(&spans, 4, 6)), "o wide");
        assert_eq!(text(slice(&spans, 11, 4)), "世界");
    }
}
