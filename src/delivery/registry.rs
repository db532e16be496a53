//! Every configured rollout provider behind one `RolloutProvider`: references are routed to the
//! provider they name, lists are merged, and a short reference (`api`, `shop/api`) is completed
//! when exactly one provider claims it.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::{By, DeliveryError, Detail, Permissions, Plan, Release, ReleaseEvent, RolloutAction, RolloutProvider, Seen};
use crate::domain::RolloutRef;

#[derive(Clone, Default)]
pub struct Registry {
    providers: Vec<Arc<dyn RolloutProvider>>,
}

impl Registry {
    pub fn new(providers: Vec<Arc<dyn RolloutProvider>>) -> Registry {
        Registry { providers }
    }

    pub fn providers(&self) -> &[Arc<dyn RolloutProvider>] {
        &self.providers
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name().to_string()).collect()
    }

    fn known(&self) -> String {
        let names = self.names();
        if names.is_empty() { "none".into() } else { names.join(", ") }
    }

    /// The provider a (resolved) reference names.
    pub fn provider(&self, r: &RolloutRef) -> Result<&Arc<dyn RolloutProvider>, DeliveryError> {
        self.providers
            .iter()
            .find(|p| p.name() == r.provider)
            .ok_or_else(|| DeliveryError::UnknownProvider { provider: r.provider.clone(), known: self.known() })
    }

    /// The full reference for what the user typed: the provider it names, or the one provider that
    /// claims a short form, completed by that provider.
    pub fn resolve(&self, r: RolloutRef) -> Result<RolloutRef, DeliveryError> {
        if let Ok(p) = self.provider(&r) {
            return Ok(p.complete(r));
        }
        let claimants: Vec<&Arc<dyn RolloutProvider>> = self.providers.iter().filter(|p| p.claims(&r)).collect();
        match claimants[..] {
            [one] => Ok(one.complete(RolloutRef { provider: one.name().to_string(), ..r })),
            [] if !self.providers.iter().any(|p| p.name() == r.provider) && !r.provider.is_empty() => {
                Err(DeliveryError::UnknownProvider { provider: r.provider.clone(), known: self.known() })
            }
            [] => Err(DeliveryError::Unknown(r.text())),
            _ => Err(DeliveryError::Refused(format!(
                "`{}` could be a rollout of {}; name the provider ({}:…)",
                r.name,
                claimants.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
                claimants[0].name()
            ))),
        }
    }
}

impl RolloutProvider for Registry {
    fn name(&self) -> &str {
        "all"
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        async move {
            let mut all = Vec::new();
            for p in &self.providers {
                all.extend(p.list().await?);
            }
            all.sort_by(|a, b| (a.urgency, &a.environment, a.reference.text()).cmp(&(b.urgency, &b.environment, b.reference.text())));
            Ok(all)
        }
        .boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move {
            let r = self.resolve(r)?;
            self.provider(&r)?.get(r).await
        }
        .boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        for p in &self.providers {
            p.watch(events.clone(), stop.clone());
        }
    }

    /// `PROVIDER:change`, or a change every provider that can take it takes.
    fn rescope(&self, change: &str) -> Result<(), DeliveryError> {
        if let Some((name, rest)) = change.split_once(':')
            && let Some(p) = self.providers.iter().find(|p| p.name() == name)
        {
            return p.rescope(rest);
        }
        let mut last = DeliveryError::Refused(format!("no rollout provider can switch to `{change}`"));
        let mut any = false;
        for p in &self.providers {
            match p.rescope(change) {
                Ok(()) => any = true,
                Err(e) => last = e,
            }
        }
        if any { Ok(()) } else { Err(last) }
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move { self.provider(&r)?.detail(r).await }.boxed()
    }

    fn detail_changes(&self, r: RolloutRef) -> BoxStream<'static, ()> {
        match self.provider(&r) {
            Ok(p) => p.detail_changes(r),
            Err(_) => Box::pin(futures::stream::empty()),
        }
    }

    fn permissions(&self, r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        async move { self.provider(&r)?.permissions(r).await }.boxed()
    }

    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, now: Timestamp) -> Result<Plan, super::PlanError> {
        self.provider(&release.reference).map_err(|e| e.to_string())?.plan(release, detail, action, now)
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, seen: Option<Seen>, by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move { self.provider(&r)?.execute(r, action, seen, by).await }.boxed()
    }
}
