//! What the cockpit knows of Argo Rollouts: the watched list of one context, the connection, and
//! the opened rollout's details.

use jiff::Timestamp;

/// Argo Rollouts in one Kubernetes context, as the watch last reported them.
#[derive(Clone, Debug, Default)]
pub struct ArgoView {
    /// Whether a cluster is configured at all.
    pub enabled: bool,
    pub context: String,
    /// None: all namespaces.
    pub namespace: Option<String>,
    pub contexts: Vec<String>,
    /// Context → environment, for policy.
    pub environments: std::collections::BTreeMap<String, String>,
    /// `namespace/name` → the analysed service judging its canary.
    pub services: std::collections::BTreeMap<String, String>,
    /// A watch has been asked for (the first visit starts it).
    pub watching: bool,
    /// By `namespace/name`.
    pub rollouts: std::collections::BTreeMap<String, crate::argo::Rollout>,
    pub connection: ArgoConnection,
    /// When the watch last told us something (the age of the data).
    pub last_update: Option<Timestamp>,
    /// The selected rollout's `namespace/name` (None: the first in display order). A key, not
    /// an index, so the selection stays put when the order changes under it.
    pub selected: Option<String>,
    /// The rollout opened in the detail.
    pub detail: Option<ArgoDetail>,
    /// The revision picker of undo (index into the detail's revisions).
    pub picker: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ArgoConnection {
    #[default]
    Connecting,
    Live,
    /// The watch failed and retries with backoff; the message says why.
    Retrying(String),
}

/// What is read for the opened rollout (besides the watched object).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArgoDetail {
    pub key: String,
    pub loaded: bool,
    pub revisions: Vec<crate::argo::model::ReplicaSet>,
    pub analysis_runs: Vec<serde_json::Value>,
    pub events: Vec<serde_json::Value>,
    pub permissions: Option<crate::argo::client::Permissions>,
    pub error: Option<String>,
}

impl ArgoView {
    /// Keys in display order: what needs a human first, then under way, then healthy.
    pub fn ordered(&self, now: Timestamp) -> Vec<&crate::argo::Rollout> {
        // The map is already in namespace/name order, and the sort is stable: urgency is the key.
        let mut v: Vec<&crate::argo::Rollout> = self.rollouts.values().collect();
        v.sort_by_cached_key(|r| crate::argo::status::state(r, now).urgency());
        v
    }

    /// The selected rollout; the first in display order when none is (or it is gone).
    pub fn selected(&self, now: Timestamp) -> Option<&crate::argo::Rollout> {
        match self.selected.as_ref().and_then(|k| self.rollouts.get(k)) {
            Some(r) => Some(r),
            None => self.ordered(now).first().copied(),
        }
    }

    /// The selected rollout's place in `ordered`.
    pub fn cursor(&self, ordered: &[&crate::argo::Rollout]) -> usize {
        self.selected.as_ref().and_then(|k| ordered.iter().position(|r| &r.key() == k)).unwrap_or(0)
    }

    /// The environment the current context maps to, for policy.
    pub fn environment(&self) -> Option<&str> {
        self.environments.get(&self.context).map(String::as_str)
    }
}
