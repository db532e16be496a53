//! One picture of an ECS blue/green deployment, whoever runs it (CodeDeploy, or ECS itself): where
//! traffic stands, what waits, what the alarms say, and the exact call each key would send. The
//! release row, the detail view, the plan and the check before acting are all made from it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use super::model::Alarm;
use crate::aws::json_rpc::Service;
use crate::delivery::{Health, StepState, StepView, TimelineEntry};

/// A request an action sends: the service, the operation and its input, shown as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub service: Service,
    pub operation: &'static str,
    pub input: Value,
    /// What it does, for people ("shift production traffic to the replacement task set").
    pub does: String,
}

impl Call {
    pub fn text(&self) -> String {
        format!("{} {} {}", self.service.title, self.operation, self.input)
    }
}

/// One side of the deployment: the original (blue) or the replacement (green).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Side {
    pub task_definition: String,
    pub running: i64,
    pub desired: i64,
    /// Share of production traffic, 0–100.
    pub weight: Option<f64>,
    /// The target group it serves from, as CloudWatch names it (`targetgroup/NAME/ID`).
    pub target_group: Option<String>,
}

impl Side {
    pub fn line(&self, label: &str) -> String {
        let weight = self.weight.map(|w| format!("{w:>3.0} %")).unwrap_or_else(|| "  ? %".into());
        let line =
            format!("{label:<12} {weight}  {}  tasks {}/{}", short_task_definition(&self.task_definition), self.running, self.desired);
        // The target group it serves from: the one its canary metrics are read from.
        match self.target_group.as_deref().and_then(|g| g.split('/').nth(1)) {
            Some(group) => format!("{line}  · {}", crate::logstore::sanitize::plain(group)),
            None => line,
        }
    }
}

/// `arn:aws:ecs:…:task-definition/payments-api:8` → `payments-api:8`, made plain (it comes from AWS
/// and is shown in the version column).
pub fn short_task_definition(arn: &str) -> String {
    crate::logstore::sanitize::plain(arn.rsplit('/').next().unwrap_or(arn))
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shift {
    pub cluster: String,
    pub service: String,
    /// "ECS blue/green (CodeDeploy)", "ECS canary"…
    pub kind: String,
    /// The deployment (CodeDeploy's id, or the service deployment's ARN); None before the first.
    pub id: Option<String>,
    /// AWS's own word for where it is (`Ready`, `IN_PROGRESS`…).
    pub status: String,
    pub health: Option<Health>,
    pub urgency: u8,
    pub state: String,
    pub message: Option<String>,
    pub original: Option<Side>,
    pub replacement: Option<Side>,
    pub desired_weight: Option<u8>,
    /// The lifecycle, in order: name and AWS's status of each stage.
    pub lifecycle: Vec<(String, StepState)>,
    /// How it is set up: the traffic pattern, the waits, what rolls it back.
    pub about: Vec<String>,
    /// When the current wait ends (a manual reroute's deadline, the original's termination).
    pub wait_until: Option<Timestamp>,
    pub alarms: Vec<Alarm>,
    /// Alarm names configured but not read (CloudWatch refused or does not know them).
    pub alarms_unread: Option<String>,
    /// The production listener rule's weights, as the load balancer has them (ECS's own
    /// blue/green).
    pub listener: Vec<String>,
    /// Verb → what it sends now. A verb missing here is not offered.
    pub calls: BTreeMap<&'static str, Call>,
    /// Why a verb people may look for is not offered (ECS cannot end a bake time early).
    pub not_offered: BTreeMap<&'static str, String>,
    pub timeline: Vec<TimelineEntry>,
    /// The production load balancer, as CloudWatch names it (`app/NAME/ID`).
    pub load_balancer: Option<String>,
}

impl Shift {
    /// Where the canary (the replacement) and the stable side (the original) are measured in
    /// CloudWatch: the load balancer with each side's target group.
    pub fn measured_on(&self) -> Option<crate::delivery::MeasuredOn> {
        let lb = self.load_balancer.as_ref()?;
        let dims = |side: &Option<Side>| Some(format!("LoadBalancer={lb},TargetGroup={}", side.as_ref()?.target_group.as_ref()?));
        Some(crate::delivery::MeasuredOn { canary: dims(&self.replacement)?, stable: dims(&self.original)? })
    }

    /// Production traffic the replacement gets now.
    pub fn weight(&self) -> Option<u8> {
        self.replacement.as_ref().and_then(|s| s.weight).map(|w| w.round().clamp(0.0, 100.0) as u8)
    }

    /// The lifecycle position: the stage under way (or the last done), counting from 1.
    pub fn step(&self) -> Option<(usize, usize)> {
        if self.lifecycle.is_empty() {
            return None;
        }
        let n = self.lifecycle.len();
        let at = self
            .lifecycle
            .iter()
            .position(|(_, s)| *s == StepState::Current)
            .or_else(|| self.lifecycle.iter().rposition(|(_, s)| *s == StepState::Done))
            .unwrap_or(0);
        Some((at + 1, n))
    }

    pub fn steps(&self) -> Vec<StepView> {
        self.lifecycle.iter().map(|(label, state)| StepView { label: label.clone(), state: *state }).collect()
    }

    /// Alarms firing now, in words for the row's message.
    pub fn firing(&self) -> Vec<String> {
        self.alarms
            .iter()
            .filter(|a| a.state_value == "ALARM")
            .map(|a| {
                let why =
                    a.state_reason.as_deref().map(|r| format!(": {}", crate::logstore::sanitize::excerpt(r, 160))).unwrap_or_default();
                format!("alarm {} is ALARM{why}", crate::logstore::sanitize::plain(&a.alarm_name))
            })
            .collect()
    }

    /// The alarms as the detail view lists them.
    pub fn alarm_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .alarms
            .iter()
            .map(|a| {
                let mark = match a.state_value.as_str() {
                    "OK" => "✓",
                    "ALARM" => "✗",
                    _ => "?",
                };
                let reason =
                    a.state_reason.as_deref().map(|r| format!(" — {}", crate::logstore::sanitize::excerpt(r, 200))).unwrap_or_default();
                format!("{mark} {} {}{reason}", crate::logstore::sanitize::plain(&a.alarm_name), a.state_value)
            })
            .collect();
        if let Some(why) = &self.alarms_unread {
            lines.push(format!("? {why}"));
        }
        lines
    }
}

/// "in 58m", "in 12s", "now": how long until `t`.
pub fn until(t: Timestamp, now: Timestamp) -> String {
    let s = (t.as_second() - now.as_second()).max(0);
    match s {
        0 => "now".into(),
        s if s < 120 => format!("in {s}s"),
        s if s < 7200 => format!("in {}m", s / 60),
        s => format!("in {}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
