//! `[clouddeploy]`: the Cloud Deploy delivery pipelines whose rollouts flightdeck shows and acts on
//! — one row per target of each pipeline's progression — with the environment whose policy each
//! target answers to and the analysed service that judges its canary.

use serde::Deserialize;

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloudDeploy {
    pub project: String,
    pub region: String,
    /// Delivery pipelines to show, by name.
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// `PIPELINE/TARGET` (or `PIPELINE/*`, or `*/TARGET`) → environment, for the policy of its actions.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    /// `PIPELINE/TARGET` → the analysed service (`[services.NAME]`) whose verdict is shown beside it.
    #[serde(default)]
    pub judged_by: BTreeMap<String, String>,
    /// The API root, as gcloud's `api_endpoint_overrides/clouddeploy` (default Google's).
    pub endpoint: Option<String>,
    pub active_poll: Option<String>,
    pub idle_poll: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudDeploySettings {
    pub project: String,
    pub region: String,
    pub pipelines: Vec<String>,
    pub environments: BTreeMap<String, String>,
    pub judged_by: BTreeMap<String, String>,
    pub endpoint: String,
    pub active_poll: Duration,
    pub idle_poll: Duration,
}

pub const CLOUDDEPLOY_API: &str = "https://clouddeploy.googleapis.com";

impl CloudDeploySettings {
    /// The environment of `pipeline/target`: named for it, else for the pipeline, else the target.
    pub fn environment_of(&self, pipeline: &str, target: &str) -> Option<String> {
        [format!("{pipeline}/{target}"), format!("{pipeline}/*"), format!("*/{target}")]
            .iter()
            .find_map(|k| self.environments.get(k))
            .cloned()
    }

    /// `projects/P/locations/R`, the parent of everything it reads.
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }
}

pub(super) fn build(
    rep: &mut Reporter<'_>,
    raw: Option<&toml::Spanned<RawCloudDeploy>>,
    environments: &BTreeMap<String, Environment>,
    services: &BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
) -> Option<CloudDeploySettings> {
    let spanned = raw?;
    let span = Some(spanned.span());
    let r = spanned.get_ref();
    let id = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id(&r.project) {
        rep.error(span.clone(), "clouddeploy.project", "name the Google Cloud project by its id (e.g. \"payments-prod\")");
    }
    if !id(&r.region) {
        rep.error(span.clone(), "clouddeploy.region", "name the region of the delivery pipelines (e.g. \"us-central1\")");
    }
    if r.pipelines.is_empty() {
        rep.error(span.clone(), "clouddeploy.pipelines", "name the delivery pipelines to show: pipelines = [\"payments-api\"]");
    }
    for p in r.pipelines.iter().filter(|p| !id(p)) {
        rep.error(
            span.clone(),
            "clouddeploy.pipelines",
            format!("`{p}` is not a delivery pipeline's name (lower-case letters, digits, -)"),
        );
    }
    for env in r.environments.values() {
        if !environments.contains_key(env) {
            rep.error(span.clone(), "clouddeploy.environments", format!("environment `{env}` is not defined in [environments]"));
        }
    }
    for (key, judge) in &r.judged_by {
        if !services.contains_key(judge) {
            rep.error(span.clone(), "clouddeploy.judged_by", format!("`{key}` is judged by `{judge}`, which is not a [services.NAME]"));
        }
    }
    let endpoint = r.endpoint.clone().unwrap_or_else(|| CLOUDDEPLOY_API.into()).trim_end_matches('/').to_string();
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost")) {
        rep.error(span.clone(), "clouddeploy.endpoint", format!("`{endpoint}` is not an https URL (your access token is sent there)"));
    }
    let poll = |rep: &mut Reporter<'_>, key: &str, v: &Option<String>, default: u64| match v.as_deref().map(parse_duration) {
        None => Duration::from_secs(default),
        Some(Ok(d)) if d >= Duration::from_secs(1) => d,
        Some(Ok(_)) => {
            rep.error(span.clone(), key.to_string(), "at least 1s: Google counts every request against a quota");
            Duration::from_secs(default)
        }
        Some(Err(e)) => {
            rep.error(span.clone(), key.to_string(), e);
            Duration::from_secs(default)
        }
    };
    Some(CloudDeploySettings {
        project: r.project.clone(),
        region: r.region.clone(),
        pipelines: r.pipelines.clone(),
        environments: r.environments.clone(),
        judged_by: r.judged_by.clone(),
        endpoint,
        active_poll: poll(rep, "clouddeploy.active_poll", &r.active_poll, 5),
        idle_poll: poll(rep, "clouddeploy.idle_poll", &r.idle_poll, 30),
    })
}
