//! A configured provider that cannot be used (no token, an unreadable setting): it stays in the
//! registry so that the releases screen and the commands say why, instead of acting as if it
//! were not configured.

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::{By, DeliveryError, Detail, Feed, FeedState, Plan, PlanError, Release, ReleaseEvent, RolloutAction, RolloutProvider, Seen};
use crate::domain::RolloutRef;

pub struct Unusable {
    name: String,
    label: String,
    why: String,
}

impl Unusable {
    pub fn new(name: &str, label: &str, why: String) -> Unusable {
        Unusable { name: name.into(), label: label.into(), why }
    }

    fn error(&self) -> DeliveryError {
        DeliveryError::Backend(format!("{} cannot be used: {}", self.label, self.why))
    }
}

impl RolloutProvider for Unusable {
    fn name(&self) -> &str {
        &self.name
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        async move { Err(self.error()) }.boxed()
    }

    fn get(&self, _r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move { Err(self.error()) }.boxed()
    }

    /// Says once, on its feed, why nothing will come.
    fn watch(&self, events: UnboundedSender<ReleaseEvent>, _stop: CancellationToken) {
        let feed = Feed { label: self.label.clone(), state: FeedState::Retrying(self.error().to_string()), scopes: Vec::new() };
        let _ = events.send(ReleaseEvent::Feed { provider: self.name.clone(), feed });
    }

    fn detail(&self, _r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move { Err(self.error()) }.boxed()
    }

    fn plan(&self, _release: &Release, _detail: Option<&Detail>, _action: &RolloutAction, _now: Timestamp) -> Result<Plan, PlanError> {
        Err(PlanError::Invalid(self.error().to_string()))
    }

    fn execute(
        &self,
        _r: RolloutRef,
        _action: RolloutAction,
        _seen: Option<Seen>,
        _by: By,
    ) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move { Err(self.error()) }.boxed()
    }
}
