//! Every configured CI provider behind one `CiProvider`: run references are routed to the
//! provider they name, lists are merged newest first, a trigger goes to the provider that has the
//! pipeline, and a bare id is completed when exactly one provider claims it.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{CiError, CiProvider, RunEvidence, RunPage, RunQuery};
use crate::domain::{GateDecision, RunRecord, RunRef, Trigger};
use crate::logstore::RawLine;

#[derive(Clone, Default)]
pub struct Registry {
    providers: Vec<Arc<dyn CiProvider>>,
}

impl Registry {
    pub fn new(providers: Vec<Arc<dyn CiProvider>>) -> Registry {
        Registry { providers }
    }

    pub fn providers(&self) -> &[Arc<dyn CiProvider>] {
        &self.providers
    }

    fn known(&self) -> String {
        let names: Vec<&str> = self.providers.iter().map(|p| p.name()).collect();
        if names.is_empty() { "none".into() } else { names.join(", ") }
    }

    /// The provider a reference names.
    pub fn provider(&self, run: &RunRef) -> Result<&Arc<dyn CiProvider>, CiError> {
        self.providers
            .iter()
            .find(|p| p.name() == run.provider)
            .ok_or_else(|| CiError::UnknownProvider { provider: run.provider.clone(), known: self.known() })
    }

    /// Completes a reference typed without a provider (`42`): the one provider that claims it.
    pub fn resolve(&self, run: RunRef) -> Result<RunRef, CiError> {
        if run.is_resolved() {
            self.provider(&run)?;
            return Ok(run);
        }
        let claimants: Vec<&str> = self.providers.iter().filter(|p| p.claims(&run.id)).map(|p| p.name()).collect();
        match claimants[..] {
            [one] => Ok(RunRef::new(one, run.id)),
            [] => Err(CiError::NoSuchRun(run)),
            _ => Err(CiError::Ambiguous { example: format!("{}:{}", claimants[0], run.id), candidates: claimants.join(", "), id: run.id }),
        }
    }
}

/// Newest first across providers.
fn merge(mut runs: Vec<RunRecord>) -> Vec<RunRecord> {
    runs.sort_by(|a, b| {
        if a.is_newer_than(b) {
            std::cmp::Ordering::Less
        } else if b.is_newer_than(a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    runs
}

impl CiProvider for Registry {
    fn name(&self) -> &str {
        "all"
    }

    fn pipelines(&self) -> Vec<String> {
        let mut all: Vec<String> = self.providers.iter().flat_map(|p| p.pipelines()).collect();
        all.sort();
        all.dedup();
        all
    }

    fn claims(&self, bare_id: &str) -> bool {
        self.providers.iter().any(|p| p.claims(bare_id))
    }

    /// With one provider its pages pass through; with several, each is asked for its newest
    /// `limit` and the merge is cut to `limit` (paging across providers starts from the top).
    fn list_runs(&self, query: RunQuery) -> BoxFuture<'_, Result<RunPage, CiError>> {
        async move {
            if let [only] = &self.providers[..] {
                return only.list_runs(query).await;
            }
            let pages = futures::future::join_all(self.providers.iter().map(|p| p.list_runs(query.clone()))).await;
            let mut runs = Vec::new();
            let mut problems = Vec::new();
            let mut failed = 0;
            for (p, page) in self.providers.iter().zip(pages) {
                match page {
                    Ok(page) => {
                        runs.extend(page.runs);
                        // What a provider could not ask of its own service (one of its pipelines).
                        problems.extend(page.problems.into_iter().map(|x| format!("{}: {x}", p.name())));
                    }
                    Err(e) => {
                        failed += 1;
                        problems.push(format!("{}: {e}", p.name()));
                    }
                }
            }
            // Only when nobody answered is it an error; otherwise the others' runs, and what failed.
            if failed == self.providers.len() {
                return Err(CiError::Other(problems.join("; ")));
            }
            let mut runs = merge(runs);
            if query.limit > 0 {
                runs.truncate(query.limit);
            }
            Ok(RunPage { runs, next: None, problems })
        }
        .boxed()
    }

    fn authenticated(&self, subject: &str) -> BoxFuture<'_, Option<(String, String)>> {
        let provider = subject.split_once(':').and_then(|(name, _)| self.providers.iter().find(|p| p.name() == name)).cloned();
        let subject = subject.to_string();
        async move {
            match provider {
                Some(p) => p.authenticated(&subject).await,
                None => None,
            }
        }
        .boxed()
    }

    fn watch(&self, stop: CancellationToken) {
        for p in &self.providers {
            p.watch(stop.clone());
        }
    }

    fn trigger(&self, pipeline: String, trigger: Trigger) -> BoxFuture<'_, Result<RunRef, CiError>> {
        async move {
            // `provider:pipeline` names the provider; a bare name must be one provider's alone.
            if let Some((name, rest)) = pipeline.split_once(':')
                && let Some(p) = self.providers.iter().find(|p| p.name() == name)
            {
                return p.trigger(rest.to_string(), trigger).await;
            }
            let having: Vec<&Arc<dyn CiProvider>> = self.providers.iter().filter(|p| p.pipelines().contains(&pipeline)).collect();
            match having[..] {
                [] => Err(CiError::UnknownPipeline { name: pipeline, known: self.pipelines().join(", ") }),
                [p] => p.trigger(pipeline, trigger).await,
                _ => Err(CiError::AmbiguousPipeline {
                    example: format!("{}:{pipeline}", having[0].name()),
                    providers: having.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
                    name: pipeline,
                }),
            }
        }
        .boxed()
    }

    fn run(&self, run: RunRef) -> BoxFuture<'_, Result<RunRecord, CiError>> {
        async move { self.provider(&run)?.run(run).await }.boxed()
    }

    fn cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.provider(&run)?.cancel(run).await }.boxed()
    }

    fn retry(&self, run: RunRef, trigger: Trigger) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.provider(&run)?.retry(run, trigger).await }.boxed()
    }

    fn retry_scoped(&self, run: RunRef, trigger: Trigger, scope: crate::ci::RetryScope) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.provider(&run)?.retry_scoped(run, trigger, scope).await }.boxed()
    }

    fn trigger_form(&self, pipeline: &str) -> BoxFuture<'_, Result<Option<crate::ci::form::TriggerForm>, CiError>> {
        let pipeline = pipeline.to_string();
        async move {
            // The first provider that knows the pipeline and asks for more than its name.
            for p in &self.providers {
                if let Some(form) = p.trigger_form(&pipeline).await? {
                    return Ok(Some(form));
                }
            }
            Ok(None)
        }
        .boxed()
    }

    fn force_cancel(&self, run: RunRef) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.provider(&run)?.force_cancel(run).await }.boxed()
    }

    fn decide_gate(&self, run: RunRef, job: String, decision: GateDecision) -> BoxFuture<'_, Result<(), CiError>> {
        async move { self.provider(&run)?.decide_gate(run, job, decision).await }.boxed()
    }

    fn read_log(&self, run: RunRef, job: String) -> BoxFuture<'_, Result<Vec<RawLine>, CiError>> {
        async move { self.provider(&run)?.read_log(run, job).await }.boxed()
    }

    fn log_file(&self, run: RunRef, job: String) -> BoxFuture<'_, Option<std::path::PathBuf>> {
        async move { self.provider(&run).ok()?.log_file(run, job).await }.boxed()
    }

    fn evidence(&self, run: RunRef) -> BoxFuture<'_, Result<RunEvidence, CiError>> {
        async move { self.provider(&run)?.evidence(run).await }.boxed()
    }
}
