//! What ECS, CodeDeploy and CloudWatch answer, as far as a blue/green deployment needs it. Every
//! field is optional on the wire: what AWS leaves out is a default, never a failure.

use serde::Deserialize;

/// AWS's JSON protocols send timestamps as seconds since the epoch, with a fraction.
pub type EpochSeconds = f64;

pub fn timestamp(t: Option<EpochSeconds>) -> Option<jiff::Timestamp> {
    t.and_then(|s| jiff::Timestamp::from_millisecond((s * 1000.0) as i64).ok())
}

/// `ecs:DescribeServices`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsService {
    pub service_name: String,
    pub service_arn: String,
    pub cluster_arn: String,
    pub status: String,
    pub task_definition: Option<String>,
    pub desired_count: i64,
    pub running_count: i64,
    pub deployment_controller: Option<DeploymentController>,
    pub deployment_configuration: Option<EcsDeploymentConfiguration>,
    pub task_sets: Vec<TaskSet>,
    pub deployments: Vec<EcsDeployment>,
    pub load_balancers: Vec<LoadBalancer>,
}

/// A load balancer of the service; ECS's own blue/green names the production listener rule whose
/// weights it moves.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancer {
    pub target_group_arn: Option<String>,
    pub advanced_configuration: Option<AdvancedConfiguration>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AdvancedConfiguration {
    pub alternate_target_group_arn: Option<String>,
    pub production_listener_rule: Option<String>,
    pub test_listener_rule: Option<String>,
}

impl EcsService {
    /// `CODE_DEPLOY`, `ECS` (also ECS's own blue/green) or `EXTERNAL`.
    pub fn controller(&self) -> &str {
        self.deployment_controller.as_ref().map(|c| c.kind.as_str()).unwrap_or("ECS")
    }

    /// ECS's own strategy (`ROLLING`, `BLUE_GREEN`, `LINEAR`, `CANARY`).
    pub fn strategy(&self) -> &str {
        self.deployment_configuration.as_ref().and_then(|c| c.strategy.as_deref()).unwrap_or("ROLLING")
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentController {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsDeploymentConfiguration {
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i64>,
    pub canary_configuration: Option<CanaryConfiguration>,
    pub linear_configuration: Option<LinearConfiguration>,
    pub lifecycle_hooks: Vec<LifecycleHook>,
    pub alarms: Option<DeploymentAlarms>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryConfiguration {
    pub canary_percent: Option<f64>,
    pub canary_bake_time_in_minutes: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LinearConfiguration {
    pub step_percent: Option<f64>,
    pub step_bake_time_in_minutes: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LifecycleHook {
    pub target_type: Option<String>,
    pub lifecycle_stages: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentAlarms {
    pub alarm_names: Vec<String>,
    pub enable: bool,
    pub rollback: bool,
}

/// A task set of a CodeDeploy-controlled service: the original (PRIMARY) and the replacement.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskSet {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    /// The CodeDeploy deployment that made it.
    pub external_id: Option<String>,
    pub running_count: i64,
    pub computed_desired_count: i64,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub created_at: Option<EpochSeconds>,
    /// The target group it serves from.
    pub load_balancers: Vec<LoadBalancer>,
}

/// A deployment of an ECS-controlled service (PRIMARY is the newest).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsDeployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub running_count: i64,
    pub desired_count: i64,
    pub rollout_state: Option<String>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub created_at: Option<EpochSeconds>,
}

/// `ecs:DescribeServiceDeployments`: one deployment of ECS's own blue/green, linear or canary.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDeployment {
    pub service_deployment_arn: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub lifecycle_stage: Option<String>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub created_at: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub started_at: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub finished_at: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub stopped_at: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub updated_at: Option<EpochSeconds>,
    pub source_service_revisions: Vec<RevisionSummary>,
    pub target_service_revision: Option<RevisionSummary>,
    pub lifecycle_hook_details: Vec<HookDetail>,
    pub deployment_configuration: Option<EcsDeploymentConfiguration>,
    pub rollback: Option<Rollback>,
    pub alarms: Option<ServiceDeploymentAlarms>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RevisionSummary {
    pub arn: String,
    pub requested_task_count: i64,
    pub running_task_count: i64,
    pub requested_production_traffic_weight: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct HookDetail {
    pub hook_id: Option<String>,
    pub target_type: Option<String>,
    pub status: Option<String>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub expires_at: Option<EpochSeconds>,
    pub timeout_action: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Rollback {
    pub reason: Option<String>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub started_at: Option<EpochSeconds>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDeploymentAlarms {
    pub status: Option<String>,
    pub alarm_names: Vec<String>,
    pub triggered_alarm_names: Vec<String>,
}

/// `codedeploy:BatchGetDeployments`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CdDeployment {
    pub deployment_id: String,
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_config_name: Option<String>,
    pub status: String,
    pub error_information: Option<ErrorInformation>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub create_time: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub start_time: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub complete_time: Option<EpochSeconds>,
    pub creator: Option<String>,
    pub description: Option<String>,
    pub rollback_info: Option<RollbackInfo>,
    pub blue_green_deployment_configuration: Option<BlueGreenConfiguration>,
    pub instance_termination_wait_time_started: bool,
    pub auto_rollback_configuration: Option<AutoRollback>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorInformation {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RollbackInfo {
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub rollback_message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BlueGreenConfiguration {
    pub terminate_blue_instances_on_deployment_success: Option<TerminateBlue>,
    pub deployment_ready_option: Option<ReadyOption>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TerminateBlue {
    pub action: Option<String>,
    pub termination_wait_time_in_minutes: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadyOption {
    /// `CONTINUE_DEPLOYMENT` (reroute at once) or `STOP_DEPLOYMENT` (wait for a person).
    pub action_on_timeout: Option<String>,
    pub wait_time_in_minutes: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AutoRollback {
    pub enabled: bool,
    pub events: Vec<String>,
}

/// `codedeploy:BatchGetDeploymentTargets`, an ECS target.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EcsTarget {
    pub target_id: String,
    pub status: String,
    pub lifecycle_events: Vec<LifecycleEvent>,
    pub task_sets_info: Vec<TargetTaskSet>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LifecycleEvent {
    pub lifecycle_event_name: String,
    pub status: String,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub start_time: Option<EpochSeconds>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub end_time: Option<EpochSeconds>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetTaskSet {
    pub identifer: Option<String>,
    pub desired_count: i64,
    pub running_count: i64,
    pub status: Option<String>,
    pub traffic_weight: Option<f64>,
    /// `BLUE` (the original) or `GREEN` (the replacement).
    pub task_set_label: Option<String>,
}

/// `codedeploy:GetDeploymentGroup`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentGroup {
    pub deployment_config_name: Option<String>,
    pub load_balancer_info: Option<LoadBalancerInfo>,
    pub alarm_configuration: Option<AlarmConfiguration>,
    pub auto_rollback_configuration: Option<AutoRollback>,
    pub blue_green_deployment_configuration: Option<BlueGreenConfiguration>,
}

/// The listeners production and test traffic come through.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerInfo {
    pub target_group_pair_info_list: Vec<TargetGroupPair>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetGroupPair {
    pub prod_traffic_route: Option<TrafficRoute>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TrafficRoute {
    pub listener_arns: Vec<String>,
}

impl DeploymentGroup {
    /// The production listener's load balancer, as CloudWatch names it (`app/NAME/ID`).
    pub fn load_balancer(&self) -> Option<String> {
        let listener = self
            .load_balancer_info
            .as_ref()?
            .target_group_pair_info_list
            .iter()
            .find_map(|p| p.prod_traffic_route.as_ref()?.listener_arns.first())?;
        load_balancer_dimension(listener)
    }
}

/// `arn:aws:elasticloadbalancing:…:listener/app/NAME/ID/LISTENER` (or a listener rule's ARN) →
/// `app/NAME/ID`, the load balancer's CloudWatch dimension.
pub fn load_balancer_dimension(arn: &str) -> Option<String> {
    let resource = arn.rsplit_once(':')?.1;
    let rest = resource.strip_prefix("listener/").or_else(|| resource.strip_prefix("listener-rule/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    (parts.len() >= 3).then(|| parts[..3].join("/"))
}

/// `arn:aws:elasticloadbalancing:…:targetgroup/NAME/ID` → `targetgroup/NAME/ID`, the target
/// group's CloudWatch dimension.
pub fn target_group_dimension(arn: &str) -> Option<String> {
    let resource = arn.rsplit_once(':')?.1;
    resource.starts_with("targetgroup/").then(|| resource.to_string())
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AlarmConfiguration {
    pub enabled: bool,
    pub alarms: Vec<AlarmName>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AlarmName {
    pub name: String,
}

/// `codedeploy:GetDeploymentConfig`: how traffic moves.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TrafficRouting {
    /// `AllAtOnce`, `TimeBasedCanary` or `TimeBasedLinear`.
    #[serde(rename = "type")]
    pub kind: String,
    pub time_based_canary: Option<TimeBased>,
    pub time_based_linear: Option<TimeBased>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TimeBased {
    #[serde(alias = "canaryPercentage", alias = "linearPercentage")]
    pub percentage: i64,
    #[serde(alias = "canaryInterval", alias = "linearInterval")]
    pub interval: i64,
}

/// `cloudwatch:DescribeAlarms`, a metric or composite alarm.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Alarm {
    pub alarm_name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state_value: String,
    pub state_reason: Option<String>,
    #[serde(deserialize_with = "crate::aws::time::epoch")]
    pub state_updated_timestamp: Option<EpochSeconds>,
}
