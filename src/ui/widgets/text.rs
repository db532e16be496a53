//! Width-aware text helpers (terminal columns, not bytes).

use unicode_width::UnicodeWidthStr;

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `max` columns, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// `s` in lines of at most `max` columns: broken at spaces, and a word longer than a line (a
/// JSON body, a URL) broken wherever it must, so nothing is lost.
pub fn wrap_hard(s: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut w = 0;
    for word in s.split_inclusive(' ') {
        let ww = width(word.trim_end());
        if w > 0 && w + ww > max {
            lines.push(std::mem::take(&mut line).trim_end().to_string());
            w = 0;
        }
        for c in word.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if w + cw > max && c != ' ' {
                lines.push(std::mem::take(&mut line));
                w = 0;
            }
            line.push(c);
            w += cw;
        }
    }
    if !line.trim_end().is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Left-aligns `s` in exactly `w` columns.
pub fn pad(s: &str, w: usize) -> String {
    let t = truncate(s, w);
    let fill = w.saturating_sub(width(&t));
    format!("{t}{}", " ".repeat(fill))
}

/// Centres a rectangle of at most `w`×`h` inside `area`.
pub fn centered(area: ratatui::layout::Rect, w: u16, h: u16) -> ratatui::layout::Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    ratatui::layout::Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// The column heading of a table view, padded to the width.
pub fn heading(text: &str, width: usize, theme: &crate::theme::Theme) -> ratatui::text::Line<'static> {
    use ratatui::style::Modifier;
    ratatui::text::Line::styled(pad(text, width), theme.fg(crate::theme::Role::Muted).add_modifier(Modifier::BOLD))
}

#[cfg(test)]
mod wrap_tests {
    use super::*;

    #[test]
    fn long_words_are_broken_and_nothing_is_lost() {
        let body = r#"POST /x {"dryRun":false,"name":"checkout","prune":false}"#;
        let lines = wrap_hard(body, 20);
        assert!(lines.iter().all(|l| width(l) <= 20), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), body.replace(' ', ""));
        assert_eq!(wrap_hard("a few short words", 9), ["a few", "short", "words"]);
        assert_eq!(wrap_hard("", 9), [""]);
    }
}
