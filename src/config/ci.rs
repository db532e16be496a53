//! CI systems besides the local runner, as configured: `[ci.github.NAME]`.

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
        let poll = |v: &Option<String>, default: u64, field: &str, rep: &mut Reporter<'_>| match v.as_deref().map(parse_duration) {
            None => Duration::from_secs(default),
            Some(Ok(d)) if d >= Duration::from_secs(1) => d,
            Some(Ok(_)) => {
                rep.error(Some(g.span()), format!("{key}.{field}"), "at least 1s: GitHub counts every request");
                Duration::from_secs(default)
            }
            Some(Err(e)) => {
                rep.error(Some(g.span()), format!("{key}.{field}"), e);
                Duration::from_secs(default)
            }
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
