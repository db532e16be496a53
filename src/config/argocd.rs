//! `[argocd]`: where Argo CD Applications are read and acted on — its API server (the primary way
//! in: it enforces Argo CD's RBAC, projects and sync windows), or the Kubernetes API where no
//! server is configured — and which environment each project's applications belong to.

use serde::Deserialize;

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArgoCd {
    /// The API server (`host:port` or a URL). Default: `ARGOCD_SERVER`, then the argocd CLI's
    /// current context; `"kubernetes"` always goes through the Kubernetes API.
    pub server: Option<String>,
    /// The Kubernetes way in: the namespace Argo CD keeps its Applications in (default argocd).
    pub namespace: Option<String>,
    /// The Kubernetes way in: the kubeconfig context (default: `[kubernetes]`'s, then the current one).
    pub context: Option<String>,
    /// Project → environment (policy, and what comes first on the overview).
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    /// Deadline of every call (default 10s).
    pub timeout: Option<toml::Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgoCdSettings {
    /// A server named here (a URL or `host:port`); None: found in the environment or the argocd
    /// CLI's configuration, else the Kubernetes way in.
    pub server: Option<String>,
    /// Never use an API server.
    pub kubernetes_only: bool,
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub environments: BTreeMap<String, String>,
    pub timeout: Duration,
}

pub(super) fn build(
    rep: &mut Reporter<'_>,
    raw: Option<&toml::Spanned<RawArgoCd>>,
    environments: &BTreeMap<String, Environment>,
    kubernetes: Option<&KubernetesSettings>,
) -> Option<ArgoCdSettings> {
    let raw_spanned = raw?;
    let span = Some(raw_spanned.span());
    let raw = raw_spanned.get_ref();
    for env in raw.environments.values() {
        if !environments.contains_key(env) {
            rep.error(span.clone(), "argocd.environments", format!("environment `{env}` is not defined in [environments]"));
        }
    }
    let kubernetes_only = raw.server.as_deref() == Some("kubernetes");
    Some(ArgoCdSettings {
        server: raw.server.clone().filter(|_| !kubernetes_only),
        kubernetes_only,
        namespace: raw.namespace.clone(),
        context: raw.context.clone().or_else(|| kubernetes.and_then(|k| k.context.clone())),
        kubeconfig: kubernetes.and_then(|k| k.kubeconfig.clone()),
        environments: raw.environments.clone(),
        timeout: duration_field(rep, raw.timeout.as_ref(), "argocd.timeout").unwrap_or(Duration::from_secs(10)),
    })
}
