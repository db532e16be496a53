//! The composition root: the one place that turns the configuration into providers. The cockpit
//! and the command line reach backends only through what is built here.

use std::path::Path;

use crate::config::Config;
use crate::rollout::Controller;

/// The NGINX canary controller for the configured rollouts, journaling into the data directory.
pub fn nginx_controller(config: &Config, data_dir: &Path) -> Controller {
    let journal = crate::audit::Journal::in_data_dir(data_dir);
    Controller::new(config.rollouts.clone(), data_dir, config.canary_services(), Some(journal))
}
