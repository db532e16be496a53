//! What a backend refused this user (IAM, Google's IAM), remembered per release, verb and the
//! deployment it was refused on: the key stays greyed with the backend's words while that
//! deployment lasts, and the opened detail is read again when a refusal is remembered.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::stream::BoxStream;

use crate::domain::RolloutRef;

/// Refusals remembered (oldest forgotten first): enough for every key of every release a person
/// looks at.
const KEPT: usize = 256;

struct Denial {
    release: String,
    verb: &'static str,
    /// The deployment or rollout it was refused on.
    on: String,
    why: String,
}

pub struct Denials {
    kept: Mutex<Vec<Denial>>,
    bumped: tokio::sync::watch::Sender<u64>,
}

impl Default for Denials {
    fn default() -> Self {
        Denials { kept: Mutex::default(), bumped: tokio::sync::watch::Sender::new(0) }
    }
}

impl Denials {
    /// Verb → the backend's words, for `r` as it stands (`on` the deployment now).
    pub fn of(&self, r: &RolloutRef, on: Option<&str>) -> BTreeMap<String, String> {
        let key = r.to_string();
        let Ok(kept) = self.kept.lock() else { return BTreeMap::new() };
        kept.iter().filter(|d| d.release == key && Some(d.on.as_str()) == on).map(|d| (d.verb.to_string(), d.why.clone())).collect()
    }

    pub fn remember(&self, r: &RolloutRef, verb: &'static str, on: &str, why: String) {
        let key = r.to_string();
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|d| !(d.release == key && d.verb == verb));
            kept.push(Denial { release: key, verb, on: on.to_string(), why });
            let over = kept.len().saturating_sub(KEPT);
            kept.drain(..over);
        }
        self.bumped.send_modify(|n| *n += 1);
    }

    /// Ticks whenever a refusal is remembered.
    pub fn changes(&self) -> BoxStream<'static, ()> {
        let rx = self.bumped.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.changed().await.ok().map(|_| ((), rx)) }))
    }
}
