//! Bounded in-memory log store: what the log view shows. Capped by lines and bytes so a flood of
//! output cannot exhaust memory; the job's log file on disk stays complete.

pub mod ansi;
pub mod index;
pub mod sanitize;
pub mod sections;
mod store;

pub use store::{LogStore, Matcher, StoredLine, looks_like_error};

/// The matcher used by search, so live lines are matched exactly like stored ones.
pub fn store_matcher(query: &str) -> Matcher {
    Matcher::new(query)
}

use serde::{Deserialize, Serialize};

/// Where a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    Out,
    Err,
    /// Lines written by flightdeck itself (exit status, retries, gate decisions).
    Meta,
}

impl Stream {
    pub fn code(self) -> u8 {
        match self {
            Stream::Out => b'o',
            Stream::Err => b'e',
            Stream::Meta => b'm',
        }
    }
    pub fn from_code(b: u8) -> Stream {
        match b {
            b'e' => Stream::Err,
            b'm' => Stream::Meta,
            _ => Stream::Out,
        }
    }
}

/// A raw line as captured from a process, before sanitising.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawLine {
    pub ts_ms: i64,
    pub stream: Stream,
    pub bytes: Vec<u8>,
}
