//! A service that CodeDeploy deploys blue/green: its newest deployment's lifecycle events, the
//! traffic on the original and replacement task sets, the deployment config and the alarms of the
//! deployment group, made into one `Shift`.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::model::{Alarm, CdDeployment, DeploymentGroup, EcsService, EcsTarget, TrafficRouting, target_group_dimension, timestamp};
use super::view::{Call, Shift, Side, until};
use crate::aws::json_rpc::CODEDEPLOY;
use crate::delivery::{Health, StepState, TimelineEntry};
use crate::logstore::sanitize::{excerpt, plain};

/// The lifecycle of an ECS deployment, in order: the hooks and CodeDeploy's own stages.
pub const LIFECYCLE: [&str; 8] = [
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// Deployment statuses that are still going.
pub const ACTIVE: [&str; 5] = ["Created", "Queued", "InProgress", "Baking", "Ready"];

/// Everything read about one CodeDeploy-controlled service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    pub service: EcsService,
    pub deployment: Option<CdDeployment>,
    pub target: Option<EcsTarget>,
    /// Why the target (lifecycle events, traffic) could not be read.
    pub target_unread: Option<String>,
    /// The deployment CodeDeploy made to roll this one back, when it did.
    pub rolled_back_by: Option<CdDeployment>,
    pub group: Option<DeploymentGroup>,
    pub routing: Option<TrafficRouting>,
    pub alarms: Vec<Alarm>,
    pub alarms_unread: Option<String>,
}

/// "canary: 10 %, the rest after 5 min" from a deployment config.
pub fn routing_text(name: &str, routing: Option<&TrafficRouting>) -> String {
    let how = match routing {
        Some(r) if r.kind == "TimeBasedCanary" => r
            .time_based_canary
            .as_ref()
            .map(|c| format!("canary: {} %, the rest after {} min", c.percentage, c.interval))
            .unwrap_or_else(|| "canary".into()),
        Some(r) if r.kind == "TimeBasedLinear" => r
            .time_based_linear
            .as_ref()
            .map(|l| format!("linear: {} % more every {} min", l.percentage, l.interval))
            .unwrap_or_else(|| "linear".into()),
        Some(r) if r.kind == "AllAtOnce" => "all at once".into(),
        Some(r) => plain(&r.kind),
        None => "traffic pattern not read".into(),
    };
    format!("{how} ({})", plain(name))
}

/// `ContinueDeployment` past one of CodeDeploy's waits (`READY_WAIT`, `TERMINATION_WAIT`).
fn continue_past(deployment: &str, wait: &str, does: &str) -> Call {
    Call {
        service: CODEDEPLOY,
        operation: "ContinueDeployment",
        input: json!({"deploymentId": deployment, "deploymentWaitType": wait}),
        does: does.into(),
    }
}

pub fn shift(read: &Read, now: Timestamp) -> Shift {
    let svc = &read.service;
    let cluster = svc.cluster_arn.rsplit('/').next().unwrap_or_default().to_string();
    let mut out = Shift {
        cluster,
        service: svc.service_name.clone(),
        kind: "ECS blue/green (CodeDeploy)".into(),
        alarms: read.alarms.clone(),
        alarms_unread: read.alarms_unread.clone(),
        ..Shift::default()
    };
    let Some(d) = &read.deployment else {
        out.status = "none".into();
        out.state = "No CodeDeploy deployment yet".into();
        out.health = Some(Health::Healthy);
        out.urgency = 4;
        out.original = svc.task_definition.as_ref().map(|td| Side {
            task_definition: td.clone(),
            running: svc.running_count,
            desired: svc.desired_count,
            weight: Some(100.0),
            target_group: None,
        });
        return out;
    };
    out.id = Some(d.deployment_id.clone());
    out.status = d.status.clone();
    let group = read.group.clone().unwrap_or_default();
    let blue_green =
        d.blue_green_deployment_configuration.clone().or(group.blue_green_deployment_configuration.clone()).unwrap_or_default();
    let config_name = d.deployment_config_name.clone().or(group.deployment_config_name.clone()).unwrap_or_default();
    let ready = blue_green.deployment_ready_option.clone().unwrap_or_default();
    let termination_wait =
        blue_green.terminate_blue_instances_on_deployment_success.as_ref().and_then(|t| t.termination_wait_time_in_minutes);
    let rollback = d.auto_rollback_configuration.clone().or(group.auto_rollback_configuration.clone()).unwrap_or_default();
    // Four lines (the detail view shows that many): where, how traffic moves, the waits, and
    // what rolls it back.
    let by = d.creator.as_deref().map(|c| format!(" by {}", plain(c))).unwrap_or_default();
    let reroute = match (ready.action_on_timeout.as_deref(), ready.wait_time_in_minutes) {
        (Some("STOP_DEPLOYMENT"), Some(m)) => format!("Reroute waits for a person (stops after {m} min)"),
        (Some("STOP_DEPLOYMENT"), None) => "Reroute waits for a person".into(),
        _ => "Reroute at once".into(),
    };
    let original = match termination_wait {
        Some(m) => format!("original kept {m} min after traffic moved"),
        None => "original terminated when traffic moved".into(),
    };
    out.about = vec![
        format!(
            "Service {}/{} · CodeDeploy {}/{} · {}{by}",
            out.cluster,
            out.service,
            plain(&d.application_name),
            plain(&d.deployment_group_name),
            plain(&d.deployment_id)
        ),
        format!("Traffic: {}", routing_text(&config_name, read.routing.as_ref())),
        format!("{reroute} · {original}"),
        if rollback.enabled {
            format!(
                "Rolls back on: {}",
                rollback.events.iter().map(|e| plain(e).to_lowercase().replace('_', " ")).collect::<Vec<_>>().join(", ")
            )
        } else {
            "Automatic rollback: off".into()
        },
    ];
    if let Some(why) = &read.target_unread {
        out.about.push(format!("Lifecycle and traffic not read: {}", excerpt(why, 200)));
    }

    // The lifecycle, with what each stage last did.
    let events = read.target.as_ref().map(|t| t.lifecycle_events.clone()).unwrap_or_default();
    let event = |name: &str| events.iter().find(|e| e.lifecycle_event_name == name);
    let finished = !ACTIVE.contains(&d.status.as_str());
    out.lifecycle = LIFECYCLE
        .iter()
        .map(|name| {
            let state = match event(name).map(|e| e.status.as_str()) {
                Some("Succeeded" | "Skipped") => StepState::Done,
                Some("InProgress") => StepState::Current,
                _ if d.status == "Succeeded" => StepState::Done,
                _ => StepState::Todo,
            };
            (name.to_string(), state)
        })
        .collect();
    for e in &events {
        if let Some(t) = timestamp(e.start_time) {
            out.timeline
                .push(TimelineEntry { at: Some(t), text: format!("{} {}", plain(&e.lifecycle_event_name), e.status.to_lowercase()) });
        }
    }

    // The task sets: BLUE is the original, GREEN the replacement.
    let sets = read.target.as_ref().map(|t| t.task_sets_info.clone()).unwrap_or_default();
    let side_of = |label: &str| {
        sets.iter().find(|s| s.task_set_label.as_deref() == Some(label)).map(|s| {
            let set = svc.task_sets.iter().find(|t| Some(&t.id) == s.identifer.as_ref());
            let td = set.map(|t| t.task_definition.clone()).unwrap_or_else(|| s.identifer.clone().unwrap_or_default());
            let target_group =
                set.and_then(|t| t.load_balancers.iter().find_map(|l| target_group_dimension(l.target_group_arn.as_deref()?)));
            Side { task_definition: td, running: s.running_count, desired: s.desired_count, weight: s.traffic_weight, target_group }
        })
    };
    out.load_balancer = read.group.as_ref().and_then(DeploymentGroup::load_balancer);
    out.original = side_of("BLUE");
    out.replacement = side_of("GREEN");
    if out.replacement.is_none() && d.status == "Succeeded" {
        out.replacement = svc.task_definition.as_ref().map(|td| Side {
            task_definition: td.clone(),
            running: svc.running_count,
            desired: svc.desired_count,
            weight: Some(100.0),
            target_group: None,
        });
    }

    let allow_traffic_end = event("AfterAllowTestTraffic").and_then(|e| timestamp(e.end_time));
    let traffic_moved = event("AllowTraffic").and_then(|e| timestamp(e.end_time));
    let weight = out.weight().unwrap_or(0);
    let stop = Call {
        service: CODEDEPLOY,
        operation: "StopDeployment",
        input: json!({"deploymentId": d.deployment_id, "autoRollbackEnabled": true}),
        does: "stop the deployment and roll back: all traffic returns to the original task set".into(),
    };
    match d.status.as_str() {
        "Ready" => {
            out.health = Some(Health::Paused);
            out.urgency = 0;
            out.state = "Ready: waiting for you to reroute traffic".into();
            out.wait_until = ready
                .wait_time_in_minutes
                .filter(|_| ready.action_on_timeout.as_deref() == Some("STOP_DEPLOYMENT"))
                .and_then(|m| allow_traffic_end.or(timestamp(d.start_time)).map(|t| t + SignedDuration::from_mins(m)));
            if let Some(t) = out.wait_until {
                out.message = Some(format!("CodeDeploy stops this deployment {} unless traffic is rerouted", until(t, now)));
            }
            out.calls.insert(
                "promote",
                continue_past(
                    &d.deployment_id,
                    "READY_WAIT",
                    "reroute production traffic to the replacement task set, as the deployment config shifts it",
                ),
            );
            out.calls.insert("abort", stop);
        }
        s if ACTIVE.contains(&s) && d.instance_termination_wait_time_started => {
            out.health = Some(Health::Progressing);
            out.urgency = 2;
            out.state = "Traffic moved: waiting to terminate the original".into();
            out.wait_until = termination_wait.and_then(|m| traffic_moved.map(|t| t + SignedDuration::from_mins(m)));
            out.calls.insert(
                "promote-full",
                continue_past(
                    &d.deployment_id,
                    "TERMINATION_WAIT",
                    "terminate the original task set now, without waiting: rolling back is then a new deployment",
                ),
            );
            out.calls.insert("abort", stop);
        }
        s if ACTIVE.contains(&s) => {
            out.health = Some(Health::Progressing);
            out.urgency = 3;
            out.state = if event("AllowTraffic").is_some_and(|e| e.status == "InProgress") {
                format!("Shifting traffic: {weight} % on the replacement")
            } else {
                let at = out.lifecycle.iter().find(|(_, s)| *s == StepState::Current).map(|(n, _)| n.clone());
                format!("{}{}", plain(&d.status), at.map(|a| format!(" ({a})")).unwrap_or_default())
            };
            if let Some(TrafficRouting { kind, time_based_canary: Some(c), .. }) = &read.routing
                && kind == "TimeBasedCanary"
            {
                out.desired_weight = Some(if (weight as i64) < c.percentage { c.percentage as u8 } else { 100 });
            }
            out.calls.insert("abort", stop);
        }
        "Succeeded" => {
            out.health = Some(Health::Healthy);
            out.urgency = 4;
            out.state = "Succeeded".into();
        }
        status => {
            let stopped = status == "Stopped";
            out.health = Some(if stopped { Health::Aborted } else { Health::Degraded });
            out.urgency = 1;
            let word = if stopped { "Stopped".to_string() } else { plain(status) };
            let rollback = d.rollback_info.as_ref().and_then(|r| r.rollback_deployment_id.as_ref());
            out.state = match (&read.rolled_back_by, rollback) {
                (Some(rb), _) if ACTIVE.contains(&rb.status.as_str()) => format!("{word}, rolling back"),
                (Some(rb), _) if rb.status != "Succeeded" => format!("{word}, and its rollback {}", plain(&rb.status).to_lowercase()),
                (_, Some(_)) => format!("{word} and rolled back"),
                (_, None) => word,
            };
        }
    }
    if !finished {
        out.not_offered.insert("pause", "CodeDeploy cannot pause a deployment: stop it (with rollback) instead".into());
    }
    if !out.calls.contains_key("promote-full") && !finished {
        out.not_offered.insert("promote-full", "the original can be terminated early only once all traffic has moved".into());
    }

    // Why: CodeDeploy's error, the rollback's own message, the alarms that fire.
    let mut why = Vec::new();
    if let Some(e) = &d.error_information
        && let Some(m) = &e.message
    {
        why.push(format!("{}: {}", plain(e.code.as_deref().unwrap_or("error")), excerpt(m, 300)));
    }
    if let Some(r) = &d.rollback_info
        && let Some(m) = &r.rollback_message
    {
        why.push(excerpt(m, 300));
    }
    why.extend(out.firing());
    if !why.is_empty() {
        out.message = Some(match out.message.take() {
            Some(m) => format!("{m}; {}", why.join("; ")),
            None => why.join("; "),
        });
    }
    if let Some(t) = timestamp(d.create_time) {
        out.timeline.push(TimelineEntry { at: Some(t), text: format!("deployment {} created", plain(&d.deployment_id)) });
    }
    if let Some(t) = timestamp(d.complete_time) {
        out.timeline.push(TimelineEntry { at: Some(t), text: format!("deployment {}", d.status.to_lowercase()) });
    }
    for a in read.alarms.iter().filter(|a| a.state_value == "ALARM") {
        out.timeline
            .push(TimelineEntry {
                at: timestamp(a.state_updated_timestamp), text: format!("⚠ alarm {} went ALARM", plain(&a.alarm_name))
            });
    }
    out.timeline.sort_by_key(|e| e.at);
    out
}
