//! The resource types the API double serves, the paths that name them, and their discovery
//! documents.

use serde_json::{Value, json};

/// A resource type the double serves.
#[derive(Clone, Debug)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub short: &'static [&'static str],
}

impl Kind {
    pub(super) fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

pub const KINDS: &[Kind] = &[
    Kind {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "Rollout",
        plural: "rollouts",
        namespaced: true,
        status_subresource: true,
        short: &["ro"],
    },
    Kind {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "AnalysisRun",
        plural: "analysisruns",
        namespaced: true,
        status_subresource: false,
        short: &["ar"],
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        namespaced: true,
        status_subresource: true,
        short: &["rs"],
    },
    // Argo CD's, as its CRDs declare them (no status subresource: the controller and the API
    // server write status with the object).
    Kind {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "Application",
        plural: "applications",
        namespaced: true,
        status_subresource: false,
        short: &["app", "apps"],
    },
    Kind {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "AppProject",
        plural: "appprojects",
        namespaced: true,
        status_subresource: false,
        short: &["appproj", "appprojs"],
    },
    Kind { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, status_subresource: true, short: &["po"] },
    Kind { group: "", version: "v1", kind: "Event", plural: "events", namespaced: true, status_subresource: false, short: &["ev"] },
    Kind { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false, status_subresource: true, short: &["ns"] },
];

fn kind_of(group: &str, plural: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.plural == plural)
}

/// What a path names.
pub(super) struct Route {
    pub(super) kind: &'static Kind,
    pub(super) namespace: Option<String>,
    pub(super) name: Option<String>,
    pub(super) sub: Option<String>,
}

pub(super) fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match *segs.first()? {
        "api" => ("", segs.get(2..)?),
        "apis" => (*segs.get(1)?, segs.get(3..)?),
        _ => return None,
    };
    let (namespace, rest) =
        if rest.first() == Some(&"namespaces") && rest.len() >= 3 { (Some(rest[1].to_string()), &rest[2..]) } else { (None, rest) };
    let kind = kind_of(group, rest.first()?)?;
    Some(Route { kind, namespace, name: rest.get(1).map(|s| s.to_string()), sub: rest.get(2).map(|s| s.to_string()) })
}

pub(super) fn discovery(path: &str) -> Option<Value> {
    let resources = |group: &str, version: &str| -> Value {
        let mut list = Vec::new();
        for k in KINDS.iter().filter(|k| k.group == group && k.version == version) {
            list.push(json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced, "kind": k.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": k.short}));
            if k.status_subresource {
                list.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
            }
            if k.plural == "rollouts" {
                list.push(json!({"name": "rollouts/scale", "singularName": "", "namespaced": true, "kind": "Scale", "group": "autoscaling", "version": "v1", "verbs": ["get", "patch", "update"]}));
            }
        }
        if group == "authentication.k8s.io" {
            list.push(json!({"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": false, "kind": "SelfSubjectReview", "verbs": ["create"]}));
        }
        if group == "authorization.k8s.io" {
            list.push(json!({"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"]}));
        }
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
    };
    let group = |name: &str, version: &str| {
        json!({"name": name, "versions": [{"groupVersion": format!("{name}/{version}"), "version": version}],
               "preferredVersion": {"groupVersion": format!("{name}/{version}"), "version": version}})
    };
    Some(match path.trim_end_matches('/') {
        "/version" => json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-double", "platform": "linux/amd64"}),
        "/api" => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        }
        "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            group("apps", "v1"), group("argoproj.io", "v1alpha1"), group("authentication.k8s.io", "v1"), group("authorization.k8s.io", "v1")]}),
        "/api/v1" => resources("", "v1"),
        "/apis/apps/v1" => resources("apps", "v1"),
        "/apis/argoproj.io/v1alpha1" => resources("argoproj.io", "v1alpha1"),
        "/apis/authentication.k8s.io/v1" => resources("authentication.k8s.io", "v1"),
        "/apis/authorization.k8s.io/v1" => resources("authorization.k8s.io", "v1"),
        _ => return None,
    })
}
