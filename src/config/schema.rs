//! The configuration file as written, before validation. Unknown keys are errors everywhere.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub general: RawGeneral,
    #[serde(default)]
    pub runner: RawRunner,
    #[serde(default)]
    pub logs: RawLogs,
    #[serde(default)]
    pub ui: RawUi,
    #[serde(default)]
    pub findings: RawFindings,
    #[serde(default)]
    pub audit: RawAudit,
    /// Prometheus-compatible sources by name.
    #[serde(default)]
    pub prometheus: BTreeMap<String, Spanned<RawPrometheus>>,
    /// CloudWatch sources by name.
    #[serde(default)]
    pub cloudwatch: BTreeMap<String, Spanned<super::cloudwatch::RawCloudWatch>>,
    /// Services whose canaries are analysed.
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<RawService>>,
    /// Canaries behind NGINX weighted upstreams.
    #[serde(default)]
    pub rollouts: BTreeMap<String, Spanned<RawRollout>>,
    /// Argo Rollouts over the Kubernetes API.
    #[serde(default)]
    pub kubernetes: Option<Spanned<RawKubernetes>>,
    /// Argo CD Applications.
    pub argocd: Option<Spanned<super::RawArgoCd>>,
    /// ECS services deployed blue/green (by CodeDeploy or by ECS itself).
    pub ecs: Option<Spanned<super::RawEcs>>,
    /// Cloud Deploy delivery pipelines (their targets' rollouts).
    pub clouddeploy: Option<Spanned<super::RawCloudDeploy>>,
    /// `command = "key"`, `command = ["k1", "k2"]`, or `command = []` to unbind.
    #[serde(default)]
    pub keys: BTreeMap<String, Spanned<KeySpec>>,
    #[serde(default)]
    pub environments: BTreeMap<String, RawEnvironment>,
    /// Named groups of users, used as `group:NAME` in approvers.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Operating-system account → the name shown for it.
    #[serde(default)]
    pub people: BTreeMap<String, String>,
    #[serde(default)]
    pub supervisor: RawSupervisor,
    /// CI systems besides the local runner.
    #[serde(default)]
    pub ci: RawCi,
    /// Where people are told what happened.
    #[serde(default)]
    pub notify: BTreeMap<String, Spanned<super::notify::RawSink>>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, Spanned<RawPipeline>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetes {
    /// Path of the kubeconfig (default: `KUBECONFIG`, then ~/.kube/config).
    pub kubeconfig: Option<String>,
    /// Context to start in (default: the kubeconfig's current context).
    pub context: Option<String>,
    /// Namespace to show (default: all namespaces).
    pub namespace: Option<String>,
    /// Context name → environment (for policy).
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    /// `NAMESPACE/NAME` of a rollout → the analysed service (`[services.NAME]`) that judges it.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// Record a Kubernetes Event on the rollout for every action (default true).
    pub record_events: Option<bool>,
    /// Deadline of every API call (default 10s).
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    One(String),
    Many(Vec<String>),
    /// A dotted name written bare (`log.first_error = "E"`), which TOML reads as a table.
    Group(BTreeMap<String, KeySpec>),
}

impl KeySpec {
    /// Every binding under this entry, by its full dotted command name; a group's bindings are
    /// located at the group (spans do not survive the untagged match).
    pub fn flatten(name: &str, spec: &KeySpec, span: std::ops::Range<usize>, out: &mut Vec<(String, std::ops::Range<usize>, Vec<String>)>) {
        match spec {
            KeySpec::One(k) => out.push((name.to_string(), span, vec![k.clone()])),
            KeySpec::Many(v) => out.push((name.to_string(), span, v.clone())),
            KeySpec::Group(inner) => {
                for (k, v) in inner {
                    KeySpec::flatten(&format!("{name}.{k}"), v, span.clone(), out);
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneral {
    /// No longer accepted: who acts is the operating-system account (read to say so).
    pub actor: Option<Spanned<String>>,
    /// Pipeline that `r` triggers when no run is selected.
    pub default_pipeline: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCi {
    #[serde(default)]
    pub github: BTreeMap<String, Spanned<RawGithub>>,
    #[serde(default)]
    pub codepipeline: BTreeMap<String, Spanned<RawCodePipeline>>,
    #[serde(default)]
    pub cloudbuild: BTreeMap<String, Spanned<super::cloudbuild::RawCloudBuild>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCodePipeline {
    pub region: Option<String>,
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// A profile of the shared AWS config and credentials files.
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Stage (or `stage/action`) → flightdeck environment, for the policy of an approval.
    #[serde(default)]
    pub gate_environments: BTreeMap<String, String>,
    /// ECR repositories whose image of the run (its scan findings) is evidence.
    #[serde(default)]
    pub ecr_repositories: Vec<String>,
    /// CodeBuild artifacts (`primary`, or a secondary artifact's identifier) holding scan reports.
    #[serde(default)]
    pub report_artifacts: Vec<String>,
    pub active_poll: Option<String>,
    pub idle_poll: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGithub {
    pub repo: Option<String>,
    #[serde(default)]
    pub repos: Vec<String>,
    pub api_url: Option<String>,
    #[serde(default)]
    pub workflows: Vec<String>,
    /// Workflow file (or `*`) → names of artifacts holding scan reports.
    #[serde(default)]
    pub report_artifacts: BTreeMap<String, Vec<String>>,
    pub active_poll: Option<String>,
    pub idle_poll: Option<String>,
}

/// A supervisor shared by several accounts on one host.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSupervisor {
    /// The socket other accounts connect to (`flightdeck --connect PATH`).
    pub share_socket: Option<Spanned<String>>,
    /// Accounts, or `group:NAME` (configured or operating-system groups), who may use it.
    #[serde(default)]
    pub share_with: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunner {
    pub max_parallel_jobs: Option<Spanned<usize>>,
    /// Time between SIGTERM and SIGKILL when a job is cancelled or times out.
    pub kill_grace: Option<Spanned<String>>,
    /// Default timeout of a job when its stage sets none.
    pub default_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub max_lines: Option<Spanned<usize>>,
    pub max_bytes: Option<Spanned<ByteSize>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ByteSize {
    Number(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUi {
    pub theme: Option<Spanned<String>>,
    #[serde(default)]
    pub wrap: bool,
    #[serde(default)]
    pub timestamps: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    #[serde(default)]
    pub description: String,
    /// Production environments get the strongest confirmations and the `env-prod` colour.
    #[serde(default)]
    pub production: bool,
    /// Refuse every change that touches this environment.
    #[serde(default)]
    pub read_only: bool,
    /// The actor who triggered a run may not approve its gates (default: on for production).
    pub four_eyes: Option<bool>,
    /// Who may approve gates here: user names, or `group:NAME` from [groups]. Empty: anyone.
    #[serde(default)]
    pub approvers: Vec<Spanned<String>>,
    /// Whether a change freeze can be overridden by break-glass (default: yes).
    pub break_glass: Option<bool>,
    /// Confirmation tier per action kind: none, yes-no, dialog, typed.
    #[serde(default)]
    pub confirm: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub freeze: Vec<Spanned<RawFreeze>>,
    /// The release gate for this environment (`[environments.NAME.release]` is the same table).
    #[serde(alias = "release")]
    pub security: Option<RawSecurity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    /// The most severe unaccepted finding allowed: critical, high, medium, low, or info/none
    /// (nothing above INFO). Default: medium for production (no HIGH/CRITICAL), no gate elsewhere.
    pub max_severity: Option<Spanned<String>>,
    /// Only findings with a fix available block.
    #[serde(default)]
    pub fixable_only: bool,
    /// Whether break-glass may override a failed gate (default: false).
    #[serde(default)]
    pub break_glass: bool,
    /// The most severe licence finding allowed (Trivy's licence scan): critical, high, medium,
    /// low. Default: licences are shown, never judged.
    #[serde(alias = "max_license_severity")]
    pub max_licence_severity: Option<Spanned<String>>,
    /// `"pass"`: no failing test — the run's test results (JUnit XML among its reports) must
    /// exist and show no failure or error. Default: tests are shown, not judged.
    pub tests: Option<Spanned<String>>,
    /// The least line coverage allowed, in percent (`80`), over the run's coverage reports
    /// (Cobertura XML, LCOV). Default: coverage is shown, not judged.
    pub min_coverage: Option<Spanned<f64>>,
    /// The least coverage of the lines the change added, in percent, over the run's coverage
    /// reports (`[findings] diff_base` says what the change is compared with); unknown fails it.
    pub min_changed_coverage: Option<Spanned<f64>>,
    /// `"pass"`: load tests pass — the run's load test reports (k6 summary JSON, Locust stats)
    /// must exist, every k6 threshold must have passed, and each must meet the `load_*` limits.
    pub load: Option<Spanned<String>>,
    /// The slowest 95th percentile response time allowed, in milliseconds.
    pub load_max_p95_ms: Option<Spanned<f64>>,
    /// The most requests allowed to fail, in percent (`1`). With no `load_*` limit set, a
    /// Locust test (which has no thresholds of its own) passes only when none failed.
    pub load_max_failed_percent: Option<Spanned<f64>>,
    /// The least request rate allowed, in requests per second.
    pub load_min_rps: Option<Spanned<f64>>,
    /// The riskiest dynamic-scan (ZAP) alert allowed through: high, medium, low, info. Default:
    /// ZAP alerts are judged by `max_severity` like any finding.
    pub max_dast_risk: Option<Spanned<String>>,
    /// `"pass"`: SonarQube's quality gate must be OK for the analysed revision — the scanner's
    /// `report-task.txt` among the run's reports, read from the server with `SONAR_TOKEN`. An
    /// analysis the server could not be asked about fails the rule closed.
    pub quality_gate: Option<Spanned<String>>,
    /// The image being promoted must carry a cosign signature by this public key (cosign's PEM,
    /// ECDSA P-256; a path relative to the config file). The image is the one the build's
    /// metadata (`docker buildx build --metadata-file`) names among a stage's reports.
    pub signed_by: Option<Spanned<String>>,
    /// With `signed_by`: a CycloneDX SBOM attestation signed by the same key must exist for the
    /// image, with the components of the SBOM the pipeline produced (where it produced one).
    #[serde(default)]
    pub sbom_attested: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFindings {
    /// Risk acceptances file, relative to the config file (default risk-acceptances.toml).
    pub acceptances: Option<String>,
    /// Larger reports are refused (and fail the gate).
    pub max_report_size: Option<Spanned<ByteSize>>,
    /// What a run's changes are compared with (a git revision: `origin/main`): coverage reports
    /// then also say how much of the added lines the tests ran. Default: not judged.
    pub diff_base: Option<String>,
}

/// Where the journal's checkpoints are witnessed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// An append-only file of checkpoints, relative to the config file.
    pub witness: Option<String>,
    /// A key file that signs every checkpoint, relative to the config file.
    pub signing_key: Option<String>,
    /// Send every checkpoint to the system log too (default true).
    pub syslog: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFreeze {
    #[serde(default)]
    pub reason: String,
    /// IANA time zone of the times below (default UTC).
    pub timezone: Option<String>,
    /// Weekly window: days (mon … sun) with `from`/`to` local times (HH:MM); `to` before `from`
    /// runs past midnight.
    #[serde(default)]
    pub days: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Explicit window: `start`/`end` as dates (whole days) or local date-times.
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    #[serde(default)]
    pub description: String,
    /// The environment a run of this pipeline belongs to for policy (default: every environment
    /// its stages target).
    pub environment: Option<Spanned<String>>,
    /// Working directory of every stage, relative to the configuration file.
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub stages: Vec<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub name: Spanned<String>,
    pub run: Option<Spanned<String>>,
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    pub matrix: Option<Spanned<BTreeMap<String, Vec<String>>>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub allow_failure: bool,
    #[serde(default)]
    pub reports: Vec<String>,
    /// The reports may be older than the stage (it copies them from elsewhere); by default a
    /// report written before the stage started is a leftover and fails the gate.
    #[serde(default)]
    pub reports_may_predate: bool,
    pub environment: Option<Spanned<String>>,
    pub gate: Option<Spanned<RawGate>>,
    /// Hand over to an Argo Rollout (`NAMESPACE/NAME`): the stage follows it until it is Healthy
    /// on the new revision, and fails when it is aborted or degraded.
    pub rollout: Option<Spanned<String>>,
    /// With `rollout`: the image to deploy first (`IMAGE`, or `CONTAINER=IMAGE`).
    pub image: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawGate {
    Flag(bool),
    Table(RawGateTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateTable {
    /// How long the gate waits before failing the run, e.g. `24h`.
    pub timeout: Option<String>,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    pub url: String,
    pub timeout: Option<String>,
    /// Bearer token from an environment variable or a file (never written in the config).
    pub bearer_token_env: Option<String>,
    pub bearer_token_file: Option<String>,
    pub basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub ca_file: Option<String>,
    #[serde(default)]
    pub insecure: bool,
    /// Answers larger than this many bytes are refused (default 32 MiB).
    pub max_response_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: String,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// Which [prometheus.NAME] to ask (default: the only one).
    pub prometheus: Option<Spanned<String>>,
    /// Or which [cloudwatch.NAME].
    pub cloudwatch: Option<Spanned<String>>,
    #[serde(default)]
    pub namespace: String,
    /// Label matchers selecting the canary and the stable version (Prometheus), or dimensions
    /// `Name=Value,…` (CloudWatch; left out, an ECS deployment's target groups give them).
    #[serde(default)]
    pub canary: String,
    #[serde(default)]
    pub stable: String,
    /// Rate window used in queries (`{window}`), default 1m.
    pub window: Option<String>,
    /// Query counting the canary's requests in the rate window ending at each measurement
    /// (`{selector}`, `{window}` …); `min_requests` is compared with it.
    pub requests_query: Option<String>,
    #[serde(default)]
    pub analysis: RawAnalysis,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnalysis {
    pub interval: Option<String>,
    pub count: Option<usize>,
    pub failure_limit: Option<usize>,
    pub inconclusive_limit: Option<usize>,
    pub min_requests: Option<f64>,
    /// Significance level of the Mann-Whitney judge; 0 turns it off (default 0.05).
    pub mann_whitney_alpha: Option<f64>,
    /// How long after the start of an analysis its first interval is judged (default 0s).
    pub initial_delay: Option<String>,
    /// Analyses in a row that could not be taken before the verdict is Error (default 4).
    pub consecutive_error_limit: Option<usize>,
    /// The canary score (0–100, weights of passing metrics): at least `pass_score` passes
    /// (default 95), below `marginal_score` fails (default 75), between asks a human.
    pub pass_score: Option<f64>,
    pub marginal_score: Option<f64>,
    /// Alerts: firing alerts whose labels match fail the analysis when `alerts_gate` is true.
    #[serde(default)]
    pub alerts: BTreeMap<String, String>,
    #[serde(default)]
    pub alerts_gate: bool,
    #[serde(default)]
    pub metrics: Vec<RawMetric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    pub name: String,
    /// A built-in (latency_p50, latency_p95, latency_p99, error_ratio, request_rate) or PromQL
    /// with {selector}, {window}, {service}, {namespace}.
    pub query: String,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub max_ratio: Option<f64>,
    pub higher_is_worse: Option<bool>,
    pub unit: Option<String>,
    /// Share of the canary score (default 1).
    pub weight: Option<f64>,
    /// A failure of this metric fails the analysis whatever the score.
    #[serde(default)]
    pub critical: bool,
    /// Measured and shown, never part of the verdict (a metric being tried out, or muted).
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    /// Environment whose policy governs this rollout's actions.
    pub environment: Option<String>,
    /// The `[services.NAME]` whose analysis judges the canary (default: the rollout's name, if any).
    pub service: Option<String>,
    pub steps: Vec<Spanned<RawStep>>,
    /// `abort` (default) or `pause` when the analysis fails.
    pub on_failure: Option<String>,
    #[serde(default)]
    pub background_analysis: bool,
    pub nginx: RawNginx,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub set_weight: Option<u8>,
    pub pause: Option<RawTimed>,
    pub analysis: Option<RawTimed>,
}

/// `{}` (indefinite) or `{ duration = "30s" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimed {
    pub duration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNginx {
    /// The include file flightdeck owns (holding only the upstream block).
    pub include: String,
    pub upstream: String,
    pub stable: Vec<String>,
    pub canary: Vec<String>,
    /// NGINX's main configuration file, passed as `-c` to validate and reload.
    pub conf: Option<String>,
    /// The nginx binary (default: `nginx` from PATH, /usr/sbin or /sbin).
    pub binary: Option<String>,
    /// The master's pid file, to watch old workers drain (default: the `pid` directive of `conf`).
    pub pid_file: Option<String>,
    pub validate: Option<Vec<String>>,
    pub reload: Option<Vec<String>>,
}
