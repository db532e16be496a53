//! The watch of a provider that reads all its releases on a timer (ECS, Cloud Deploy): every
//! release on the first read, then only those whose picture changed; the feed's state; fast while
//! something runs or waits, slow otherwise, and at once when told (after an action).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::{DeliveryError, Feed, FeedState, Health, Release, ReleaseEvent};

pub struct Polling {
    pub provider: &'static str,
    /// The feed's label ("ECS · eu-west-1").
    pub label: String,
    /// The wait while a release runs or waits for a person, and otherwise.
    pub active: Duration,
    pub idle: Duration,
    /// Wakes the watch before its wait is over.
    pub nudge: Option<Arc<Notify>>,
}

/// Whether two reads of a release would look the same: their provider pictures (`T`, in
/// `Release::native`) are equal. The native value itself is new on every read.
pub fn same_picture<T: PartialEq + 'static>(a: &Release, b: &Release) -> bool {
    matches!((a.native.get::<T>(), b.native.get::<T>()), (Some(x), Some(y)) if x == y)
}

/// Reads with `read` until `stop` (or until nobody listens), reporting on `events`; `same` tells
/// an unchanged release from a changed one.
pub fn spawn<R, Fut>(
    poll: Polling,
    mut read: R,
    same: fn(&Release, &Release) -> bool,
    events: UnboundedSender<ReleaseEvent>,
    stop: CancellationToken,
) where
    R: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<Release>, DeliveryError>> + Send,
{
    tokio::spawn(async move {
        let feed = |state: FeedState| ReleaseEvent::Feed {
            provider: poll.provider.into(),
            feed: Feed { label: poll.label.clone(), state, scopes: Vec::new() },
        };
        let mut shown: Option<Vec<Release>> = None;
        loop {
            let busy = match read().await {
                Ok(releases) => {
                    let busy = releases.iter().any(|r| matches!(r.health, Health::Progressing | Health::Paused));
                    let sent = match &shown {
                        None => events.send(ReleaseEvent::Reset { provider: poll.provider.into(), releases: releases.clone() }).is_ok(),
                        Some(before) => releases
                            .iter()
                            .filter(|r| !before.iter().any(|b| b.reference == r.reference && same(b, r)))
                            .all(|r| events.send(ReleaseEvent::Changed(Box::new(r.clone()))).is_ok()),
                    };
                    if !sent || events.send(feed(FeedState::Live)).is_err() {
                        return;
                    }
                    shown = Some(releases);
                    busy
                }
                Err(e) => {
                    if events.send(feed(FeedState::Retrying(e.to_string()))).is_err() {
                        return;
                    }
                    false
                }
            };
            let wait = if busy { poll.active } else { poll.idle };
            let nudged = async {
                match &poll.nudge {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = nudged => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::delivery::{Native, Seen};
    use crate::domain::RolloutRef;

    fn release(name: &str, state: &str, health: Health) -> Release {
        Release {
            reference: RolloutRef { provider: "p".into(), scope: "s".into(), name: name.into() },
            kind: "test".into(),
            environment: None,
            service: None,
            health,
            state: state.into(),
            message: None,
            urgency: 4,
            step: None,
            weight: None,
            desired_weight: None,
            version: None,
            stable_version: None,
            run: None,
            analysis_run: None,
            pause_until: None,
            supports: Vec::new(),
            seen: Seen::default(),
            native: Native::new(state.to_string()),
            measured_on: None,
        }
    }

    #[tokio::test]
    async fn all_first_then_only_what_changed_and_a_nudge_reads_at_once() {
        let reads = Arc::new(Mutex::new(vec![
            vec![release("a", "Succeeded", Health::Healthy), release("b", "Succeeded", Health::Healthy)],
            vec![release("a", "Succeeded", Health::Healthy), release("b", "Deploying", Health::Healthy)],
        ]));
        let nudge = Arc::new(Notify::new());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let poll = Polling {
            provider: "p",
            label: "P".into(),
            active: Duration::from_secs(3600),
            idle: Duration::from_secs(3600),
            nudge: Some(nudge.clone()),
        };
        let source = reads.clone();
        let read = move || {
            let next = {
                let mut r = source.lock().unwrap();
                if r.len() > 1 { r.remove(0) } else { r[0].clone() }
            };
            async move { Ok(next) }
        };
        spawn(poll, read, same_picture::<String>, tx, stop.clone());
        let Some(ReleaseEvent::Reset { releases, .. }) = rx.recv().await else { panic!("a reset first") };
        assert_eq!(releases.len(), 2);
        assert!(matches!(rx.recv().await, Some(ReleaseEvent::Feed { feed: Feed { state: FeedState::Live, .. }, .. })));
        // An hour's wait, cut short by the nudge: only b changed.
        nudge.notify_one();
        let Some(ReleaseEvent::Changed(changed)) = rx.recv().await else { panic!("b changed") };
        assert_eq!((changed.reference.name.as_str(), changed.state.as_str()), ("b", "Deploying"));
        assert!(matches!(rx.recv().await, Some(ReleaseEvent::Feed { .. })));
        stop.cancel();
    }
}
