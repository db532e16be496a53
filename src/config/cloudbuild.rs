//! `[ci.cloudbuild.NAME]`: Google Cloud Build as a CI provider — the project, the regions its
//! builds run in, and the triggers to show (each trigger is a pipeline).

use serde::Deserialize;

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloudBuild {
    pub project: String,
    /// Regions whose builds to show (`global` for builds without one); default `["global"]`.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Triggers to show, by name (each is a pipeline: `flightdeck run NAME` runs it).
    #[serde(default)]
    pub triggers: Vec<String>,
    /// The API root, as gcloud's `api_endpoint_overrides/cloudbuild` (default Google's).
    pub endpoint: Option<String>,
    /// Where build logs are read from (default Google's Cloud Storage).
    pub storage_endpoint: Option<String>,
    /// Where the logs of builds that log to Cloud Logging only are read from (default Google's).
    pub logging_endpoint: Option<String>,
    /// Trigger → flightdeck environment, for the policy of its approvals.
    #[serde(default)]
    pub gate_environments: BTreeMap<String, String>,
    /// Files among a build's uploaded artifacts (`artifacts.objects`) that are scan reports.
    #[serde(default)]
    pub report_artifacts: Vec<String>,
    pub active_poll: Option<String>,
    pub idle_poll: Option<String>,
}

/// One Google Cloud project's Cloud Build. NAME is the prefix of its run references:
/// `gcb:us-central1/5f1c…` for `[ci.cloudbuild.gcb]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudBuildSettings {
    pub name: String,
    pub project: String,
    pub regions: Vec<String>,
    pub triggers: Vec<String>,
    pub endpoint: String,
    pub storage_endpoint: String,
    pub logging_endpoint: String,
    pub gate_environments: BTreeMap<String, String>,
    pub report_artifacts: Vec<String>,
    pub active_poll: Duration,
    pub idle_poll: Duration,
}

pub const CLOUDBUILD_API: &str = "https://cloudbuild.googleapis.com";
pub const STORAGE_API: &str = "https://storage.googleapis.com";
pub const LOGGING_API: &str = "https://logging.googleapis.com";

pub(super) fn build(rep: &mut Reporter<'_>, raw: &RawConfig) -> Vec<CloudBuildSettings> {
    let mut out = Vec::new();
    for (name, c) in &raw.ci.cloudbuild {
        let key = format!("ci.cloudbuild.{name}");
        let r = c.get_ref();
        let taken = raw.ci.github.contains_key(name) || raw.ci.codepipeline.contains_key(name);
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || name == crate::domain::LOCAL
            || taken
        {
            let why = format!("`{name}` cannot name a CI provider (letters, digits, - and _; not `local`, not another provider's name)");
            rep.error(Some(c.span()), key.clone(), why);
        }
        if r.project.trim().is_empty() || r.project.contains('/') {
            rep.error(Some(c.span()), format!("{key}.project"), "name the Google Cloud project (its id, e.g. \"payments-prod\")");
        }
        if r.triggers.is_empty() {
            rep.error(Some(c.span()), format!("{key}.triggers"), "name the triggers to show: triggers = [\"deploy-prod\"]");
        }
        let endpoint = |v: &Option<String>, default: &str, field: &str, rep: &mut Reporter<'_>| {
            let url = v.clone().unwrap_or_else(|| default.into()).trim_end_matches('/').to_string();
            if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
                rep.error(
                    Some(c.span()),
                    format!("{key}.{field}"),
                    format!("`{url}` is not an https URL (your access token is sent there)"),
                );
            }
            url
        };
        let regions = if r.regions.is_empty() { vec!["global".to_string()] } else { r.regions.clone() };
        out.push(CloudBuildSettings {
            name: name.clone(),
            project: r.project.clone(),
            regions,
            triggers: r.triggers.clone(),
            endpoint: endpoint(&r.endpoint, CLOUDBUILD_API, "endpoint", rep),
            storage_endpoint: endpoint(&r.storage_endpoint, STORAGE_API, "storage_endpoint", rep),
            logging_endpoint: endpoint(&r.logging_endpoint, LOGGING_API, "logging_endpoint", rep),
            gate_environments: r.gate_environments.clone(),
            report_artifacts: r.report_artifacts.clone(),
            active_poll: super::ci::poll_interval(rep, c.span(), &format!("{key}.active_poll"), &r.active_poll, 5),
            idle_poll: super::ci::poll_interval(rep, c.span(), &format!("{key}.idle_poll"), &r.idle_poll, 60),
        });
    }
    out
}
