//! The parts of GitHub's REST answers flightdeck reads (names as in GitHub's OpenAPI description).

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct User {
    pub login: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Workflow {
    pub id: u64,
    pub name: String,
    /// `.github/workflows/deploy.yml`
    pub path: String,
    pub state: String,
}

impl Workflow {
    /// The file name, as flightdeck names the pipeline (`deploy.yml`).
    pub fn file(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Workflows {
    pub workflows: Vec<Workflow>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Run {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_title: Option<String>,
    #[serde(default)]
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub event: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub workflow_id: u64,
    #[serde(default)]
    pub run_attempt: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub run_started_at: Option<String>,
    #[serde(default)]
    pub actor: Option<User>,
    #[serde(default)]
    pub triggering_actor: Option<User>,
    pub html_url: String,
    /// `.github/workflows/deploy.yml` (with `@ref` for reusable workflows on some servers).
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Runs {
    pub workflow_runs: Vec<Run>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub number: u32,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub run_id: u64,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub run_attempt: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Jobs {
    pub jobs: Vec<Job>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct EnvironmentRef {
    pub id: u64,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Reviewer {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub reviewer: serde_json::Value,
}

impl Reviewer {
    /// `@alice` for a user, `team acme/release` for a team.
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "Team" => format!("team {}", self.reviewer["slug"].as_str().unwrap_or("?")),
            _ => format!("@{}", self.reviewer["login"].as_str().unwrap_or("?")),
        }
    }
}

/// An environment a run waits on.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PendingDeployment {
    pub environment: EnvironmentRef,
    /// Minutes.
    #[serde(default)]
    pub wait_timer: u64,
    #[serde(default)]
    pub wait_timer_started_at: Option<String>,
    #[serde(default)]
    pub current_user_can_approve: bool,
    #[serde(default)]
    pub reviewers: Vec<Reviewer>,
}

/// A review already given on a run's deployment.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Approval {
    pub state: String,
    #[serde(default)]
    pub comment: String,
    pub user: User,
    pub environments: Vec<EnvironmentRef>,
}

/// What `POST …/dispatches` answers when asked for the run's details.
#[derive(Clone, Debug, Deserialize)]
pub struct Dispatched {
    pub workflow_run_id: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    pub size_in_bytes: u64,
    #[serde(default)]
    pub expired: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Artifacts {
    pub artifacts: Vec<Artifact>,
}
