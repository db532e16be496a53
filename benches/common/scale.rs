//! 1,000 Argo Rollouts in 100 namespaces, in every phase, for the benchmarks at scale.

use serde_json::{Value, json};

pub const ROLLOUTS: usize = 1_000;
pub const NAMESPACES: usize = 100;

/// The `i`-th rollout.
pub fn object(i: usize) -> Value {
    let phase = ["Healthy", "Paused", "Progressing", "Degraded"][i % 4];
    let mut status =
        json!({"phase": phase, "currentStepIndex": i % 5, "currentPodHash": "new", "stableRS": "old", "observedGeneration": "1"});
    if phase == "Paused" {
        status["pauseConditions"] = json!([{"reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z"}]);
    }
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": format!("service-{i:04}"), "namespace": format!("team-{:03}", i % NAMESPACES), "uid": format!("uid-{i}")},
        "spec": {"selector": {"matchLabels": {"app": format!("service-{i:04}")}},
                 "template": {"metadata": {"labels": {"app": format!("service-{i:04}")}},
                              "spec": {"containers": [{"name": "app", "image": format!("registry.example/service-{i:04}:1.{}", i % 7)}]}},
                 "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10m"}}, {"setWeight": 100}]}}},
        "status": status})
}

/// Resident memory of a process, in kB.
pub fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// CPU time of a process (user + system), in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or_default().split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}
