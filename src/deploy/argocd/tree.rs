//! An application's resource tree: what Argo CD manages (the top level, with its sync status) and
//! what those own (ReplicaSets, Pods…), with health per resource. The API server serves it
//! whole (`resource-tree`); through the Kubernetes API it is put together from the app's status
//! and the owner references in its destination namespaces.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::model::App;
use crate::logstore::sanitize::excerpt;

/// The most lines a tree shows (a namespace of a thousand Pods still reads at a glance).
const TREE_LINES: usize = 200;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(default)]
pub struct NodeRef {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Node {
    #[serde(flatten)]
    pub at: NodeRef,
    pub parent_refs: Vec<NodeRef>,
    pub health: Option<super::model::HealthStatus>,
}

/// The tree as the API server serves it (`v1alpha1ApplicationTree`), or as put together here.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Why the tree stops at the top level, when it does.
    #[serde(skip)]
    pub partial: Option<String>,
}

/// The Kubernetes kinds a workload owns, and whose owner references lead down the tree.
pub const OWNED_KINDS: &[&str] = &["ReplicaSet", "Pod"];

impl Tree {
    /// The app's top level only (its `status.resources`), for when the children cannot be read.
    pub fn top_level(app: &App, why: Option<String>) -> Tree {
        let nodes = app
            .status
            .resources
            .iter()
            .map(|r| Node {
                at: NodeRef {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                    uid: String::new(),
                },
                parent_refs: Vec::new(),
                health: r.health.clone(),
            })
            .collect();
        Tree { nodes, partial: why }
    }

    /// The top level with the objects found below it: `owned` are live objects (ReplicaSets,
    /// Pods…) as JSON; each joins the tree under the owner its references name, when that owner
    /// is in the tree. Objects owned by something outside the app are left out.
    pub fn with_owned(app: &App, owned: &[serde_json::Value]) -> Tree {
        let mut tree = Tree::top_level(app, None);
        // Top-level resources are known by kind, namespace and name (the app's status carries no
        // uid); what they own names them by uid as well.
        let mut known: BTreeSet<(String, String, String)> =
            tree.nodes.iter().map(|n| (n.at.kind.clone(), n.at.namespace.clone(), n.at.name.clone())).collect();
        let mut uids: BTreeSet<String> = BTreeSet::new();
        // Owners come before what they own only by chance: go round until nothing more joins.
        let mut pending: Vec<&serde_json::Value> = owned.iter().collect();
        loop {
            let before = pending.len();
            pending.retain(|o| {
                let meta = &o["metadata"];
                let namespace = meta["namespace"].as_str().unwrap_or_default().to_string();
                let parents: Vec<NodeRef> = meta["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| NodeRef {
                        group: r["apiVersion"].as_str().and_then(|v| v.split_once('/')).map(|(g, _)| g.to_string()).unwrap_or_default(),
                        kind: r["kind"].as_str().unwrap_or_default().to_string(),
                        namespace: namespace.clone(),
                        name: r["name"].as_str().unwrap_or_default().to_string(),
                        uid: r["uid"].as_str().unwrap_or_default().to_string(),
                    })
                    .filter(|p| uids.contains(&p.uid) || known.contains(&(p.kind.clone(), p.namespace.clone(), p.name.clone())))
                    .collect();
                if parents.is_empty() {
                    return true;
                }
                let at = NodeRef {
                    group: o["apiVersion"].as_str().and_then(|v| v.split_once('/')).map(|(g, _)| g.to_string()).unwrap_or_default(),
                    kind: o["kind"].as_str().unwrap_or_default().to_string(),
                    namespace,
                    name: meta["name"].as_str().unwrap_or_default().to_string(),
                    uid: meta["uid"].as_str().unwrap_or_default().to_string(),
                };
                known.insert((at.kind.clone(), at.namespace.clone(), at.name.clone()));
                uids.insert(at.uid.clone());
                tree.nodes.push(Node { health: Some(live_health(o)), at, parent_refs: parents });
                false
            });
            if pending.len() == before || pending.is_empty() {
                break;
            }
        }
        tree
    }

    /// The Argo Rollouts among the managed resources: `(namespace, name)`.
    pub fn rollouts(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .nodes
            .iter()
            .filter(|n| n.at.kind == "Rollout" && n.at.group == "argoproj.io")
            .map(|n| (n.at.namespace.clone(), n.at.name.clone()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The tree for people, one resource a line, children indented under their owner: health,
    /// kind/name, and for what Argo CD manages its sync status. Out-of-sync resources come first.
    pub fn lines(&self, app: &App) -> Vec<String> {
        let sync: BTreeMap<(&str, &str, &str), &str> = app
            .status
            .resources
            .iter()
            .map(|r| ((r.kind.as_str(), r.namespace.as_str(), r.name.as_str()), r.status.as_deref().unwrap_or("-")))
            .collect();
        let key = |n: &Node| (n.at.kind.clone(), n.at.namespace.clone(), n.at.name.clone());
        let present: BTreeSet<(String, String, String)> = self.nodes.iter().map(key).collect();
        let by_uid: BTreeMap<&str, usize> =
            self.nodes.iter().enumerate().filter(|(_, n)| !n.at.uid.is_empty()).map(|(i, n)| (n.at.uid.as_str(), i)).collect();
        let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let parent = n.parent_refs.iter().find_map(|p| {
                by_uid.get(p.uid.as_str()).copied().or_else(|| {
                    present.contains(&(p.kind.clone(), p.namespace.clone(), p.name.clone())).then(|| {
                        self.nodes.iter().position(|m| m.at.kind == p.kind && m.at.namespace == p.namespace && m.at.name == p.name)
                    })?
                })
            });
            match parent.filter(|p| *p != i) {
                Some(p) => children.entry(p).or_default().push(i),
                None => roots.push(i),
            }
        }
        let status_of = |n: &Node| sync.get(&(n.at.kind.as_str(), n.at.namespace.as_str(), n.at.name.as_str())).copied();
        // Out of sync first, then by kind and name.
        roots.sort_by_key(|i| {
            let n = &self.nodes[*i];
            (status_of(n) != Some("OutOfSync"), n.at.kind.clone(), n.at.name.clone())
        });
        for list in children.values_mut() {
            list.sort_by_key(|i| (self.nodes[*i].at.kind.clone(), self.nodes[*i].at.name.clone()));
        }
        let mut lines = Vec::new();
        let mut seen = BTreeSet::new();
        // The roots, then anything they did not reach (owner references in a cycle), as roots.
        let starts: Vec<usize> = roots.iter().copied().chain(0..self.nodes.len()).collect();
        let mut hidden = 0;
        for start in starts {
            if seen.contains(&start) {
                continue;
            }
            let mut stack = vec![(start, 0)];
            while let Some((i, depth)) = stack.pop() {
                // A cycle of owner references (hostile or broken data) is drawn once.
                if !seen.insert(i) {
                    continue;
                }
                if lines.len() >= TREE_LINES {
                    hidden += 1;
                    continue;
                }
                let n = &self.nodes[i];
                let health = n.health.as_ref().map(|h| h.status.as_str()).filter(|s| !s.is_empty());
                let mut line = format!(
                    "{}{} {}/{}",
                    "  ".repeat(depth.min(8)),
                    glyph(status_of(n), health),
                    excerpt(&n.at.kind, 60),
                    excerpt(&n.at.name, 120)
                );
                if depth == 0 && !n.at.namespace.is_empty() {
                    line.push_str(&format!(" ({})", excerpt(&n.at.namespace, 60)));
                }
                let mut facts: Vec<String> = status_of(n).map(str::to_string).into_iter().collect();
                facts.extend(health.map(str::to_string));
                if let Some(m) = n.health.as_ref().and_then(|h| h.message.as_deref()).filter(|m| !m.is_empty()) {
                    facts.push(excerpt(m, 160));
                }
                if !facts.is_empty() {
                    line.push_str(&format!(" · {}", facts.join(" · ")));
                }
                lines.push(line);
                for c in children.get(&i).into_iter().flatten().rev() {
                    stack.push((*c, depth + 1));
                }
            }
        }
        if hidden > 0 {
            lines.push(format!("… {hidden} more resources"));
        }
        if let Some(why) = &self.partial {
            lines.push(format!("(the top level only: {why})"));
        }
        lines
    }

    /// How many managed resources are out of sync.
    pub fn out_of_sync(app: &App) -> usize {
        app.status.resources.iter().filter(|r| r.status.as_deref() == Some("OutOfSync")).count()
    }
}

/// One character for a resource: out of sync, then its health.
fn glyph(sync: Option<&str>, health: Option<&str>) -> &'static str {
    match (sync, health) {
        (Some("OutOfSync"), _) => "≠",
        (_, Some("Healthy")) => "✓",
        (_, Some("Progressing")) => "◐",
        (_, Some("Degraded")) => "✗",
        (_, Some("Missing")) => "?",
        (_, Some("Suspended")) => "‖",
        _ => "·",
    }
}

/// The health Argo CD would give a ReplicaSet or Pod, from the object itself: ready replicas
/// against desired, a Pod's phase and readiness.
fn live_health(o: &serde_json::Value) -> super::model::HealthStatus {
    let status = |s: &str, m: Option<String>| super::model::HealthStatus { status: s.into(), message: m };
    match o["kind"].as_str() {
        Some("ReplicaSet") => {
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = o["status"]["readyReplicas"].as_i64().unwrap_or(0);
            if ready >= want { status("Healthy", None) } else { status("Progressing", Some(format!("{ready} of {want} replicas ready"))) }
        }
        Some("Pod") => {
            let phase = o["status"]["phase"].as_str().unwrap_or("Pending");
            let ready =
                o["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            match phase {
                "Running" if ready => status("Healthy", None),
                "Succeeded" => status("Healthy", None),
                "Failed" => status("Degraded", o["status"]["message"].as_str().map(|m| excerpt(m, 160))),
                _ => status("Progressing", Some(phase.to_string())),
            }
        }
        _ => status("Unknown", None),
    }
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
