//! Terminal setup and, above all, restoration: on quit, on panic, on SIGTERM/SIGHUP/SIGINT.

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Once;

use crate::app::effect::Outside;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute, queue};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Tui = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

/// Owns the terminal while the cockpit runs; dropping it puts the terminal back.
pub struct TerminalGuard {
    /// Never dropped: ratatui's Drop prints with eprintln! when showing the cursor fails, which
    /// panics once the terminal has gone away (SIGHUP) and would skip the cleanup after us.
    pub terminal: std::mem::ManuallyDrop<Tui>,
    /// What the terminal shows now, so a frame that changes nothing writes nothing.
    shown: Option<ratatui::buffer::Buffer>,
}

static PANIC_HOOK: Once = Once::new();

pub fn enter() -> io::Result<TerminalGuard> {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            crate::ci::local::process::end_all_jobs();
            restore();
            previous(info);
        }));
    });
    crossterm::terminal::enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, EnableBracketedPaste, cursor::Hide) {
        restore();
        return Err(e);
    }
    let terminal = Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(64 * 1024, io::stdout())))?;
    Ok(TerminalGuard { terminal: std::mem::ManuallyDrop::new(terminal), shown: None })
}

/// Puts the terminal back in the state the shell expects. Safe to call more than once.
pub fn restore() {
    let _ = crossterm::terminal::disable_raw_mode();
    let mut out = io::stdout();
    let _ = execute!(out, DisableBracketedPaste, LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
}

impl TerminalGuard {
    /// Draws one frame inside a synchronized update so the terminal shows it all at once. A frame
    /// identical to what is on screen writes nothing at all (not even the synchronisation or
    /// cursor sequences): a clock that ticks for a countdown costs no bytes over SSH until the
    /// text it shows changes. Returns whether anything was written.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame)) -> io::Result<bool> {
        // The cockpit never places a visible cursor (text fields draw their own), so the frame's
        // cell contents are all there is to compare.
        self.terminal.autoresize()?;
        let mut frame = self.terminal.get_frame();
        render(&mut frame);
        let current = self.terminal.current_buffer_mut();
        if self.shown.as_ref() == Some(&*current) {
            // Keep ratatui's double buffer in step; the inactive buffer equals this one.
            self.terminal.swap_buffers();
            return Ok(false);
        }
        self.shown = Some(current.clone());
        queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.flush()?;
        self.terminal.hide_cursor()?;
        self.terminal.swap_buffers();
        queue!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        self.terminal.backend_mut().flush()?;
        Ok(true)
    }
}

impl TerminalGuard {
    /// Puts `text` on the user's clipboard with OSC 52, which terminals (and tmux with
    /// `set-clipboard on`) pass to the clipboard of the machine the user sits at, over SSH too.
    /// The text is sanitised already; it is capped, as terminals cap what they accept.
    pub fn copy_to_clipboard(&mut self, text: &str) {
        use base64::Engine;
        let capped: String = text.chars().take(64 * 1024).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(capped.as_bytes());
        let out = self.terminal.backend_mut();
        let _ = write!(out, "\x1b]52;c;{encoded}\x07");
        let _ = out.flush();
    }
}

impl TerminalGuard {
    /// Gives the terminal to the user's pager or editor at `line`, and takes it back when that
    /// ends: the screen is then drawn again whole.
    pub fn hand_over(&mut self, to: &Outside, line: u64) -> Result<(), String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let program = match to {
            Outside::Editor { .. } => env("VISUAL").or_else(|| env("EDITOR")).unwrap_or_else(|| "vi".into()),
            Outside::Pager { .. } => env("PAGER").unwrap_or_else(|| "less".into()),
        };
        let _ = self.terminal.backend_mut().flush();
        restore();
        // The program's own words (`less -R`) are split by the shell, as git does; a file is an
        // argument, never part of the command text.
        let mut command = std::process::Command::new("sh");
        let status = match to {
            Outside::Editor { copy } => command.arg("-c").arg(format!("{program} +{line} \"$1\"")).arg("sh").arg(copy).status(),
            Outside::Pager { log } => {
                command.arg("-c").arg(format!("{program} +{line}")).stdin(std::process::Stdio::piped());
                command.spawn().and_then(|mut child| {
                    let feeding = child.stdin.take().map(|stdin| {
                        let log = log.clone();
                        std::thread::spawn(move || feed_plain(&log, stdin))
                    });
                    let status = child.wait();
                    // A pager that quit early closed the pipe: the feeder stops at its next write.
                    if let Some(f) = feeding {
                        let _ = f.join();
                    }
                    status
                })
            }
        };
        let back = crossterm::terminal::enable_raw_mode()
            .and_then(|_| execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste, cursor::Hide))
            .and_then(|_| self.terminal.clear());
        self.shown = None;
        back.map_err(|e| format!("the terminal could not be taken back: {e}"))?;
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("`{program}` ended with {s}")),
            Err(e) => Err(format!("cannot start `{program}`: {e}")),
        }
    }
}

/// Writes a job's log as the view shows it (sanitised, without colours) into `out`, a line at a
/// time, until the end or until the reader goes away.
fn feed_plain(log: &std::path::Path, out: impl Write) -> io::Result<()> {
    let mut reader = io::BufReader::with_capacity(1 << 16, std::fs::File::open(log)?);
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut line = Vec::new();
    while crate::logstore::index::read_line_capped(&mut reader, &mut line, crate::logstore::index::LINE_CAP)? > 0 {
        let raw = crate::logstore::index::decode(&line);
        writeln!(out, "{}", crate::logstore::sanitize::plain_line(&raw.bytes))?;
    }
    out.flush()
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self.terminal.backend_mut());
        restore();
    }
}

/// Restores the terminal if an error escapes while it is in raw mode.
pub fn restore_if_raw() {
    if crossterm::terminal::is_raw_mode_enabled().unwrap_or(false) {
        restore();
    }
}
