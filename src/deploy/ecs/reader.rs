//! Reading a service's deployment from AWS, with the least calls a poll can make: the services of
//! a cluster in one `DescribeServices`; a CodeDeploy group found once from the deployment that
//! made the service's task set; a finished deployment, its deployment config and its group kept
//! (they no longer change); only the alarms and what is under way read every time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::codedeploy::{self, ACTIVE};
use super::model::*;
use super::native;
use crate::aws::json_rpc::{AwsError, CLOUDWATCH, CODEDEPLOY, ECS, Service, Session};

/// A deployment group is read again after this long (someone may change its alarms).
const GROUP_KEPT: Duration = Duration::from_secs(300);
/// How far back the first look for a service's newest CodeDeploy deployment goes.
const HISTORY_DAYS: i64 = 30;

/// What one service's deployment looks like now, read whole.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceRead {
    CodeDeploy(Box<codedeploy::Read>),
    Native(Box<native::Read>),
    /// A rolling update, or a controller flightdeck does not drive: shown, never acted on.
    Other {
        service: Box<EcsService>,
        why: String,
    },
    /// ECS does not know the service (misspelled, deleted, another region).
    Missing {
        cluster: String,
        service: String,
        why: String,
    },
}

/// (cluster, service).
type ServiceKey = (String, String);

pub struct Reader {
    pub session: Session,
    /// (cluster, service) → CodeDeploy (application, deployment group).
    groups: Mutex<BTreeMap<(String, String), (String, String)>>,
    /// (application, group) → the group as read, and when.
    group_info: Mutex<BTreeMap<(String, String), (DeploymentGroup, Instant)>>,
    /// Deployment config name → how it routes traffic (never changes).
    routings: Mutex<BTreeMap<String, TrafficRouting>>,
    /// (cluster, service) → the newest deployment seen, and its target once finished.
    newest: Mutex<BTreeMap<ServiceKey, (CdDeployment, Option<EcsTarget>)>>,
    /// Deployment → why its target could not be read.
    targets_unread: Mutex<BTreeMap<String, String>>,
}

fn malformed(service: &Service, operation: &str, e: serde_json::Error) -> AwsError {
    AwsError::Service {
        service: service.title,
        operation: operation.into(),
        code: "MalformedResponse".into(),
        message: e.to_string(),
        status: 200,
    }
}

impl Reader {
    pub fn new(session: Session) -> Reader {
        Reader {
            session,
            groups: Mutex::default(),
            group_info: Mutex::default(),
            routings: Mutex::default(),
            newest: Mutex::default(),
            targets_unread: Mutex::default(),
        }
    }

    async fn call<T: DeserializeOwned>(&self, service: &Service, operation: &str, input: Value, field: &str) -> Result<T, AwsError> {
        let mut v = self.session.call(service, operation, &input).await?;
        let part = if field.is_empty() { v } else { v[field].take() };
        let part = if part.is_null() { json!([]) } else { part };
        serde_json::from_value(part).map_err(|e| malformed(service, operation, e))
    }

    /// Every named service of `cluster`, in one call per ten (DescribeServices' limit).
    pub async fn services(&self, cluster: &str, names: &[String]) -> Result<Vec<ServiceOrMissing>, AwsError> {
        let mut out = Vec::new();
        for chunk in names.chunks(10) {
            let v = self.session.call(&ECS, "DescribeServices", &json!({"cluster": cluster, "services": chunk})).await?;
            let found: Vec<EcsService> =
                serde_json::from_value(v["services"].clone()).map_err(|e| malformed(&ECS, "DescribeServices", e))?;
            for name in chunk {
                match found.iter().find(|s| &s.service_name == name && s.status != "INACTIVE") {
                    Some(s) => out.push(ServiceOrMissing::Found(Box::new(s.clone()))),
                    None => {
                        let why = v["failures"]
                            .as_array()
                            .and_then(|f| f.iter().find(|f| f["arn"].as_str().is_some_and(|a| a.ends_with(&format!("/{name}")))))
                            .and_then(|f| f["reason"].as_str())
                            .map(crate::logstore::sanitize::plain)
                            .unwrap_or_else(|| "not found (or inactive)".into());
                        out.push(ServiceOrMissing::Missing(name.clone(), why));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Everything about one service's deployment.
    pub async fn read(&self, cluster: &str, service: EcsService) -> Result<ServiceRead, AwsError> {
        match (service.controller(), service.strategy()) {
            ("CODE_DEPLOY", _) => Ok(ServiceRead::CodeDeploy(Box::new(self.codedeploy(cluster, service).await?))),
            ("ECS", "BLUE_GREEN" | "LINEAR" | "CANARY") => Ok(ServiceRead::Native(Box::new(self.native(cluster, service).await?))),
            (controller, strategy) => {
                let why = match controller {
                    "ECS" => format!("a {} update, not blue/green: nothing to shift", strategy.to_lowercase()),
                    c => format!("deployed by an {} controller flightdeck does not drive", c.to_lowercase()),
                };
                Ok(ServiceRead::Other { service: Box::new(service), why })
            }
        }
    }

    async fn codedeploy(&self, cluster: &str, service: EcsService) -> Result<codedeploy::Read, AwsError> {
        let key = (cluster.to_string(), service.service_name.clone());
        let known = self.groups.lock().map(|g| g.get(&key).cloned()).unwrap_or_default();
        let (app, group) = match known {
            Some(g) => g,
            None => {
                // The task set CodeDeploy made names its deployment, which names the group.
                let newest_set = service
                    .task_sets
                    .iter()
                    .filter(|t| t.external_id.is_some())
                    .max_by(|a, b| a.created_at.unwrap_or(0.0).total_cmp(&b.created_at.unwrap_or(0.0)));
                let Some(id) = newest_set.and_then(|t| t.external_id.clone()) else {
                    return Ok(codedeploy::Read { service, ..Default::default() });
                };
                let found = self.deployments(&[id]).await?;
                let Some(d) = found.into_iter().next() else {
                    return Ok(codedeploy::Read { service, ..Default::default() });
                };
                let g = (d.application_name.clone(), d.deployment_group_name.clone());
                if let Ok(mut groups) = self.groups.lock() {
                    groups.insert(key.clone(), g.clone());
                }
                g
            }
        };
        let group_info = self.group(&app, &group).await?;
        // Under way: the one CodeDeploy lists as active. Else the newest seen (finished, so kept),
        // or on the first look the newest of the last days.
        let active: Vec<String> = self
            .call(
                &CODEDEPLOY,
                "ListDeployments",
                json!({"applicationName": app, "deploymentGroupName": group, "includeOnlyStatuses": ACTIVE}),
                "deployments",
            )
            .await?;
        let kept = self.newest.lock().map(|n| n.get(&key).cloned()).unwrap_or_default();
        let (deployment, target) = if !active.is_empty() {
            self.newest_of(&active).await?
        } else if let Some((d, Some(t))) = kept.clone().filter(|(d, _)| !ACTIVE.contains(&d.status.as_str())) {
            (Some(d), Some(t))
        } else {
            let ids = match kept {
                // It was under way at the last look: it has finished since.
                Some((d, _)) => vec![d.deployment_id],
                None => {
                    let start = Timestamp::now().as_second() - HISTORY_DAYS * 86_400;
                    self.call(
                        &CODEDEPLOY,
                        "ListDeployments",
                        json!({"applicationName": app, "deploymentGroupName": group, "createTimeRange": {"start": start}}),
                        "deployments",
                    )
                    .await?
                }
            };
            self.newest_of(&ids).await?
        };
        // A rollback is a deployment of its own: people look at the one it rolled back, with how
        // the rollback went.
        let (deployment, target, rolled_back_by) = match deployment {
            Some(rb) if rb.rollback_info.as_ref().and_then(|r| r.rollback_triggering_deployment_id.as_ref()).is_some() => {
                let triggering = rb.rollback_info.as_ref().and_then(|r| r.rollback_triggering_deployment_id.clone()).unwrap_or_default();
                match self.deployments(std::slice::from_ref(&triggering)).await?.into_iter().next() {
                    Some(d) => {
                        let target = self.target(&triggering).await?;
                        (Some(d), target, Some(rb))
                    }
                    None => (Some(rb), target, None),
                }
            }
            other => (other, target, None),
        };
        if let (Some(d), Ok(mut newest)) = (&deployment, self.newest.lock()) {
            newest.insert(key, (d.clone(), target.clone()));
        }
        let config_name = deployment.as_ref().and_then(|d| d.deployment_config_name.clone()).or(group_info.deployment_config_name.clone());
        let routing = match config_name {
            Some(name) => self.routing(&name).await.ok(),
            None => None,
        };
        let alarm_names: Vec<String> = group_info
            .alarm_configuration
            .as_ref()
            .filter(|a| a.enabled)
            .map(|a| a.alarms.iter().map(|a| a.name.clone()).collect())
            .unwrap_or_default();
        let (alarms, alarms_unread) = self.alarms(&alarm_names).await;
        let target_unread = if target.is_none() { deployment.as_ref().and_then(|d| self.target_unread(&d.deployment_id)) } else { None };
        Ok(codedeploy::Read {
            service,
            deployment,
            target,
            target_unread,
            rolled_back_by,
            group: Some(group_info),
            routing,
            alarms,
            alarms_unread,
        })
    }

    /// The newest of these deployments (BatchGetDeployments takes 25 at a time), with its target.
    async fn newest_of(&self, ids: &[String]) -> Result<(Option<CdDeployment>, Option<EcsTarget>), AwsError> {
        let mut ds = Vec::new();
        for chunk in ids.chunks(25) {
            ds.extend(self.deployments(chunk).await?);
        }
        let newest = ds.into_iter().max_by(|a, b| a.create_time.unwrap_or(0.0).total_cmp(&b.create_time.unwrap_or(0.0)));
        let target = match &newest {
            Some(d) => self.target(&d.deployment_id).await?,
            None => None,
        };
        Ok((newest, target))
    }

    async fn deployments(&self, ids: &[String]) -> Result<Vec<CdDeployment>, AwsError> {
        self.call(&CODEDEPLOY, "BatchGetDeployments", json!({"deploymentIds": ids}), "deploymentsInfo").await
    }

    /// The deployment's ECS target (lifecycle events, task sets' traffic). Not being able to read
    /// it (a role without `codedeploy:BatchGetDeploymentTargets`) leaves the rest shown.
    async fn target(&self, deployment: &str) -> Result<Option<EcsTarget>, AwsError> {
        match self.target_strictly(deployment).await {
            Ok(t) => Ok(t),
            Err(e @ (AwsError::Unreachable { .. } | AwsError::Expired { .. } | AwsError::Credentials(_))) => Err(e),
            Err(e) => {
                if let Ok(mut unread) = self.targets_unread.lock() {
                    unread.insert(deployment.to_string(), e.to_string());
                }
                Ok(None)
            }
        }
    }

    /// Why a deployment's target could not be read, when it could not.
    pub fn target_unread(&self, deployment: &str) -> Option<String> {
        self.targets_unread.lock().ok().and_then(|u| u.get(deployment).cloned())
    }

    async fn target_strictly(&self, deployment: &str) -> Result<Option<EcsTarget>, AwsError> {
        let ids: Vec<String> = self.call(&CODEDEPLOY, "ListDeploymentTargets", json!({"deploymentId": deployment}), "targetIds").await?;
        if ids.is_empty() {
            return Ok(None);
        }
        let v = self
            .session
            .call(&CODEDEPLOY, "BatchGetDeploymentTargets", &json!({"deploymentId": deployment, "targetIds": &ids[..ids.len().min(25)]}))
            .await?;
        let ecs = v["deploymentTargets"].as_array().and_then(|t| t.iter().find_map(|t| t.get("ecsTarget").cloned()));
        match ecs {
            Some(t) => serde_json::from_value(t).map(Some).map_err(|e| malformed(&CODEDEPLOY, "BatchGetDeploymentTargets", e)),
            None => Ok(None),
        }
    }

    async fn group(&self, app: &str, group: &str) -> Result<DeploymentGroup, AwsError> {
        let key = (app.to_string(), group.to_string());
        if let Some((g, _)) = self.group_info.lock().ok().and_then(|g| g.get(&key).cloned()).filter(|(_, at)| at.elapsed() < GROUP_KEPT) {
            return Ok(g);
        }
        let g: DeploymentGroup = self
            .call(&CODEDEPLOY, "GetDeploymentGroup", json!({"applicationName": app, "deploymentGroupName": group}), "deploymentGroupInfo")
            .await?;
        if let Ok(mut info) = self.group_info.lock() {
            info.insert(key, (g.clone(), Instant::now()));
        }
        Ok(g)
    }

    async fn routing(&self, name: &str) -> Result<TrafficRouting, AwsError> {
        if let Some(r) = self.routings.lock().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(r);
        }
        let v = self.session.call(&CODEDEPLOY, "GetDeploymentConfig", &json!({"deploymentConfigName": name})).await?;
        let r: TrafficRouting = serde_json::from_value(v["deploymentConfigInfo"]["trafficRoutingConfig"].clone()).unwrap_or_default();
        if let Ok(mut routings) = self.routings.lock() {
            routings.insert(name.to_string(), r.clone());
        }
        Ok(r)
    }

    /// The alarms' states; when CloudWatch cannot be read, why (the deployment is still shown).
    pub async fn alarms(&self, names: &[String]) -> (Vec<Alarm>, Option<String>) {
        if names.is_empty() {
            return (Vec::new(), None);
        }
        let mut out = Vec::new();
        for chunk in names.chunks(100) {
            match self
                .session
                .call(&CLOUDWATCH, "DescribeAlarms", &json!({"AlarmNames": chunk, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}))
                .await
            {
                Ok(v) => {
                    for kind in ["MetricAlarms", "CompositeAlarms"] {
                        out.extend(serde_json::from_value::<Vec<Alarm>>(v[kind].clone()).unwrap_or_default());
                    }
                }
                Err(e) => return (out, Some(format!("alarms not read: {e}"))),
            }
        }
        let missing: Vec<&String> = names.iter().filter(|n| !out.iter().any(|a| &a.alarm_name == *n)).collect();
        let unread = (!missing.is_empty()).then(|| {
            format!(
                "CloudWatch does not know {}",
                missing.iter().map(|n| crate::logstore::sanitize::plain(n)).collect::<Vec<_>>().join(", ")
            )
        });
        (out, unread)
    }

    async fn native(&self, cluster: &str, service: EcsService) -> Result<native::Read, AwsError> {
        let listed = self
            .session
            .call(&ECS, "ListServiceDeployments", &json!({"cluster": cluster, "service": service.service_name, "maxResults": 20}))
            .await?;
        let briefs: Vec<ServiceDeployment> =
            serde_json::from_value(listed["serviceDeployments"].clone()).map_err(|e| malformed(&ECS, "ListServiceDeployments", e))?;
        let newest = briefs
            .iter()
            .max_by(|a, b| a.created_at.or(a.started_at).unwrap_or(0.0).total_cmp(&b.created_at.or(b.started_at).unwrap_or(0.0)));
        let Some(newest) = newest else {
            return Ok(native::Read { service, ..Default::default() });
        };
        let v = self
            .session
            .call(&ECS, "DescribeServiceDeployments", &json!({"serviceDeploymentArns": [newest.service_deployment_arn]}))
            .await?;
        let found: Vec<ServiceDeployment> =
            serde_json::from_value(v["serviceDeployments"].clone()).map_err(|e| malformed(&ECS, "DescribeServiceDeployments", e))?;
        let deployment = found.into_iter().next();
        let names = deployment.as_ref().and_then(|d| d.alarms.as_ref()).map(|a| a.alarm_names.clone()).unwrap_or_default();
        let (alarms, alarms_unread) = self.alarms(&names).await;
        let rule = service.load_balancers.iter().find_map(|l| l.advanced_configuration.as_ref()?.production_listener_rule.clone());
        let listener = match rule {
            Some(rule) => Some(super::listener::weights(&self.session, &rule).await.map_err(|e| e.to_string())),
            None => None,
        };
        Ok(native::Read { service, deployment, alarms, alarms_unread, listener })
    }
}

pub enum ServiceOrMissing {
    Found(Box<EcsService>),
    Missing(String, String),
}
