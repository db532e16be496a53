//! The releases side of the runtime: the providers' feeds forwarded to the reducer, and the
//! follower of the opened release's detail.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::app::action::Action;
use crate::delivery::{Registry, RolloutProvider};
use crate::domain::RolloutRef;

pub struct ReleaseRuntime {
    pub providers: Registry,
    /// Ends the feeds when the cockpit closes.
    pub stop: CancellationToken,
    /// Re-reads the opened release's detail as it changes.
    follower: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ReleaseRuntime {
    pub fn new(providers: Registry) -> ReleaseRuntime {
        ReleaseRuntime { providers, stop: CancellationToken::new(), follower: std::sync::Mutex::new(None) }
    }

    /// Starts every provider's feed, forwarded to the reducer as actions.
    pub fn watch(&self, tx: UnboundedSender<Action>) {
        let (events, mut rx) = unbounded_channel();
        self.providers.watch(events, self.stop.clone());
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if tx.send(Action::Release(ev)).is_err() {
                    break;
                }
            }
        });
    }

    /// Reads the release's detail now, and again whenever its provider says it may have changed,
    /// replacing the follower of the previously opened one (None: just stop).
    pub fn follow(self: &Arc<Self>, reference: Option<RolloutRef>, tx: UnboundedSender<Action>) {
        let Some(reference) = reference else {
            self.replace(None);
            return;
        };
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut changes = me.providers.detail_changes(reference.clone());
            loop {
                let detail = match me.providers.detail(reference.clone()).await {
                    Ok(d) => d,
                    Err(e) => crate::delivery::Detail {
                        reference: Some(reference.clone()),
                        loaded: true,
                        error: Some(e.to_string()),
                        ..Default::default()
                    },
                };
                if tx.send(Action::ReleaseDetail(Box::new(detail))).is_err() {
                    return;
                }
                if changes.next().await.is_none() {
                    return;
                }
                // A burst of changes (a rollout step touches several objects) is read once.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while let Some(Some(())) = futures::FutureExt::now_or_never(changes.next()) {}
            }
        });
        self.replace(Some(task));
    }

    fn replace(&self, task: Option<tokio::task::JoinHandle<()>>) {
        if let Ok(mut slot) = self.follower.lock()
            && let Some(old) = std::mem::replace(&mut *slot, task)
        {
            old.abort();
        }
    }
}

impl Drop for ReleaseRuntime {
    fn drop(&mut self) {
        self.stop.cancel();
        self.replace(None);
    }
}
