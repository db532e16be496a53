//! The composition root: the one place that turns the configuration into providers. The cockpit
//! and the command line reach backends only through what is built here.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::ci::local::LocalRunner;
use crate::ci::{CiError, CiProvider, Registry, RunEvent};
use crate::config::Config;
use crate::rollout::Controller;

/// The CI providers, reporting on `events`: the registry everything goes through, and the local
/// runner's handle for what only it does (execute a run in this process, follow its files).
#[derive(Clone)]
pub struct Ci {
    pub registry: Registry,
    pub local: LocalRunner,
}

/// How much of the run history to read when the providers are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Find interrupted runs now (the command line acts on the history at once).
    Recover,
    /// Read nothing yet (the cockpit draws its first frame before touching the history).
    Lazily,
}

/// Local runs are executed by the data directory's supervisor, never by the process that asks:
/// the cockpit and the command line can come and go.
pub fn ci(config: &Arc<Config>, data_dir: &Path, events: UnboundedSender<RunEvent>, open: Open) -> Result<Ci, CiError> {
    let supervisor = Arc::new(crate::supervisor::Client::new(data_dir, config.path.as_deref()));
    let local = LocalRunner::dispatching(config.clone(), data_dir, events.clone(), supervisor)?;
    if open == Open::Recover {
        local.recover_interrupted()?;
    }
    let mut providers: Vec<Arc<dyn CiProvider>> = vec![Arc::new(local.clone())];
    for settings in &config.github {
        let github = crate::ci::github::GithubProvider::new(settings.clone(), events.clone())?.cached_in(&data_dir.join("cache"));
        providers.push(Arc::new(github));
    }
    for settings in &config.codepipeline {
        providers.push(Arc::new(crate::ci::codepipeline::CodePipelineProvider::new(settings.clone(), events.clone())?));
    }
    for settings in &config.cloudbuild {
        providers.push(Arc::new(crate::ci::cloudbuild::CloudBuildProvider::new(settings.clone(), events.clone())));
    }
    Ok(Ci { registry: Registry::new(providers), local })
}

/// Every configured rollout provider: NGINX canaries of the configuration, and the Argo Rollouts
/// of the Kubernetes context (with the kubeconfig's defaults when `kube` asks for them without a
/// `[kubernetes]` section).
pub fn releases(config: &Config, data_dir: &Path, kube: bool) -> crate::delivery::Registry {
    let mut providers: Vec<Arc<dyn crate::delivery::RolloutProvider>> = Vec::new();
    if !config.rollouts.is_empty() {
        // Canaries left under way are kept moving by the supervisor when no cockpit is open.
        let keeper = Arc::new(crate::supervisor::Client::new(data_dir, config.path.as_deref()));
        providers.push(Arc::new(crate::rollout::NginxProvider::kept_by(nginx_controller(config, data_dir), keeper)));
    }
    for settings in &config.github {
        // The repositories' deployments: which version is in which environment.
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(gh) = crate::ci::github::GithubProvider::new(settings.clone(), events) {
            providers.push(Arc::new(crate::ci::github::GithubDeployments::of(gh)));
        }
    }
    match &config.kubernetes {
        Some(k) => providers.push(Arc::new(crate::argo::ArgoProvider::new(k.clone()))),
        None if kube => providers.push(Arc::new(crate::argo::ArgoProvider::new(Default::default()))),
        None => {}
    }
    if let Some(settings) = &config.argocd {
        let production = config.environments.iter().filter(|(_, e)| e.production).map(|(n, _)| n.clone()).collect();
        // Through the Kubernetes API an operation names who started it: this account (the API
        // server knows its own user), the same in the confirmation as in the write.
        let account = crate::identity::account_name(nix::unistd::geteuid().as_raw());
        match crate::deploy::argocd::provider::ArgoCdProvider::from_settings(settings, production, account) {
            Ok(p) => {
                let services = config.kubernetes.as_ref().map(|k| k.services.clone()).unwrap_or_default();
                providers.push(Arc::new(p.with_services(services)))
            }
            Err(e) => {
                tracing::warn!("Argo CD is configured but cannot be used: {e}");
                providers.push(Arc::new(crate::delivery::Unusable::new(crate::deploy::argocd::provider::ARGOCD, "Argo CD", e.to_string())));
            }
        }
    }
    if let Some(settings) = &config.ecs {
        match crate::deploy::ecs::EcsProvider::new(settings.clone()) {
            Ok(p) => providers.push(Arc::new(p)),
            Err(e) => {
                tracing::warn!("ECS is configured but cannot be used: {e}");
                providers.push(Arc::new(crate::delivery::Unusable::new(crate::deploy::ecs::ECS_PROVIDER, "ECS", e.to_string())));
            }
        }
    }
    if let Some(settings) = &config.clouddeploy {
        providers.push(Arc::new(crate::deploy::clouddeploy::CloudDeployProvider::new(settings.clone())));
    }
    crate::delivery::Registry::new(providers)
}

/// The NGINX canary controller for the configured rollouts, journaling into the data directory.
pub fn nginx_controller(config: &Config, data_dir: &Path) -> Controller {
    let journal = crate::audit::Journal::in_data_dir(data_dir);
    Controller::new(config.rollouts.clone(), data_dir, config.canary_services(), Some(journal))
}
