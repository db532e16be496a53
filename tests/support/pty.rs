//! The real binary in a pseudo-terminal, read through a terminal emulator (vt100) so assertions
//! are about what a user would see.

use std::io::ErrorKind;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

pub struct Term {
    pub session: OsSession,
    pub parser: vt100::Parser,
    pub raw: Vec<u8>,
}

impl Term {
    pub fn spawn(args: &[&str]) -> Term {
        Term::spawn_in(args, None)
    }

    pub fn spawn_in(args: &[&str], demo_dir: Option<&std::path::Path>) -> Term {
        // FLIGHTDECK_WRAPPER runs the binary under a profiler ("heaptrack", "valgrind --tool=massif").
        let wrapper = std::env::var("FLIGHTDECK_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(args).env("TERM", "xterm-256color").env_remove("NO_COLOR");
        if let Some(d) = demo_dir {
            cmd.env("FLIGHTDECK_DEMO_DIR", d);
        }
        let mut session = OsSession::spawn(cmd).expect("spawn flightdeck in a pty");
        session.get_process_mut().set_window_size(120, 40).expect("window size");
        Term {
            session,
            parser: vt100::Parser::new(std::num::NonZero::new(40).unwrap(), std::num::NonZero::new(120).unwrap(), 0),
            raw: Vec::new(),
        }
    }

    /// Resizes the terminal (the emulator and the pty).
    pub fn set_size(&mut self, cols: u16, rows: u16) {
        self.session.get_process_mut().set_window_size(cols, rows).expect("window size");
        self.parser
            .screen_mut()
            .set_size(std::num::NonZero::new(rows.max(1)).expect("rows"), std::num::NonZero::new(cols.max(1)).expect("cols"));
    }

    /// Reads what is available; returns the number of bytes.
    pub fn pump(&mut self) -> usize {
        let mut buf = [0u8; 16384];
        match self.session.try_read(&mut buf) {
            Ok(n) => {
                self.parser.process(&buf[..n]);
                self.raw.extend_from_slice(&buf[..n]);
                n
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(_) => 0, // the other side closed
        }
    }

    pub fn screen(&self) -> String {
        self.parser.screen().contents()
    }

    pub fn wait_for(&mut self, text: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.screen().contains(text) {
            if Instant::now() > deadline {
                panic!("{what}: `{text}` never appeared; screen:\n{}", self.screen());
            }
            if self.pump() == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn wait_raw(&mut self, needle: &[u8], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.raw.windows(needle.len()).any(|w| w == needle) {
            assert!(Instant::now() < deadline, "{what}: not written; screen:\n{}", self.screen());
            if self.pump() == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Bytes written during `window`.
    pub fn bytes_during(&mut self, window: Duration) -> usize {
        let deadline = Instant::now() + window;
        let mut total = 0;
        while Instant::now() < deadline {
            let n = self.pump();
            total += n;
            if n == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        total
    }

    /// Reads until `quiet` passes with nothing written (what a change drew has arrived), for at
    /// most `limit`; panics if the terminal never goes quiet.
    pub fn settle(&mut self, quiet: Duration, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        while self.bytes_during(quiet) > 0 {
            assert!(Instant::now() < deadline, "{what}: the terminal never went quiet; screen:\n{}", self.screen());
        }
    }

    pub fn send(&mut self, keys: &str) {
        use std::io::Write;
        self.session.write_all(keys.as_bytes()).unwrap();
        self.session.flush().unwrap();
    }

    pub fn pid(&self) -> i32 {
        self.session.get_process().pid().as_raw()
    }

    /// Waits for the process to end and returns how.
    pub fn wait_exit(&mut self) -> WaitStatus {
        // Keep reading so the child never blocks on a full terminal.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.pump();
            match self.session.get_process().status() {
                Ok(WaitStatus::StillAlive) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(s) => return s,
                Err(e) => panic!("the cockpit did not exit: {e}"),
            }
        }
    }
}
