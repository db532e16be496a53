//! The outbox: one file per delivery (a notice, or a sealed group of them, for one sink), written
//! whole and renamed into place, removed once the receiver has it. A process killed at any moment
//! leaves each delivery either pending or gone; a delivery being sent when it was killed is sent
//! again, with the same key.
//!
//! ```text
//! notify/outbox/SINK/ORDER-KEY.json   pending (ORDER: the journal's order, so files sort in it)
//! notify/failed/SINK/ORDER-KEY.json   given up, kept for `flightdeck notify outbox`
//! notify/cursor.json                  how far the journal has been read
//! notify/threads.json                 Slack threads, per release
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Notice;

/// One thing to send to one sink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub sink: String,
    /// Where it sorts: the journal's order.
    pub order: u64,
    pub notices: Vec<Notice>,
    /// Once sealed (a group, or tried once) it is sent as it is, whatever arrives after.
    #[serde(default)]
    pub sealed: bool,
    #[serde(default)]
    pub attempts: u32,
    /// When it was first written (ms since the epoch).
    pub queued_ms: i64,
    /// Not before (ms since the epoch).
    #[serde(default)]
    pub next_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Delivery {
    pub fn key(&self) -> String {
        if self.notices.len() == 1 { self.notices[0].key.clone() } else { super::Message::of(&self.notices).key }
    }
    fn file_name(&self) -> String {
        format!("{:020}-{}.json", self.order, self.key())
    }
}

#[derive(Clone, Debug)]
pub struct Outbox {
    root: PathBuf,
}

/// How far the journal has been turned into notices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Bytes of the journal read.
    pub offset: u64,
    /// The last record read.
    pub seq: u64,
    /// Its hash: the next record must link to it.
    #[serde(default)]
    pub hash: Option<String>,
    /// Records older than this (ms since the epoch) are not told: set when notifications are
    /// first configured, so the history is not sent as news.
    #[serde(default)]
    pub since_ms: Option<i64>,
}

impl Outbox {
    pub fn in_data_dir(data_dir: &Path) -> Outbox {
        Outbox { root: data_dir.join("notify") }
    }

    fn pending_dir(&self, sink: &str) -> PathBuf {
        self.root.join("outbox").join(sink)
    }
    fn failed_dir(&self, sink: &str) -> PathBuf {
        self.root.join("failed").join(sink)
    }

    pub fn cursor(&self) -> Option<Cursor> {
        let text = std::fs::read(self.root.join("cursor.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn save_cursor(&self, cursor: &Cursor) -> std::io::Result<()> {
        crate::util::replace_file(&self.root.join("cursor.json"), &serde_json::to_vec(cursor).unwrap_or_default())
    }

    /// Queues a delivery unless one with its name is already there (the journal read again after
    /// a crash gives the same names).
    pub fn enqueue(&self, d: &Delivery) -> std::io::Result<bool> {
        let dir = self.pending_dir(&d.sink);
        let path = dir.join(d.file_name());
        if path.exists() || self.failed_dir(&d.sink).join(d.file_name()).exists() {
            return Ok(false);
        }
        crate::util::replace_file(&path, &serde_json::to_vec(d).unwrap_or_default())?;
        Ok(true)
    }

    /// The sink's pending deliveries, in order, at most `limit` of them (a flood is worked
    /// through a slice at a time: memory does not grow with it). A sealed group's members that
    /// are still there on their own (a crash between the two writes) are dropped.
    pub fn pending(&self, sink: &str, limit: usize) -> Vec<(PathBuf, Delivery)> {
        let dir = self.pending_dir(sink);
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        names.sort();
        let mut out: Vec<(PathBuf, Delivery)> = Vec::new();
        for path in names {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            match serde_json::from_slice::<Delivery>(&bytes) {
                Ok(d) => out.push((path, d)),
                // A damaged file (a disk that filled mid-write cannot leave one: writes are whole
                // and renamed) is set aside rather than blocking the sink forever.
                Err(_) => {
                    let _ = std::fs::rename(&path, path.with_extension("damaged"));
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        let grouped: std::collections::HashSet<String> =
            out.iter().filter(|(_, d)| d.notices.len() > 1).flat_map(|(_, d)| d.notices.iter().map(|n| n.key.clone())).collect();
        out.retain(|(path, d)| {
            let stale = d.notices.len() == 1 && !d.sealed && grouped.contains(&d.notices[0].key);
            if stale {
                let _ = std::fs::remove_file(path);
            }
            !stale
        });
        out
    }

    /// Sinks with something pending.
    pub fn busy_sinks(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.join("outbox")) else { return Vec::new() };
        entries
            .flatten()
            .filter(|e| {
                std::fs::read_dir(e.path()).is_ok_and(|mut d| d.any(|f| f.is_ok_and(|f| f.path().extension().is_some_and(|x| x == "json"))))
            })
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect()
    }

    /// Replaces `members` with one sealed delivery holding them all.
    pub fn seal(&self, members: &[(PathBuf, Delivery)]) -> std::io::Result<(PathBuf, Delivery)> {
        let first = &members[0].1;
        let mut sealed = Delivery {
            sink: first.sink.clone(),
            order: first.order,
            notices: members.iter().flat_map(|(_, d)| d.notices.clone()).collect(),
            sealed: true,
            attempts: first.attempts,
            queued_ms: first.queued_ms,
            next_ms: first.next_ms,
            last_error: first.last_error.clone(),
        };
        if members.len() == 1 {
            sealed.notices = first.notices.clone();
        }
        let path = self.pending_dir(&sealed.sink).join(sealed.file_name());
        crate::util::replace_file(&path, &serde_json::to_vec(&sealed).unwrap_or_default())?;
        for (p, _) in members {
            if *p != path {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok((path, sealed))
    }

    /// Writes a delivery's new state (after a failed attempt).
    pub fn update(&self, path: &Path, d: &Delivery) -> std::io::Result<()> {
        crate::util::replace_file(path, &serde_json::to_vec(d).unwrap_or_default())
    }

    /// The receiver has it.
    pub fn delivered(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Given up: kept apart so that it is seen, not retried.
    pub fn give_up(&self, path: &Path, d: &Delivery) -> std::io::Result<()> {
        let to = self.failed_dir(&d.sink).join(d.file_name());
        crate::util::replace_file(&to, &serde_json::to_vec(d).unwrap_or_default())?;
        std::fs::remove_file(path)
    }

    /// Every pending and every failed delivery, for listing.
    pub fn list(&self) -> (Vec<Delivery>, Vec<Delivery>) {
        let read = |dir: PathBuf| -> Vec<Delivery> {
            let mut out = Vec::new();
            let Ok(sinks) = std::fs::read_dir(dir) else { return out };
            for sink in sinks.flatten() {
                let Ok(files) = std::fs::read_dir(sink.path()) else { continue };
                let mut paths: Vec<PathBuf> =
                    files.flatten().map(|f| f.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
                paths.sort();
                out.extend(paths.iter().filter_map(|p| serde_json::from_slice::<Delivery>(&std::fs::read(p).ok()?).ok()));
            }
            out
        };
        (read(self.root.join("outbox")), read(self.root.join("failed")))
    }

    /// How many deliveries were given up.
    pub fn failed_count(&self) -> usize {
        let Ok(sinks) = std::fs::read_dir(self.root.join("failed")) else { return 0 };
        sinks.flatten().filter_map(|s| std::fs::read_dir(s.path()).ok()).map(|d| d.flatten().count()).sum()
    }

    pub fn threads_path(&self) -> PathBuf {
        self.root.join("threads.json")
    }
}
