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

pub fn ci(config: &Arc<Config>, data_dir: &Path, events: UnboundedSender<RunEvent>, open: Open) -> Result<Ci, CiError> {
    let local = match open {
        Open::Recover => LocalRunner::new(config.clone(), data_dir, events)?,
        Open::Lazily => LocalRunner::open(config.clone(), data_dir, events)?,
    };
    let providers: Vec<Arc<dyn CiProvider>> = vec![Arc::new(local.clone())];
    Ok(Ci { registry: Registry::new(providers), local })
}

/// The NGINX canary controller for the configured rollouts, journaling into the data directory.
pub fn nginx_controller(config: &Config, data_dir: &Path) -> Controller {
    let journal = crate::audit::Journal::in_data_dir(data_dir);
    Controller::new(config.rollouts.clone(), data_dir, config.canary_services(), Some(journal))
}
