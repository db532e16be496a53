//! What Cloud Deploy answers (v1, as its discovery document describes it), as far as flightdeck
//! needs it. Every field may be missing: what Google leaves out is a default, never a failure.

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeliveryPipeline {
    /// `projects/P/locations/R/deliveryPipelines/NAME`.
    pub name: String,
    pub description: Option<String>,
    pub suspended: bool,
    pub serial_pipeline: SerialPipeline,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SerialPipeline {
    pub stages: Vec<Stage>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Stage {
    pub target_id: String,
    pub profiles: Vec<String>,
    pub strategy: Option<Strategy>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Strategy {
    pub standard: Option<serde_json::Value>,
    pub canary: Option<Canary>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Canary {
    pub canary_deployment: Option<CanaryDeployment>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryDeployment {
    pub percentages: Vec<u8>,
    pub verify: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    /// `projects/P/locations/R/targets/ID`.
    pub name: String,
    pub target_id: String,
    pub description: Option<String>,
    pub require_approval: bool,
    pub gke: Option<serde_json::Value>,
    pub run: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListTargets {
    pub targets: Vec<Target>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Rollout {
    /// `…/deliveryPipelines/PIPE/releases/REL/rollouts/ID`.
    pub name: String,
    pub uid: String,
    pub description: Option<String>,
    pub target_id: String,
    pub create_time: Option<String>,
    pub approve_time: Option<String>,
    pub deploy_start_time: Option<String>,
    pub deploy_end_time: Option<String>,
    /// `NEEDS_APPROVAL`, `DOES_NOT_NEED_APPROVAL`, `APPROVED`, `REJECTED`.
    pub approval_state: Option<String>,
    /// `SUCCEEDED`, `FAILED`, `IN_PROGRESS`, `PENDING_APPROVAL`, `APPROVAL_REJECTED`, `PENDING`,
    /// `PENDING_RELEASE`, `CANCELLING`, `CANCELLED`, `HALTED`.
    pub state: String,
    pub failure_reason: Option<String>,
    pub deploy_failure_cause: Option<String>,
    pub etag: Option<String>,
    pub phases: Vec<Phase>,
    pub rollback_of_rollout: Option<String>,
    pub rolled_back_by_rollouts: Vec<String>,
}

impl Rollout {
    /// The rollout's own id (the last part of its name).
    pub fn id(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }

    /// The release it rolls out (the id in its name).
    pub fn release(&self) -> &str {
        self.name.split("/releases/").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Phase {
    /// `stable`, `canary-25`, …
    pub id: String,
    /// `PENDING`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `ABORTED`, `SKIPPED`.
    pub state: String,
    pub skip_message: Option<String>,
    pub deployment_jobs: Option<DeploymentJobs>,
}

impl Phase {
    /// Its jobs in the order they run.
    pub fn jobs(&self) -> Vec<&Job> {
        let Some(d) = &self.deployment_jobs else { return Vec::new() };
        [&d.predeploy_job, &d.deploy_job, &d.verify_job, &d.analysis_job, &d.postdeploy_job].into_iter().flatten().collect()
    }

    /// The canary percentage of a `canary-N` phase.
    pub fn percent(&self) -> Option<u8> {
        self.id.strip_prefix("canary-").and_then(|n| n.parse().ok())
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentJobs {
    pub predeploy_job: Option<Job>,
    pub deploy_job: Option<Job>,
    pub verify_job: Option<Job>,
    pub analysis_job: Option<Job>,
    pub postdeploy_job: Option<Job>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Job {
    /// `predeploy`, `deploy`, `verify`, `analysis`, `postdeploy`.
    pub id: String,
    /// `PENDING`, `DISABLED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `ABORTED`, `SKIPPED`, `IGNORED`.
    pub state: String,
    pub skip_message: Option<String>,
    /// The latest job run's name.
    pub job_run: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListRollouts {
    pub rollouts: Vec<Rollout>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct JobRun {
    pub name: String,
    pub phase_id: String,
    pub job_id: String,
    pub create_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `TERMINATING`, `TERMINATED`.
    pub state: String,
    pub deploy_job_run: Option<JobRunResult>,
    pub verify_job_run: Option<JobRunResult>,
    pub predeploy_job_run: Option<JobRunResult>,
    pub postdeploy_job_run: Option<JobRunResult>,
}

impl JobRun {
    /// What the run's job said: its failure, its build, its artifacts.
    pub fn result(&self) -> Option<&JobRunResult> {
        self.verify_job_run
            .as_ref()
            .or(self.deploy_job_run.as_ref())
            .or(self.predeploy_job_run.as_ref())
            .or(self.postdeploy_job_run.as_ref())
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct JobRunResult {
    pub build: Option<String>,
    pub failure_cause: Option<String>,
    pub failure_message: Option<String>,
    pub artifact_uri: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ListJobRuns {
    pub job_runs: Vec<JobRun>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Release {
    pub name: String,
    pub description: Option<String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub build_artifacts: Vec<BuildArtifact>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildArtifact {
    pub image: String,
    pub tag: String,
}
