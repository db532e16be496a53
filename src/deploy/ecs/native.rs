//! A service with ECS's own blue/green, linear or canary strategy: its newest service deployment's
//! lifecycle stage, the production traffic on each revision, the bake time, the lifecycle hooks
//! that wait for a person, and the alarms that roll it back — made into one `Shift`.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::model::{Alarm, EcsService, ServiceDeployment, timestamp};
use super::view::{Call, Shift, Side, until};
use crate::aws::json_rpc::ECS;
use crate::delivery::{Health, StepState, TimelineEntry};
use crate::logstore::sanitize::{excerpt, plain};

/// ECS's lifecycle stages of a blue/green deployment, in order.
pub const STAGES: [&str; 10] = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    pub service: EcsService,
    pub deployment: Option<ServiceDeployment>,
    pub alarms: Vec<Alarm>,
    pub alarms_unread: Option<String>,
    /// The production listener rule's forward weights, or why they were not read.
    pub listener: Option<Result<Vec<super::listener::Weighted>, String>>,
}

fn strategy_text(svc: &EcsService, d: Option<&ServiceDeployment>) -> String {
    let config = d.and_then(|d| d.deployment_configuration.clone()).or(svc.deployment_configuration.clone()).unwrap_or_default();
    let bake = config.bake_time_in_minutes.map(|m| format!(", both kept {m} min after the shift")).unwrap_or_default();
    match config.strategy.as_deref().unwrap_or(svc.strategy()) {
        "CANARY" => {
            let c = config.canary_configuration.unwrap_or_default();
            format!(
                "canary: {} %, the rest after {} min{bake}",
                c.canary_percent.unwrap_or(0.0),
                c.canary_bake_time_in_minutes.unwrap_or(0)
            )
        }
        "LINEAR" => {
            let l = config.linear_configuration.unwrap_or_default();
            format!("linear: {} % more every {} min{bake}", l.step_percent.unwrap_or(0.0), l.step_bake_time_in_minutes.unwrap_or(0))
        }
        _ => format!("blue/green: all at once{bake}"),
    }
}

pub fn shift(read: &Read, now: Timestamp) -> Shift {
    let svc = &read.service;
    let cluster = svc.cluster_arn.rsplit('/').next().unwrap_or_default().to_string();
    let kind = match svc.strategy() {
        "CANARY" => "ECS canary",
        "LINEAR" => "ECS linear",
        _ => "ECS blue/green",
    };
    let mut out = Shift {
        cluster,
        service: svc.service_name.clone(),
        kind: kind.into(),
        alarms: read.alarms.clone(),
        alarms_unread: read.alarms_unread.clone(),
        ..Shift::default()
    };
    out.about.push(format!("Service {}/{} · deployed by ECS", out.cluster, out.service));
    out.about.push(format!("Traffic: {}", strategy_text(svc, read.deployment.as_ref())));
    let primary = svc.deployments.iter().find(|d| d.status == "PRIMARY");
    let active = svc.deployments.iter().find(|d| d.status == "ACTIVE");
    let Some(d) = &read.deployment else {
        out.status = "none".into();
        out.state = "No deployment yet".into();
        out.health = Some(Health::Healthy);
        out.urgency = 4;
        out.original = primary.map(|p| Side {
            task_definition: p.task_definition.clone(),
            running: p.running_count,
            desired: p.desired_count,
            weight: Some(100.0),
            target_group: None,
        });
        return out;
    };
    out.id = Some(d.service_deployment_arn.clone());
    out.status = d.status.clone();
    let hooks = d.deployment_configuration.as_ref().map(|c| c.lifecycle_hooks.clone()).unwrap_or_default();
    for h in &hooks {
        let what = if h.target_type.as_deref() == Some("PAUSE") { "waits for a person" } else { "runs a Lambda hook" };
        out.about.push(format!("At {}: {what}", h.lifecycle_stages.iter().map(|s| plain(s)).collect::<Vec<_>>().join(", ")));
    }
    if let Some(a) = &d.alarms
        && !a.alarm_names.is_empty()
    {
        out.about.push(format!("Rolls back on alarms ({})", a.status.as_deref().map(plain).unwrap_or_else(|| "status unknown".into())));
    }

    let stage = d.lifecycle_stage.clone().unwrap_or_default();
    let finished =
        !matches!(d.status.as_str(), "PENDING" | "IN_PROGRESS" | "STOP_REQUESTED" | "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS");
    let at = STAGES.iter().position(|s| *s == stage);
    out.lifecycle = STAGES
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let state = match at {
                _ if d.status == "SUCCESSFUL" => StepState::Done,
                Some(a) if i < a => StepState::Done,
                Some(a) if i == a && !finished => StepState::Current,
                Some(a) if i == a => StepState::Done,
                _ => StepState::Todo,
            };
            (s.to_string(), state)
        })
        .collect();

    let target = d.target_service_revision.clone().unwrap_or_default();
    let source = d.source_service_revisions.first().cloned();
    // ECS registers the new (green) revision with the alternate target group and keeps the
    // current (blue) one on the primary; the production listener rule names the load balancer.
    let balanced = svc.load_balancers.iter().find(|l| l.advanced_configuration.is_some());
    let advanced = balanced.and_then(|l| l.advanced_configuration.as_ref());
    let group = |arn: Option<&String>| arn.and_then(|a| super::model::target_group_dimension(a));
    out.load_balancer = advanced.and_then(|a| a.production_listener_rule.as_deref()).and_then(super::model::load_balancer_dimension);
    out.replacement = Some(Side {
        task_definition: primary.map(|p| p.task_definition.clone()).unwrap_or_else(|| target.arn.clone()),
        running: target.running_task_count,
        desired: target.requested_task_count,
        weight: target.requested_production_traffic_weight,
        target_group: group(advanced.and_then(|a| a.alternate_target_group_arn.as_ref())),
    });
    out.original = source.map(|s| Side {
        task_definition: active.map(|a| a.task_definition.clone()).unwrap_or_else(|| s.arn.clone()),
        running: s.running_task_count,
        desired: s.requested_task_count,
        weight: s.requested_production_traffic_weight,
        target_group: group(balanced.and_then(|l| l.target_group_arn.as_ref())),
    });

    let waiting = d.lifecycle_hook_details.iter().find(|h| h.status.as_deref() == Some("AWAITING_ACTION"));
    let stop = Call {
        service: ECS,
        operation: "StopServiceDeployment",
        input: json!({"serviceDeploymentArn": d.service_deployment_arn, "stopType": "ROLLBACK"}),
        does: "stop the deployment and roll back: production traffic returns to the previous revision".into(),
    };
    out.listener = match &read.listener {
        Some(Ok(groups)) => groups.iter().map(|g| format!("{:<24} {:>3} %", g.target_group, g.weight)).collect(),
        Some(Err(why)) => vec![format!("not read: {}", excerpt(why, 200))],
        None => Vec::new(),
    };
    let weight = out.weight().unwrap_or(0);
    match d.status.as_str() {
        "PENDING" | "IN_PROGRESS" if waiting.is_some() => {
            let hook = waiting.cloned().unwrap_or_default();
            out.health = Some(Health::Paused);
            out.urgency = 0;
            out.state = format!("Paused at {}: waiting for you", plain(&stage));
            out.wait_until = timestamp(hook.expires_at);
            if let Some(t) = out.wait_until {
                let then = hook.timeout_action.as_deref().map(|a| a.to_lowercase()).unwrap_or_else(|| "time out".into());
                out.message = Some(format!("the hook times out {} and ECS will {then}", until(t, now)));
            }
            if let Some(id) = &hook.hook_id {
                out.calls.insert(
                    "promote",
                    Call {
                        service: ECS,
                        operation: "ContinueServiceDeployment",
                        input: json!({"serviceDeploymentArn": d.service_deployment_arn, "hookId": id, "action": "CONTINUE"}),
                        does: format!("let the deployment go on past {}", plain(&stage)),
                    },
                );
            }
            out.calls.insert("abort", stop);
        }
        "PENDING" | "IN_PROGRESS" => {
            out.health = Some(Health::Progressing);
            if stage == "BAKE_TIME" {
                out.urgency = 2;
                out.state = "Baking: both revisions kept".into();
                let bake = d.deployment_configuration.as_ref().and_then(|c| c.bake_time_in_minutes);
                out.wait_until = bake.and_then(|m| timestamp(d.updated_at).map(|t| t + SignedDuration::from_mins(m)));
            } else if stage == "PRODUCTION_TRAFFIC_SHIFT" {
                out.urgency = 3;
                out.state = format!("Shifting traffic: {weight} % on the new revision");
            } else {
                out.urgency = 3;
                out.state = format!("In progress ({})", plain(&stage));
            }
            out.calls.insert("abort", stop);
        }
        "SUCCESSFUL" => {
            out.health = Some(Health::Healthy);
            out.urgency = 4;
            out.state = "Succeeded".into();
        }
        "ROLLBACK_SUCCESSFUL" | "STOPPED" => {
            out.health = Some(Health::Aborted);
            out.urgency = 1;
            out.state = if d.status == "STOPPED" { "Stopped".into() } else { "Rolled back".into() };
        }
        "STOP_REQUESTED" | "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => {
            out.health = Some(Health::Aborted);
            out.urgency = 1;
            out.state = "Rolling back".into();
        }
        s => {
            out.health = Some(Health::Degraded);
            out.urgency = 1;
            out.state = plain(s);
        }
    }
    if !finished {
        out.not_offered.insert("promote-full", "ECS has no call to end a bake time or a traffic shift early".into());
        out.not_offered.insert("pause", "ECS cannot pause a deployment: a PAUSE lifecycle hook waits for a person".into());
    }
    let mut why: Vec<String> = Vec::new();
    if let Some(r) = &d.status_reason {
        why.push(excerpt(r, 300));
    }
    if let Some(r) = d.rollback.as_ref().and_then(|r| r.reason.as_ref()) {
        why.push(format!("rollback: {}", excerpt(r, 300)));
    }
    if let Some(a) = &d.alarms
        && !a.triggered_alarm_names.is_empty()
    {
        why.push(format!("triggered: {}", a.triggered_alarm_names.iter().map(|n| plain(n)).collect::<Vec<_>>().join(", ")));
    }
    why.extend(out.firing());
    if !why.is_empty() {
        out.message = Some(match out.message.take() {
            Some(m) => format!("{m}; {}", why.join("; ")),
            None => why.join("; "),
        });
    }
    for (at, what) in [
        (d.created_at, "created"),
        (d.started_at, "started"),
        (d.rollback.as_ref().and_then(|r| r.started_at), "rollback started"),
        (d.stopped_at, "stopped"),
        (d.finished_at, "finished"),
    ] {
        if let Some(t) = timestamp(at) {
            out.timeline.push(TimelineEntry { at: Some(t), text: format!("deployment {what}") });
        }
    }
    out.timeline.sort_by_key(|e| e.at);
    out
}
