//! Terminal input on a thread of its own that can be paused: while a pager or an editor has the
//! terminal, nothing of flightdeck reads it (crossterm's async event stream keeps a read pending
//! on the terminal, which would take the other program's keys).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossterm::event::Event;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How long one wait for input lasts: the longest a pause waits for the reader to stop.
const WAIT: Duration = Duration::from_millis(100);

pub struct Input {
    pub events: UnboundedReceiver<std::io::Result<Event>>,
    shared: Arc<Shared>,
}

struct Shared {
    paused: AtomicBool,
    /// Whether the reader is parked (not waiting on the terminal), and its wake-up.
    parked: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Input {
    pub fn start() -> Input {
        let (tx, events) = unbounded_channel();
        let shared = Arc::new(Shared {
            paused: AtomicBool::new(false),
            parked: Mutex::new(false),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || read(&s, &tx));
        Input { events, shared }
    }

    /// Stops reading the terminal, and returns once the reader is parked.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
        let Ok(mut parked) = self.shared.parked.lock() else { return };
        // The reader parks within one wait; a little longer is allowed before going on anyway.
        let deadline = std::time::Instant::now() + WAIT * 3;
        while !*parked {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            parked = match self.shared.wake.wait_timeout(parked, left) {
                Ok((p, _)) => p,
                Err(_) => return,
            };
        }
    }

    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.resume();
    }
}

fn read(s: &Shared, tx: &UnboundedSender<std::io::Result<Event>>) {
    loop {
        if s.stop.load(Ordering::SeqCst) || tx.is_closed() {
            return;
        }
        if s.paused.load(Ordering::SeqCst) {
            let Ok(mut parked) = s.parked.lock() else { return };
            *parked = true;
            s.wake.notify_all();
            while s.paused.load(Ordering::SeqCst) && !s.stop.load(Ordering::SeqCst) {
                parked = match s.wake.wait_timeout(parked, WAIT) {
                    Ok((p, _)) => p,
                    Err(_) => return,
                };
            }
            *parked = false;
            continue;
        }
        match crossterm::event::poll(WAIT) {
            Ok(true) => {
                let ev = crossterm::event::read();
                let failed = ev.is_err();
                if tx.send(ev).is_err() || failed {
                    return;
                }
            }
            Ok(false) => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}
