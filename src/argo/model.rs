//! What flightdeck reads of Argo Rollouts objects. Reading only: every field is optional so an
//! older or newer CRD still parses, and writes never send these structs back (patches only).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Meta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub resource_version: String,
    pub generation: Option<i64>,
    pub creation_timestamp: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub owner_references: Vec<OwnerRef>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Rollout {
    pub metadata: Meta,
    pub spec: Spec,
    pub status: Status,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    pub replicas: Option<i64>,
    pub paused: bool,
    pub restart_at: Option<String>,
    pub selector: Option<Value>,
    pub template: Option<Value>,
    pub workload_ref: Option<Value>,
    pub strategy: Strategy,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Strategy {
    pub canary: Option<Canary>,
    pub blue_green: Option<BlueGreen>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Canary {
    pub steps: Vec<CanaryStep>,
    pub traffic_routing: Option<Value>,
    pub max_traffic_weight: Option<i64>,
}

/// One canary step: exactly one of the fields is set (the kinds flightdeck only names are boxed:
/// a row holds every step of a thousand rollouts).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryStep {
    pub set_weight: Option<i64>,
    pub pause: Option<PauseStep>,
    pub analysis: Option<Box<Value>>,
    pub experiment: Option<Box<Value>>,
    pub set_canary_scale: Option<Box<Value>>,
    pub set_header_route: Option<Box<Value>>,
    pub set_mirror_route: Option<Box<Value>>,
    pub plugin: Option<Box<Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PauseStep {
    /// Seconds as a number, or a Go duration string ("1h", "30s", "90" = seconds); absent =
    /// indefinite.
    pub duration: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BlueGreen {
    pub active_service: String,
    pub preview_service: Option<String>,
    pub auto_promotion_enabled: Option<bool>,
    pub auto_promotion_seconds: Option<i64>,
    pub post_promotion_analysis: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    pub phase: Option<String>,
    pub message: Option<String>,
    /// A numeric string since v0.10 (a hash before): compared with `metadata.generation`.
    pub observed_generation: Option<Value>,
    pub current_step_index: Option<i64>,
    pub current_pod_hash: Option<String>,
    #[serde(rename = "stableRS")]
    pub stable_rs: Option<String>,
    pub pause_conditions: Vec<PauseCondition>,
    pub controller_pause: bool,
    pub abort: bool,
    pub aborted_at: Option<String>,
    pub promote_full: bool,
    pub restarted_at: Option<String>,
    pub replicas: Option<i64>,
    pub updated_replicas: Option<i64>,
    pub ready_replicas: Option<i64>,
    pub available_replicas: Option<i64>,
    pub conditions: Vec<Condition>,
    pub canary: CanaryStatus,
    pub blue_green: BlueGreenStatus,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PauseCondition {
    pub reason: String,
    pub start_time: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryStatus {
    pub current_step_analysis_run_status: Option<RunStatus>,
    pub current_background_analysis_run_status: Option<RunStatus>,
    pub weights: Option<Weights>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RunStatus {
    pub name: String,
    pub status: String,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Weights {
    pub canary: WeightDestination,
    pub stable: WeightDestination,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct WeightDestination {
    pub weight: i64,
    pub pod_template_hash: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BlueGreenStatus {
    pub active_selector: Option<String>,
    pub preview_selector: Option<String>,
    pub post_promotion_analysis_run_status: Option<RunStatus>,
}

/// A ReplicaSet as a revision of a rollout.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSet {
    pub metadata: Meta,
    pub spec: ReplicaSetSpec,
    pub status: ReplicaSetStatus,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetSpec {
    pub replicas: Option<i64>,
    pub template: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetStatus {
    pub replicas: Option<i64>,
    pub ready_replicas: Option<i64>,
    pub available_replicas: Option<i64>,
}

/// The label the controller puts on a rollout's ReplicaSets and pods.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The annotation with a ReplicaSet's revision number.
pub const REVISION: &str = "rollout.argoproj.io/revision";
/// The annotation naming the pipeline run that built what the rollout deploys (`local:42`): its
/// security findings judge the rollout's promotions.
pub const RELEASE_RUN: &str = "flightdeck.dev/run";

impl ReplicaSet {
    pub fn revision(&self) -> i64 {
        self.metadata.annotations.get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
    }

    pub fn hash(&self) -> Option<&str> {
        self.metadata.labels.get(HASH_LABEL).map(String::as_str)
    }

    /// Whether `rollout` controls this ReplicaSet (its controller owner reference).
    pub fn owned_by(&self, rollout: &Rollout) -> bool {
        self.metadata.owner_references.iter().any(|o| o.controller == Some(true) && o.uid == rollout.metadata.uid)
    }

    /// The images of the pod template's containers.
    pub fn images(&self) -> Vec<String> {
        images(self.spec.template.as_ref())
    }
}

/// Container images of a pod template.
pub fn images(template: Option<&Value>) -> Vec<String> {
    template
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

impl Rollout {
    /// The pipeline run behind this release, when a flightdeck hand-over recorded one.
    pub fn release_run(&self) -> Option<crate::domain::RunRef> {
        let text = self.metadata.annotations.get(RELEASE_RUN)?;
        text.parse::<crate::domain::RunRef>().ok().filter(|r| r.is_resolved())
    }

    pub fn steps(&self) -> &[CanaryStep] {
        self.spec.strategy.canary.as_ref().map(|c| c.steps.as_slice()).unwrap_or_default()
    }

    /// The current step index (absent means 0), clamped to the number of steps.
    pub fn step_index(&self) -> usize {
        let i = self.status.current_step_index.unwrap_or(0).max(0) as usize;
        i.min(self.steps().len())
    }

    /// `spec.selector.matchLabels` as a label selector ("app=web,tier=api"); empty without one.
    pub fn label_selector(&self) -> String {
        self.spec
            .selector
            .as_ref()
            .and_then(|s| s.get("matchLabels"))
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    }

    /// `status.observedGeneration` as a number (None for the hashes of v0.9 controllers).
    pub fn observed_generation(&self) -> Option<i64> {
        match self.status.observed_generation.as_ref()? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn is_blue_green(&self) -> bool {
        self.spec.strategy.blue_green.is_some()
    }

    /// `currentPodHash == stableRS`: nothing left to promote.
    pub fn fully_promoted(&self) -> bool {
        self.status.current_pod_hash.is_some() && self.status.current_pod_hash == self.status.stable_rs
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// What a row of the list keeps, a thousand of them at a time: the pod template reduced to
    /// its containers' names and images (what `deploy` patches), annotation values only for the
    /// keys flightdeck reads (the keys stay: a patch adds to the map or creates it), no labels and
    /// no selector (the opened rollout's ReplicaSets are found from the rollout read whole).
    /// An undo plans against the opened rollout, read whole.
    pub fn compact(mut self) -> Rollout {
        self.spec.template = self.spec.template.take().map(|t| {
            let mut spec = serde_json::Map::new();
            for list in ["containers", "initContainers"] {
                if let Some(cs) = t.pointer(&format!("/spec/{list}")).and_then(Value::as_array) {
                    let named = cs.iter().map(|c| serde_json::json!({"name": c.get("name"), "image": c.get("image")})).collect();
                    spec.insert(list.to_string(), Value::Array(named));
                }
            }
            serde_json::json!({ "spec": spec })
        });
        for (key, value) in self.metadata.annotations.iter_mut() {
            if key != REVISION && key != RELEASE_RUN {
                *value = String::new();
            }
        }
        self.metadata.labels = BTreeMap::new();
        self.spec.selector = None;
        self
    }
}

impl CanaryStep {
    /// One line, as the Argo plugin writes it ("setWeight: 20", "pause: 1h", "pause", "analysis").
    pub fn describe(&self) -> String {
        if let Some(w) = self.set_weight {
            format!("setWeight: {w}")
        } else if let Some(p) = &self.pause {
            match &p.duration {
                Some(Value::String(s)) => format!("pause: {s}"),
                Some(Value::Number(n)) => format!("pause: {n}"),
                _ => "pause".into(),
            }
        } else if self.analysis.is_some() {
            "analysis".into()
        } else if self.experiment.is_some() {
            "experiment".into()
        } else if let Some(s) = &self.set_canary_scale {
            format!("setCanaryScale{}", s)
        } else if self.set_header_route.is_some() {
            "setHeaderRoute".into()
        } else if self.set_mirror_route.is_some() {
            "setMirrorRoute".into()
        } else if self.plugin.is_some() {
            "plugin".into()
        } else {
            "unknown step".into()
        }
    }
}

impl PauseStep {
    /// The pause's length in seconds; None when indefinite or unparsable (Argo treats those as
    /// -1, i.e. no timer).
    pub fn seconds(&self) -> Option<i64> {
        match self.duration.as_ref()? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => go_duration(s),
            _ => None,
        }
    }
}

/// Parses a Go duration ("1h30m", "90s", "250ms") or a bare number of seconds, to whole seconds.
pub fn go_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Some(total.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_clean_complete_reference_links_a_release_to_its_run() {
        let with = |annotation: &str| -> Rollout {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web", "namespace": "shop", "annotations": {RELEASE_RUN: annotation}},
                "spec": {}, "status": {}
            }))
            .unwrap()
        };
        assert_eq!(with("local:7").release_run(), Some(crate::domain::RunRef::local(7)));
        for hostile in ["7", "local:7\u{1b}]52;c;aGk=\u{7}", "local:7\u{202e}", "", "local:"] {
            assert_eq!(with(hostile).release_run(), None, "{hostile:?}");
        }
    }

    #[test]
    fn go_durations_and_bare_seconds() {
        assert_eq!(go_duration("90"), Some(90));
        assert_eq!(go_duration("1h30m"), Some(5400));
        assert_eq!(go_duration("30s"), Some(30));
        assert_eq!(go_duration("1.5m"), Some(90));
        assert_eq!(go_duration("forever"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn a_rollout_from_the_api_parses_with_unknown_fields() {
        let r: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7", "generation": 3},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"pause": {"duration": "1m"}}]}}, "somethingNew": 1},
            "status": {"currentStepIndex": 1, "stableRS": "aaa", "currentPodHash": "bbb", "observedGeneration": "3",
                       "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z"}]}
        }))
        .unwrap();
        assert_eq!(r.key(), "shop/web");
        assert_eq!(r.step_index(), 1);
        assert_eq!(r.steps().iter().map(CanaryStep::describe).collect::<Vec<_>>(), ["setWeight: 20", "pause", "pause: 1m"]);
        assert_eq!(r.steps()[2].pause.as_ref().and_then(PauseStep::seconds), Some(60));
        assert!(!r.fully_promoted());
    }
}
