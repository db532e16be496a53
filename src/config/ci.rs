//! CI systems besides the local runner, as configured: `[ci.github.NAME]`, `[ci.codepipeline.NAME]`.

use super::*;

/// One GitHub (github.com or an Enterprise Server) and the repositories flightdeck follows there.
/// NAME is the prefix of its run references: `gh:owner/repo:123` for `[ci.github.gh]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubSettings {
    pub name: String,
    pub repos: Vec<String>,
    /// REST API root: `https://api.github.com`, or `https://HOST/api/v3` for an Enterprise Server.
    pub api_url: String,
    /// Workflow files to show (`deploy.yml`); empty: every workflow.
    pub workflows: Vec<String>,
    /// Artifact names that hold scan reports, per workflow file (`"*"` for any workflow).
    pub report_artifacts: BTreeMap<String, Vec<String>>,
    /// How often something visible and in progress is looked at.
    pub active_poll: Duration,
    /// How often the rest is looked at.
    pub idle_poll: Duration,
}

pub const GITHUB_API: &str = "https://api.github.com";

pub(super) fn build_github(rep: &mut Reporter<'_>, raw: &RawConfig) -> Vec<GithubSettings> {
    let mut out = Vec::new();
    for (name, g) in &raw.ci.github {
        let key = format!("ci.github.{name}");
        let r = g.get_ref();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || name == crate::domain::LOCAL {
            rep.error(Some(g.span()), key.clone(), format!("`{name}` cannot name a CI provider (letters, digits, - and _; not `local`)"));
        }
        let mut repos = r.repos.clone();
        repos.extend(r.repo.clone());
        if repos.is_empty() {
            rep.error(Some(g.span()), format!("{key}.repo"), "name the repository: repo = \"owner/name\" (or repos = [...])");
        }
        for repo in &repos {
            let ok = repo.split_once('/').is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
            if !ok {
                rep.error(Some(g.span()), format!("{key}.repo"), format!("`{repo}` is not owner/name"));
            }
        }
        let api_url = r.api_url.clone().unwrap_or_else(|| GITHUB_API.into()).trim_end_matches('/').to_string();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://127.0.0.1") || api_url.starts_with("http://localhost")) {
            rep.error(Some(g.span()), format!("{key}.api_url"), format!("`{api_url}` is not an https URL (the token is sent there)"));
        }
        let poll = |v: &Option<String>, default: u64, field: &str, rep: &mut Reporter<'_>| {
            poll_interval(rep, g.span(), &format!("{key}.{field}"), v, default)
        };
        out.push(GithubSettings {
            name: name.clone(),
            repos,
            api_url,
            workflows: r.workflows.clone(),
            report_artifacts: r.report_artifacts.clone(),
            active_poll: poll(&r.active_poll, 5, "active_poll", rep),
            idle_poll: poll(&r.idle_poll, 60, "idle_poll", rep),
        });
    }
    out
}

/// A poll interval: at least a second, as each look is a request the service counts.
pub(super) fn poll_interval(rep: &mut Reporter<'_>, span: std::ops::Range<usize>, key: &str, v: &Option<String>, default: u64) -> Duration {
    match v.as_deref().map(parse_duration) {
        None => Duration::from_secs(default),
        Some(Ok(d)) if d >= Duration::from_secs(1) => d,
        Some(Ok(_)) => {
            rep.error(Some(span), key.to_string(), "at least 1s: the service counts every request");
            Duration::from_secs(default)
        }
        Some(Err(e)) => {
            rep.error(Some(span), key.to_string(), e);
            Duration::from_secs(default)
        }
    }
}

/// One AWS account and region's CodePipeline, and the pipelines flightdeck follows there. NAME is
/// the prefix of its run references: `aws:release/3f2a…` for `[ci.codepipeline.aws]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodePipelineSettings {
    pub name: String,
    /// None: `AWS_REGION`, as the AWS CLI.
    pub region: Option<String>,
    pub pipelines: Vec<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Stage (or `stage/action`) → environment: which policy an approval there is held to.
    pub gate_environments: BTreeMap<String, String>,
    /// ECR repositories whose image of a run (found from what its builds exported) has scan
    /// findings that are the run's evidence.
    pub ecr_repositories: Vec<String>,
    /// CodeBuild artifacts (`primary`, or a secondary artifact's identifier) whose files in S3 are
    /// scan reports.
    pub report_artifacts: Vec<String>,
    pub active_poll: Duration,
    pub idle_poll: Duration,
}

pub(super) fn build_codepipeline(rep: &mut Reporter<'_>, raw: &RawConfig) -> Vec<CodePipelineSettings> {
    let mut out = Vec::new();
    for (name, c) in &raw.ci.codepipeline {
        let key = format!("ci.codepipeline.{name}");
        let r = c.get_ref();
        let taken = raw.ci.github.contains_key(name);
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || name == crate::domain::LOCAL
            || taken
        {
            rep.error(
                Some(c.span()),
                key.clone(),
                format!("`{name}` cannot name a CI provider (letters, digits, - and _; not `local`, not another provider's name)"),
            );
        }
        if r.pipelines.is_empty() {
            rep.error(Some(c.span()), format!("{key}.pipelines"), "name the pipelines to show: pipelines = [\"release\"]");
        }
        if let Some(e) = &r.endpoint_url
            && !(e.starts_with("https://") || e.starts_with("http://127.0.0.1") || e.starts_with("http://localhost"))
        {
            rep.error(
                Some(c.span()),
                format!("{key}.endpoint_url"),
                format!("`{e}` is not an https URL (requests are signed with your credentials)"),
            );
        }
        out.push(CodePipelineSettings {
            name: name.clone(),
            region: r.region.clone(),
            pipelines: r.pipelines.clone(),
            profile: r.profile.clone(),
            endpoint_url: r.endpoint_url.clone(),
            gate_environments: r.gate_environments.clone(),
            ecr_repositories: r.ecr_repositories.clone(),
            report_artifacts: r.report_artifacts.clone(),
            active_poll: poll_interval(rep, c.span(), &format!("{key}.active_poll"), &r.active_poll, 5),
            idle_poll: poll_interval(rep, c.span(), &format!("{key}.idle_poll"), &r.idle_poll, 60),
        });
    }
    out
}
