//! Turns untrusted bytes (job output, report text, API errors) into text that is safe to put on a
//! terminal. Colour (SGR) sequences survive because people rely on coloured build output; every other
//! control sequence is removed, so a hostile line cannot move the cursor, retitle the window, write
//! the clipboard (OSC 52) or hide text with bidi overrides.

/// Longest line kept in memory for display. Longer lines are shortened here; the job's log file on
/// disk keeps every byte.
pub const MAX_DISPLAY_BYTES: usize = 16 * 1024;

const ESC: char = '\u{1b}';
const TAB_WIDTH: usize = 8;

/// Sanitises one line of output (without its trailing newline) for the log view, shortening very
/// long lines.
pub fn sanitize_line(raw: &[u8]) -> String {
    sanitize_bytes(raw, MAX_DISPLAY_BYTES)
}

/// Sanitises a whole line, however long (CLI output).
pub fn sanitize_line_full(raw: &[u8]) -> String {
    sanitize_bytes(raw, usize::MAX)
}

fn sanitize_bytes(raw: &[u8], limit: usize) -> String {
    let mut raw = raw;
    let mut truncated = 0usize;
    if raw.len() > limit {
        truncated = raw.len() - limit;
        raw = &raw[..limit];
    }
    // Carriage returns: a terminal would show only what was written after the last one (progress bars).
    while let [rest @ .., b'\r'] = raw {
        raw = rest;
    }
    if let Some(pos) = raw.iter().rposition(|&b| b == b'\r') {
        raw = &raw[pos + 1..];
    }
    let mut out = if raw.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        // Fast path: printable ASCII needs no work beyond the copy.
        // Safety of the conversion is guaranteed by the check above.
        String::from_utf8(raw.to_vec()).unwrap_or_default()
    } else {
        sanitize_str(&String::from_utf8_lossy(raw))
    };
    if truncated > 0 {
        out.push_str(&format!("\u{1b}[0m … [{truncated} more bytes not shown; the full line is in the job's log file]"));
    }
    out
}

/// Sanitises text that is already valid UTF-8 (e.g. a message from a report or an API error).
pub fn sanitize_str(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut col = 0usize;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => match chars.peek().copied() {
                Some('[') => {
                    chars.next();
                    read_csi(&mut chars, &mut out);
                }
                Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
                    chars.next();
                    skip_string(&mut chars);
                }
                Some(c2) if ('\u{20}'..='\u{2f}').contains(&c2) => {
                    // ESC with intermediates (charset selection and friends): drop through the final byte.
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if !('\u{20}'..='\u{2f}').contains(&n) {
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\u{9b}' => read_csi(&mut chars, &mut out),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' => {
                let pad = TAB_WIDTH - (col % TAB_WIDTH);
                out.extend(std::iter::repeat_n(' ', pad));
                col += pad;
            }
            c if is_dangerous(c) => {}
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// Outside text for places that show it as plain text (toasts, dialogs, tables, errors): every
/// control sequence removed, colour included.
/// One line of output as plain text, as the log view shows it but without colours.
pub fn plain_line(raw: &[u8]) -> String {
    strip_sgr(&sanitize_line(raw)).into_owned()
}

pub fn plain(input: &str) -> String {
    redact_credentials(&strip_sgr(&sanitize_str(input)))
}

/// A short plain excerpt of outside text that may be huge (a value quoted in an error): at most
/// `chars` characters, then how long it really was. The text is cut before it is cleaned, so a
/// value of megabytes costs no more than its excerpt.
pub fn excerpt(value: &str, chars: usize) -> String {
    let cut = value.char_indices().nth(chars.saturating_mul(2)).map_or(value.len(), |(i, _)| i);
    let plain = plain(&value[..cut]);
    match plain.char_indices().nth(chars) {
        Some((i, _)) => format!("{}… ({} bytes)", &plain[..i], value.len()),
        None if cut < value.len() => format!("{plain}… ({} bytes)", value.len()),
        None => plain,
    }
}

/// A password in a URL (`https://user:secret@host`) is never shown: `https://user:•••@host`.
pub fn redact_credentials(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        // The authority ends at the first '/', whitespace or quote; credentials end at its '@'.
        let end = after.find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'').unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@').map(|at| (&authority[..at], &authority[at..])) {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or_default();
                out.push_str(user);
                out.push_str(":•••");
                out.push_str(host);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Text with every escape sequence removed, SGR included (for search, plain output and width).
pub fn strip_sgr(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(ESC) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == ESC {
            // Only SGR survives sanitising, so skipping to the `m` is enough.
            for n in chars.by_ref() {
                if n == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A character that controls the terminal or reorders text (C0, DEL, C1, bidi controls).
pub fn is_dangerous(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Reads a CSI sequence after its introducer; keeps it only when it is a plain SGR.
fn read_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let mut params = String::new();
    let mut clean = true;
    for c in chars.by_ref() {
        match c {
            '0'..='9' | ';' => params.push(c),
            ':' => params.push(';'),
            '\u{20}'..='\u{3f}' => clean = false,
            '\u{40}'..='\u{7e}' => {
                if c == 'm' && clean && params.len() <= 64 {
                    out.push(ESC);
                    out.push('[');
                    out.push_str(&params);
                    out.push('m');
                }
                return;
            }
            _ => return, // malformed: drop it and whatever control it carried
        }
    }
}

/// Skips an OSC/DCS/SOS/PM/APC string up to its terminator (BEL, ST or ESC \).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            ESC => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_never_shown() {
        assert_eq!(
            plain("cannot reach https://admin:hunter2@prom.example:9090/api (refused), see http://docs/x"),
            "cannot reach https://admin:•••@prom.example:9090/api (refused), see http://docs/x"
        );
        assert_eq!(plain("token in http://user@host/ only"), "token in http://user@host/ only");
        assert_eq!(plain("no url here: a:b@c"), "no url here: a:b@c");
    }

    #[test]
    fn keeps_colour_and_drops_everything_else() {
        let hostile = b"\x1b[31mred\x1b[0m \x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x1b\\ok\x1b[?1049h";
        assert_eq!(sanitize_line(hostile), "\u{1b}[31mred\u{1b}[0m ok");
    }

    #[test]
    fn progress_bars_show_the_last_segment() {
        assert_eq!(sanitize_line(b"10%\r50%\r100%\r\n".strip_suffix(b"\n").unwrap()), "100%");
        assert_eq!(sanitize_line(b"plain\r"), "plain");
    }

    #[test]
    fn tabs_expand_and_controls_vanish() {
        assert_eq!(sanitize_line(b"a\tb"), "a       b");
        assert_eq!(sanitize_line(b"bell\x07 back\x08space"), "bell backspace");
        assert_eq!(sanitize_str("x\u{202e}gnp.exe"), "xgnp.exe");
        assert_eq!(sanitize_str("c1 \u{9b}2J csi"), "c1  csi");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(sanitize_line(b"caf\xe9!"), "caf\u{fffd}!");
    }

    #[test]
    fn very_long_lines_are_shortened_for_display() {
        let line = vec![b'x'; MAX_DISPLAY_BYTES + 10];
        let shown = sanitize_line(&line);
        assert!(shown.starts_with("xxxx"));
        assert!(shown.contains("10 more bytes"));
    }

    #[test]
    fn plain_text_has_no_escape_at_all() {
        assert_eq!(plain("\u{1b}[31mred\u{1b}[0m \u{1b}]0;t\u{7}ok"), "red ok");
    }

    #[test]
    fn strip_sgr_leaves_text() {
        assert_eq!(strip_sgr("\u{1b}[1;32mok\u{1b}[0m!"), "ok!");
    }
}
