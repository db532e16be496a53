//! An application in full, from what was read of it: the resource tree with health and the Argo
//! Rollouts it owns, the last operation with its per-resource results, conditions, sync
//! windows, the history (as the timeline and as revisions to roll back to) and its Events.

use std::collections::BTreeMap;

use super::model::{App, short};
use super::tree::Tree;
use crate::delivery::{Detail, Native, Permissions, Revision, Section, TimelineEntry};
use crate::domain::RolloutRef;
use crate::logstore::sanitize::excerpt;

/// What the provider read for one application; each part beyond the app may have failed alone.
pub struct Read {
    pub app: App,
    pub tree: Result<Tree, String>,
    pub events: Result<Vec<serde_json::Value>, String>,
    /// The sync windows said for people, and whether a manual sync may go now.
    pub windows: Result<super::windows::Judged, String>,
    pub denied: BTreeMap<String, String>,
    /// "Argo CD API server" or "Kubernetes API …".
    pub way_in: &'static str,
}

fn by(h: &super::model::HistoryEntry) -> String {
    if h.initiated_by.automated { "auto-sync".to_string() } else { excerpt(h.initiated_by.username.as_deref().unwrap_or("?"), 80) }
}

pub fn detail(reference: RolloutRef, read: Read) -> Detail {
    let Read { app, tree, events, windows, mut denied, way_in } = read;
    let mut sections = Vec::new();
    let mut problems = Vec::new();
    if let Some(op) = &app.status.operation_state {
        let mut lines = vec![format!("{} — {}", op.phase, excerpt(op.message.as_deref().unwrap_or(""), 300))];
        if let Some(started) = &op.started_at {
            lines[0].push_str(&format!(" (started {}", excerpt(started, 40)));
            lines[0].push_str(&op.finished_at.as_deref().map(|f| format!(", finished {})", excerpt(f, 40))).unwrap_or(")".into()));
        }
        if let Some(result) = &op.sync_result {
            for res in &result.resources {
                lines.push(format!(
                    "{} {}/{} {}",
                    res.status.as_deref().unwrap_or("-"),
                    excerpt(&res.kind, 60),
                    excerpt(&res.name, 100),
                    excerpt(res.message.as_deref().unwrap_or(""), 200)
                ));
            }
        }
        sections.push(Section { title: "Last operation".into(), lines });
    }
    let tree = tree.unwrap_or_else(|e| {
        problems.push(format!("resource tree: {e}"));
        Tree::top_level(&app, Some(e))
    });
    let out_of_sync = Tree::out_of_sync(&app);
    let lines = tree.lines(&app);
    if !lines.is_empty() {
        let title = match out_of_sync {
            0 => format!("Resources ({})", app.status.resources.len()),
            n => format!("Resources ({} · {n} out of sync)", app.status.resources.len()),
        };
        sections.push(Section { title, lines });
    }
    // What a sync may be limited to, out of sync first.
    let mut parts: Vec<(bool, String)> =
        app.status.resources.iter().map(|r| (r.status.as_deref() != Some("OutOfSync"), format!("{}/{}", r.kind, r.name))).collect();
    parts.sort();
    let parts: Vec<String> = parts.into_iter().map(|(_, p)| p).collect();
    // The Argo Rollouts it owns, opened with `L` in the rollout view.
    let related: Vec<RolloutRef> = tree.rollouts().iter().map(|(ns, name)| RolloutRef::argo("", ns, name)).collect();
    if !related.is_empty() {
        sections.push(Section { title: "Argo Rollouts it owns".into(), lines: related.iter().map(|r| r.short()).collect() });
    }
    if !app.status.conditions.is_empty() {
        sections.push(Section {
            title: "Conditions".into(),
            lines: app.status.conditions.iter().map(|c| format!("{}: {}", excerpt(&c.kind, 60), excerpt(&c.message, 300))).collect(),
        });
    }
    let mut notes = BTreeMap::new();
    match windows {
        Ok(judged) => {
            if !judged.lines.is_empty() {
                sections.push(Section { title: "Sync windows".into(), lines: judged.lines });
            }
            match judged.manual {
                Err(why) => {
                    denied.entry("sync".into()).or_insert(why);
                }
                Ok(Some(note)) => {
                    notes.insert("sync".to_string(), note);
                }
                Ok(None) => {}
            }
        }
        Err(e) => sections.push(Section { title: "Sync windows".into(), lines: vec![format!("cannot read them: {e}")] }),
    }
    let mut timeline: Vec<TimelineEntry> = app
        .status
        .history
        .iter()
        .map(|h| TimelineEntry {
            at: h.deployed_at.as_deref().and_then(|t| t.parse().ok()),
            text: format!("synced #{} {} by {}", h.id, h.revision.as_deref().map(short).unwrap_or("-"), by(h)),
        })
        .collect();
    match events {
        Ok(events) => timeline.extend(events.iter().map(TimelineEntry::of_event)),
        Err(e) => problems.push(format!("events: {e}")),
    }
    timeline.sort_by_key(|t| t.at);
    let source = app.spec.source.as_ref().map(|s| {
        format!(
            "{} {} @ {}",
            excerpt(s["repoURL"].as_str().unwrap_or("?"), 200),
            excerpt(s["path"].as_str().or(s["chart"].as_str()).unwrap_or(""), 100),
            excerpt(s["targetRevision"].as_str().unwrap_or("HEAD"), 60)
        )
    });
    // The history as revisions to roll back to, newest first (the undo picker's list).
    let last = app.last_deployed().map(|h| h.id);
    let mut revisions: Vec<Revision> = app
        .status
        .history
        .iter()
        .map(|h| Revision {
            number: h.id,
            label: format!("{} · by {}", h.revision.as_deref().map(short).unwrap_or("-"), by(h)),
            current: Some(h.id) == last,
            created: h.deployed_at.as_deref().and_then(|t| t.parse().ok()),
        })
        .collect();
    revisions.sort_by_key(|r| std::cmp::Reverse(r.number));
    Detail {
        reference: Some(reference),
        loaded: true,
        error: (!problems.is_empty()).then(|| problems.join("; ")),
        about: vec![
            format!("Argo CD application in project {} → {} ({way_in})", excerpt(&app.spec.project, 60), app.destination_text()),
            source.unwrap_or_else(|| format!("{} sources", app.spec.sources.len())),
            format!("auto-sync {}", if app.auto_sync() { "on" } else { "off" }),
        ],
        sections,
        timeline,
        revisions,
        permissions: Some(Permissions { denied, notes, authenticated: None }),
        native: Native::new(app),
        related,
        parts,
        ..Detail::default()
    }
}
