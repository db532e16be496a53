//! `[ecs]`: the ECS services whose blue/green deployments flightdeck follows and acts on — those
//! CodeDeploy deploys, and those with ECS's own blue/green, linear or canary strategy — with the
//! environment whose policy each answers to and the analysed service that judges its canary.

use serde::Deserialize;

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEcs {
    pub region: Option<String>,
    /// A profile of the shared AWS config and credentials files.
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// `CLUSTER/SERVICE` of each ECS service to show.
    #[serde(default)]
    pub services: Vec<String>,
    /// `CLUSTER/SERVICE` (or `CLUSTER/*`) → environment, for the policy of its actions.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    /// `CLUSTER/SERVICE` → the analysed service (`[services.NAME]`) whose verdict is shown beside it.
    #[serde(default)]
    pub judged_by: BTreeMap<String, String>,
    pub active_poll: Option<String>,
    pub idle_poll: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsSettings {
    /// None: `AWS_REGION`, as the AWS CLI.
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// (cluster, service), in the order configured.
    pub services: Vec<(String, String)>,
    pub environments: BTreeMap<String, String>,
    pub judged_by: BTreeMap<String, String>,
    pub active_poll: Duration,
    pub idle_poll: Duration,
}

impl EcsSettings {
    /// The environment of `cluster/service`: named for it, else for its cluster (`CLUSTER/*`).
    pub fn environment_of(&self, cluster: &str, service: &str) -> Option<String> {
        self.environments.get(&format!("{cluster}/{service}")).or_else(|| self.environments.get(&format!("{cluster}/*"))).cloned()
    }
}

pub(super) fn build(
    rep: &mut Reporter<'_>,
    raw: Option<&toml::Spanned<RawEcs>>,
    environments: &BTreeMap<String, Environment>,
    services: &BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
) -> Option<EcsSettings> {
    let spanned = raw?;
    let span = Some(spanned.span());
    let raw = spanned.get_ref();
    let mut pairs = Vec::new();
    for s in &raw.services {
        match s.split_once('/') {
            Some((c, n)) if !c.is_empty() && !n.is_empty() && !n.contains('/') => pairs.push((c.to_string(), n.to_string())),
            _ => rep.error(span.clone(), "ecs.services", format!("`{s}` is not CLUSTER/SERVICE")),
        }
    }
    if pairs.is_empty() {
        rep.error(span.clone(), "ecs.services", "name the ECS services to show: services = [\"CLUSTER/SERVICE\"]");
    }
    for env in raw.environments.values() {
        if !environments.contains_key(env) {
            rep.error(span.clone(), "ecs.environments", format!("environment `{env}` is not defined in [environments]"));
        }
    }
    for (svc, judge) in &raw.judged_by {
        if !services.contains_key(judge) {
            rep.error(span.clone(), "ecs.judged_by", format!("`{svc}` is judged by `{judge}`, which is not a [services.NAME]"));
        }
    }
    if let Some(e) = &raw.endpoint_url
        && !(e.starts_with("https://") || e.starts_with("http://127.0.0.1") || e.starts_with("http://localhost"))
    {
        rep.error(span.clone(), "ecs.endpoint_url", format!("`{e}` is not an https URL (requests are signed with your credentials)"));
    }
    let poll = |rep: &mut Reporter<'_>, key: &str, v: &Option<String>, default: u64| match v.as_deref().map(parse_duration) {
        None => Duration::from_secs(default),
        Some(Ok(d)) if d >= Duration::from_secs(1) => d,
        Some(Ok(_)) => {
            rep.error(span.clone(), key.to_string(), "at least 1s: AWS counts every request");
            Duration::from_secs(default)
        }
        Some(Err(e)) => {
            rep.error(span.clone(), key.to_string(), e);
            Duration::from_secs(default)
        }
    };
    Some(EcsSettings {
        region: raw.region.clone(),
        profile: raw.profile.clone(),
        endpoint_url: raw.endpoint_url.clone(),
        services: pairs,
        environments: raw.environments.clone(),
        judged_by: raw.judged_by.clone(),
        active_poll: poll(rep, "ecs.active_poll", &raw.active_poll, 5),
        idle_poll: poll(rep, "ecs.idle_poll", &raw.idle_poll, 30),
    })
}
