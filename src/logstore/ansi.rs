//! Renders sanitised text (which may only contain SGR sequences) as styled spans.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

/// Splits `text` into styled spans starting from `base`. With `colours` off, colour codes are dropped
/// but bold/underline/reverse are kept, so `NO_COLOR` output still carries emphasis.
pub fn spans(text: &str, base: Style, colours: bool) -> Vec<Span<'_>> {
    if !text.contains('\u{1b}') {
        return vec![Span::styled(text, base)];
    }
    let mut out = Vec::new();
    let mut style = base;
    let mut rest = text;
    while let Some(pos) = rest.find('\u{1b}') {
        if pos > 0 {
            out.push(Span::styled(&rest[..pos], style));
        }
        let after = &rest[pos + 1..];
        let Some(end) = after.find('m') else {
            rest = "";
            break;
        };
        let params = after.get(1..end).unwrap_or("");
        style = apply_sgr(style, base, params, colours);
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Span::styled(rest, style));
    }
    out
}

fn apply_sgr(mut style: Style, base: Style, params: &str, colours: bool) -> Style {
    let codes: Vec<u16> = if params.is_empty() { vec![0] } else { params.split(';').map(|p| p.parse().unwrap_or(0)).collect() };
    let mut i = 0;
    while i < codes.len() {
        let c = codes[i];
        match c {
            0 => style = base,
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            9 => style = style.add_modifier(Modifier::CROSSED_OUT),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            29 => style = style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 | 90..=97 if colours => style = style.fg(basic(c)),
            40..=47 | 100..=107 if colours => style = style.bg(basic(c - 10)),
            39 => style.fg = base.fg,
            49 => style.bg = base.bg,
            38 | 48 => {
                let (colour, used) = extended(&codes[i + 1..]);
                i += used;
                if colours && let Some(col) = colour {
                    style = if c == 38 { style.fg(col) } else { style.bg(col) };
                }
            }
            _ => {}
        }
        i += 1;
    }
    style
}

fn basic(code: u16) -> Color {
    match code {
        30 => Color::Black,
        31 => Color::Red,
        32 => Color::Green,
        33 => Color::Yellow,
        34 => Color::Blue,
        35 => Color::Magenta,
        36 => Color::Cyan,
        37 => Color::Gray,
        90 => Color::DarkGray,
        91 => Color::LightRed,
        92 => Color::LightGreen,
        93 => Color::LightYellow,
        94 => Color::LightBlue,
        95 => Color::LightMagenta,
        96 => Color::LightCyan,
        _ => Color::White,
    }
}

/// `5;n` or `2;r;g;b` after 38/48; returns the colour and how many codes it consumed.
fn extended(rest: &[u16]) -> (Option<Color>, usize) {
    match rest {
        [5, n, ..] => (Some(Color::Indexed((*n).min(255) as u8)), 2),
        [2, r, g, b, ..] => (Some(Color::Rgb((*r).min(255) as u8, (*g).min(255) as u8, (*b).min(255) as u8)), 4),
        [5] | [2, ..] => (None, rest.len()),
        _ => (None, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styles() {
        let s = spans("a\u{1b}[1;31mb\u{1b}[0mc", Style::default(), true);
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].style.fg, Some(Color::Red));
        assert!(s[1].style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(s[2].style, Style::default());
    }

    #[test]
    fn no_colour_keeps_emphasis_only() {
        let s = spans("\u{1b}[1;38;5;200mx", Style::default(), false);
        assert_eq!(s[0].style.fg, None);
        assert!(s[0].style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn truecolour_parses() {
        let s = spans("\u{1b}[38;2;1;2;3mx", Style::default(), true);
        assert_eq!(s[0].style.fg, Some(Color::Rgb(1, 2, 3)));
    }
}
