//! Loading and validating the configuration. Every problem is reported with file, line and key;
//! nothing is silently ignored.

mod argocd;
mod ci;
mod cloudbuild;
mod clouddeploy;
mod cloudwatch;
mod delivery;
mod diagnostics;
mod ecs;
mod notify;
mod pipelines;
mod policy;
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use argocd::{ArgoCdSettings, RawArgoCd};
pub use ci::{CodePipelineSettings, GITHUB_API, GithubSettings};
pub use cloudbuild::CloudBuildSettings;
pub use clouddeploy::{CloudDeploySettings, RawCloudDeploy};
use delivery::{build_metrics, build_rollouts};
use diagnostics::Reporter;
pub use diagnostics::{ConfigError, Diagnostic};
pub use ecs::{EcsSettings, RawEcs};
pub use notify::{EVENTS as NOTIFY_EVENTS, EmailSettings, SinkKind, SinkSettings, SmtpTls, event_matches};
use pipelines::validate_pipeline;
use policy::build_policy;
use schema::{ByteSize, RawConfig, RawGate, RawPipeline};

use crate::keymap::Keymap;
use crate::policy::{ActionKind, EnvPolicy, Freeze, FreezeWindow, Policy, Tier};
use crate::theme::ThemeSpec;
use crate::util::{parse_bytes, parse_duration};

pub const EXAMPLE_CONFIG: &str = include_str!("../../config.example.toml");

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from (None: built-in defaults).
    pub path: Option<PathBuf>,
    /// Directory relative paths are resolved against (the file's directory).
    pub base_dir: PathBuf,
    /// Operating-system account → display name.
    pub people: BTreeMap<String, String>,
    /// Whether, and with whom, the supervisor is shared.
    pub sharing: Option<SharingSettings>,
    pub default_pipeline: Option<String>,
    pub runner: RunnerSettings,
    pub logs: LogSettings,
    pub ui: UiSettings,
    pub theme: ThemeSpec,
    pub keymap: Keymap,
    pub environments: BTreeMap<String, Environment>,
    pub pipelines: BTreeMap<String, Pipeline>,
    /// Rules per environment (read-only from the command line is applied by the caller).
    pub policy: Policy,
    pub findings: FindingsSettings,
    /// Where the journal's checkpoints are witnessed.
    pub audit: crate::audit::WitnessSettings,
    pub prometheus: BTreeMap<String, crate::metrics::Source>,
    pub cloudwatch: BTreeMap<String, crate::metrics::cloudwatch::CloudWatch>,
    pub services: BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
    pub rollouts: BTreeMap<String, crate::rollout::RolloutSpec>,
    pub kubernetes: Option<KubernetesSettings>,
    /// GitHub Actions, per `[ci.github.NAME]`.
    pub github: Vec<GithubSettings>,
    /// AWS CodePipeline, per `[ci.codepipeline.NAME]`.
    pub codepipeline: Vec<CodePipelineSettings>,
    /// Google Cloud Build, per `[ci.cloudbuild.NAME]`.
    pub cloudbuild: Vec<CloudBuildSettings>,
    /// Where notifications go, per `[notify.NAME]`.
    pub notify: Vec<SinkSettings>,
    /// Argo CD Applications, when `[argocd]` is there.
    pub argocd: Option<ArgoCdSettings>,
    /// ECS blue/green deployments, when `[ecs]` is there.
    pub ecs: Option<EcsSettings>,
    /// Cloud Deploy delivery pipelines, when `[clouddeploy]` is there.
    pub clouddeploy: Option<CloudDeploySettings>,
}

/// A supervisor shared by several accounts: where they connect, and who may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharingSettings {
    pub socket: PathBuf,
    pub with: Vec<String>,
}

/// Where Argo Rollouts are, and how flightdeck acts on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// Context → environment, for policy.
    pub environments: BTreeMap<String, String>,
    /// `NAMESPACE/NAME` → analysed service.
    pub services: BTreeMap<String, String>,
    pub record_events: bool,
    pub timeout: std::time::Duration,
}

impl Default for KubernetesSettings {
    /// The kubeconfig's own choices, Events recorded, a 10 s deadline.
    fn default() -> Self {
        KubernetesSettings {
            kubeconfig: None,
            context: None,
            namespace: None,
            environments: BTreeMap::new(),
            services: BTreeMap::new(),
            record_events: true,
            timeout: Duration::from_secs(10),
        }
    }
}

impl KubernetesSettings {
    /// The environment a context maps to (policy applies per environment).
    pub fn environment(&self, context: &str) -> Option<&str> {
        self.environments.get(context).map(String::as_str)
    }
}

#[derive(Clone, Debug)]
pub struct FindingsSettings {
    pub acceptances: PathBuf,
    pub max_report_bytes: u64,
    /// What a run's changes are compared with for changed-lines coverage (`origin/main`).
    pub diff_base: Option<String>,
}

#[derive(Clone, Debug)]
pub struct RunnerSettings {
    pub max_parallel_jobs: usize,
    pub kill_grace: Duration,
    pub default_timeout: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
pub struct LogSettings {
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { max_lines: 200_000, max_bytes: 64 * 1024 * 1024 }
    }
}

#[derive(Clone, Debug, Default)]
pub struct UiSettings {
    pub theme: String,
    pub wrap: bool,
    pub timestamps: bool,
}

#[derive(Clone, Debug)]
pub struct Environment {
    pub name: String,
    pub description: String,
    pub production: bool,
}

#[derive(Clone, Debug)]
pub struct Pipeline {
    pub name: String,
    pub description: String,
    /// Environments a run touches, for policy: the explicit one, else every stage's.
    pub environments: Vec<String>,
    /// Stages in a valid execution order (dependencies first).
    pub stages: Vec<Stage>,
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub name: String,
    pub run: Option<String>,
    pub needs: Vec<String>,
    pub matrix: BTreeMap<String, Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub allow_failure: bool,
    pub reports: Vec<String>,
    /// Reports older than the stage are accepted (see the schema).
    pub reports_may_predate: bool,
    pub environment: Option<String>,
    pub gate: Option<Gate>,
}

#[derive(Clone, Debug)]
pub struct Gate {
    pub timeout: Option<Duration>,
    pub message: String,
}

/// Where configuration and themes are looked up.
#[derive(Clone, Debug)]
pub struct Locations {
    pub config_file: Option<PathBuf>,
    /// User config directory (themes/ overrides live here).
    pub config_dir: Option<PathBuf>,
}

impl Locations {
    /// `--config FILE`, then `$FLIGHTDECK_CONFIG`, then the project's `flightdeck.toml` (see
    /// `project_config`), then the user config dir's `config.toml` if it exists.
    pub fn discover(explicit: Option<&Path>) -> Locations {
        let config_dir = directories::ProjectDirs::from("dev", "flightdeck", "flightdeck").map(|d| d.config_dir().to_path_buf());
        let config_file = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("FLIGHTDECK_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(|| std::env::current_dir().ok().and_then(|cwd| project_config(&cwd)))
            .or_else(|| config_dir.as_ref().map(|d| d.join("config.toml")).filter(|p| p.exists()));
        Locations { config_file, config_dir }
    }

    /// Where `discover` looks, in order, for messages that say so.
    pub fn searched(&self) -> String {
        let user = self
            .config_dir
            .as_ref()
            .map(|d| d.join("config.toml").display().to_string())
            .unwrap_or_else(|| "the user config directory".into());
        format!("--config, $FLIGHTDECK_CONFIG, ./flightdeck.toml up to the git root, {user}")
    }
}

/// The project's configuration, as other project tools find theirs: `flightdeck.toml` in `start`
/// or a directory above it, up to the root of the git work tree it is in. Outside a git work tree
/// only `start` itself is looked at.
pub fn project_config(start: &Path) -> Option<PathBuf> {
    let git_root = start.ancestors().find(|d| d.join(".git").exists());
    let searched: Vec<&Path> = match git_root {
        Some(root) => start.ancestors().take_while(|d| *d != root).chain(std::iter::once(root)).collect(),
        None => vec![start],
    };
    searched.into_iter().map(|d| d.join("flightdeck.toml")).find(|p| p.is_file())
}

impl Config {
    /// Loads the configuration from the discovered location, or the built-in defaults when there is none.
    pub fn load(loc: &Locations) -> anyhow::Result<Config> {
        match &loc.config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read the configuration file {}: {e}", path.display()))?;
                Ok(Config::parse(&text, Some(path), loc.config_dir.as_deref())?)
            }
            None => Ok(Config::parse("", None, loc.config_dir.as_deref())?),
        }
    }

    /// Parses and validates configuration text. `path` names the file in diagnostics and anchors
    /// relative paths.
    pub fn parse(text: &str, path: Option<&Path>, config_dir: Option<&Path>) -> Result<Config, ConfigError> {
        let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "<defaults>".into());
        let mut rep = Reporter::new(&file, text);
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                rep.toml_error(&e);
                return Err(rep.finish().unwrap_err());
            }
        };
        let base_dir = path
            .and_then(Path::parent)
            .map(|p| if p.as_os_str().is_empty() { PathBuf::from(".") } else { p.to_path_buf() })
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = std::fs::canonicalize(&base_dir).unwrap_or(base_dir);

        let mut environments = BTreeMap::new();
        for (name, env) in &raw.environments {
            environments
                .insert(name.clone(), Environment { name: name.clone(), description: env.description.clone(), production: env.production });
        }

        let mut pipelines = BTreeMap::new();
        for (name, p) in &raw.pipelines {
            if let Some(pipeline) = validate_pipeline(&mut rep, name, p, &base_dir, &environments) {
                pipelines.insert(name.clone(), pipeline);
            }
        }

        let default_pipeline = raw.general.default_pipeline.as_ref().map(|d| {
            if !pipelines.contains_key(d.get_ref()) && !raw.pipelines.contains_key(d.get_ref()) {
                rep.error(Some(d.span()), "general.default_pipeline", format!("no pipeline named `{}` is declared", d.get_ref()));
            }
            d.get_ref().clone()
        });

        let runner = RunnerSettings {
            max_parallel_jobs: match &raw.runner.max_parallel_jobs {
                Some(n) if *n.get_ref() == 0 => {
                    rep.error(Some(n.span()), "runner.max_parallel_jobs", "must be at least 1");
                    1
                }
                Some(n) => *n.get_ref(),
                None => std::thread::available_parallelism().map(|n| n.get().max(2)).unwrap_or(4),
            },
            kill_grace: duration_field(&mut rep, raw.runner.kill_grace.as_ref(), "runner.kill_grace").unwrap_or(Duration::from_secs(5)),
            default_timeout: duration_field(&mut rep, raw.runner.default_timeout.as_ref(), "runner.default_timeout"),
        };

        let mut logs = LogSettings::default();
        if let Some(n) = &raw.logs.max_lines {
            if *n.get_ref() < 100 {
                rep.error(Some(n.span()), "logs.max_lines", "must be at least 100");
            } else {
                logs.max_lines = *n.get_ref();
            }
        }
        if let Some(b) = &raw.logs.max_bytes {
            let parsed = match b.get_ref() {
                ByteSize::Number(n) => Ok(*n),
                ByteSize::Text(t) => parse_bytes(t),
            };
            match parsed {
                Ok(n) if n >= 64 * 1024 => logs.max_bytes = n as usize,
                Ok(_) => rep.error(Some(b.span()), "logs.max_bytes", "must be at least 64KiB"),
                Err(e) => rep.error(Some(b.span()), "logs.max_bytes", e),
            }
        }

        let theme_name = raw.ui.theme.as_ref().map(|t| t.get_ref().clone()).unwrap_or_else(|| "dark".into());
        let theme = match ThemeSpec::load(&theme_name, config_dir) {
            Ok(t) => t,
            Err(e) => {
                rep.error(raw.ui.theme.as_ref().map(|t| t.span()), "ui.theme", e);
                ThemeSpec::builtin("dark").unwrap_or_default()
            }
        };

        let mut flat = Vec::new();
        for (name, spec) in &raw.keys {
            schema::KeySpec::flatten(name, spec.get_ref(), spec.span(), &mut flat);
        }
        let overrides: BTreeMap<String, (std::ops::Range<usize>, Vec<String>)> =
            flat.into_iter().map(|(name, span, keys)| (name, (span, keys))).collect();
        let keymap = match Keymap::with_overrides(&overrides) {
            Ok(k) => k,
            Err(problems) => {
                for p in problems {
                    rep.error(p.span, format!("keys.{}", p.command), p.message);
                }
                Keymap::default()
            }
        };

        let policy = build_policy(&mut rep, &raw, &base_dir);
        let mut findings = FindingsSettings {
            acceptances: base_dir.join(raw.findings.acceptances.as_deref().unwrap_or("risk-acceptances.toml")),
            max_report_bytes: crate::findings::DEFAULT_MAX_REPORT_BYTES,
            diff_base: raw.findings.diff_base.clone(),
        };
        if let Some(m) = &raw.findings.max_report_size {
            match m.get_ref() {
                ByteSize::Number(n) => findings.max_report_bytes = *n,
                ByteSize::Text(t) => match parse_bytes(t) {
                    Ok(n) => findings.max_report_bytes = n,
                    Err(e) => rep.error(Some(m.span()), "findings.max_report_size", e),
                },
            }
        }

        let (prometheus, cloudwatch, services) = build_metrics(&mut rep, &raw, &base_dir);
        let rollouts = build_rollouts(&mut rep, &raw, &base_dir, &environments, &services);
        let kubernetes = raw.kubernetes.as_ref().map(|k| {
            let span = Some(k.span());
            let k = k.get_ref();
            for env in k.environments.values() {
                if !environments.contains_key(env) {
                    rep.error(span.clone(), "kubernetes.environments", format!("environment `{env}` is not defined in [environments]"));
                }
            }
            for (rollout, service) in &k.services {
                if !services.contains_key(service) {
                    rep.error(
                        span.clone(),
                        "kubernetes.services",
                        format!("`{rollout}` is judged by `{service}`, which is not a [services.NAME]"),
                    );
                }
            }
            let defaults = KubernetesSettings::default();
            KubernetesSettings {
                kubeconfig: k.kubeconfig.as_ref().map(|p| base_dir.join(p)),
                context: k.context.clone(),
                namespace: k.namespace.clone(),
                environments: k.environments.clone(),
                services: k.services.clone(),
                record_events: k.record_events.unwrap_or(defaults.record_events),
                timeout: duration_field(&mut rep, k.timeout.as_ref(), "kubernetes.timeout").unwrap_or(defaults.timeout),
            }
        });

        if let Some(actor) = &raw.general.actor {
            rep.error(
                Some(actor.span()),
                "general.actor",
                "the actor can no longer be configured: who acts is the operating-system account; \
                 map a display name under [people] instead",
            );
        }
        let github = ci::build_github(&mut rep, &raw);
        let codepipeline = ci::build_codepipeline(&mut rep, &raw);
        let cloudbuild = cloudbuild::build(&mut rep, &raw);
        let notify = notify::build_sinks(&mut rep, &raw.notify, &base_dir, &environments);
        let argocd = argocd::build(&mut rep, raw.argocd.as_ref(), &environments, kubernetes.as_ref());
        let ecs = ecs::build(&mut rep, raw.ecs.as_ref(), &environments, &services);
        let clouddeploy = clouddeploy::build(&mut rep, raw.clouddeploy.as_ref(), &environments, &services);
        let sharing = match &raw.supervisor.share_socket {
            Some(socket) => Some(SharingSettings { socket: base_dir.join(socket.get_ref()), with: raw.supervisor.share_with.clone() }),
            None => {
                if !raw.supervisor.share_with.is_empty() {
                    rep.error(None, "supervisor.share_with", "share_with needs share_socket: the socket the others connect to");
                }
                None
            }
        };
        rep.finish()?;
        let audit = crate::audit::WitnessSettings {
            file: raw.audit.witness.as_deref().map(|w| base_dir.join(w)),
            signing_key: raw.audit.signing_key.as_deref().map(|k| base_dir.join(k)),
            syslog: raw.audit.syslog.unwrap_or(true),
        };
        Ok(Config {
            path: path.map(Path::to_path_buf),
            base_dir,
            people: raw.people.clone(),
            sharing,
            default_pipeline,
            runner,
            logs,
            ui: UiSettings { theme: theme_name, wrap: raw.ui.wrap, timestamps: raw.ui.timestamps },
            theme,
            keymap,
            environments,
            pipelines,
            policy,
            findings,
            audit,
            prometheus,
            cloudwatch,
            services,
            rollouts,
            kubernetes,
            github,
            codepipeline,
            cloudbuild,
            notify,
            argocd,
            ecs,
            clouddeploy,
        })
    }

    /// The environment variables that hold flightdeck's own credentials: pipeline jobs never
    /// inherit them.
    pub fn secret_env_vars(&self) -> Vec<String> {
        let mut vars: Vec<String> = self.prometheus.values().filter_map(|s| s.auth.env_var().map(str::to_string)).collect();
        if !self.github.is_empty() {
            // The variables a GitHub token is read from (as `gh` reads them).
            vars.extend(["GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"].map(String::from));
        }
        if self.argocd.is_some() {
            vars.push("ARGOCD_AUTH_TOKEN".into());
        }
        for sink in &self.notify {
            vars.extend(sink.kind.secret_env_vars());
            if matches!(sink.kind, SinkKind::Sns { .. }) {
                vars.extend(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"].map(String::from));
            }
        }
        vars.sort();
        vars.dedup();
        vars
    }

    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.get(name)
    }

    /// Each analysed service with the source it is measured from.
    pub fn canary_services(&self) -> BTreeMap<String, (crate::metrics::Backend, crate::metrics::ServiceSpec)> {
        self.services.iter().filter_map(|(n, (src, spec))| Some((n.clone(), (self.backend(src)?, spec.clone())))).collect()
    }

    /// The source named `name`: a [prometheus.NAME] or a [cloudwatch.NAME] (names are unique).
    pub fn backend(&self, name: &str) -> Option<crate::metrics::Backend> {
        use crate::metrics::Backend;
        self.prometheus.get(name).cloned().map(Backend::Prometheus).or_else(|| self.cloudwatch.get(name).cloned().map(Backend::CloudWatch))
    }

    /// The pipeline `r` triggers when nothing else decides: the configured default, else the only one.
    pub fn fallback_pipeline(&self) -> Option<&str> {
        self.default_pipeline
            .as_deref()
            .or_else(|| if self.pipelines.len() == 1 { self.pipelines.keys().next().map(String::as_str) } else { None })
    }
}

fn duration_field(rep: &mut Reporter<'_>, value: Option<&toml::Spanned<String>>, key: &str) -> Option<Duration> {
    let v = value?;
    match parse_duration(v.get_ref()) {
        Ok(d) => Some(d),
        Err(e) => {
            rep.error(Some(v.span()), key, e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Some(Path::new("test.toml")), None)
    }

    fn first(text: &str) -> Diagnostic {
        parse(text).expect_err("should fail").diagnostics.remove(0)
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let d = first("[runner]\nmax_parallel_jobs = 2\nbogus = 1\n");
        assert_eq!(d.file, "test.toml");
        assert_eq!(d.line, 3);
        assert!(d.message.contains("unknown field `bogus`"), "{d}");
        assert!(d.key.starts_with("runner"), "{d}");
    }

    #[test]
    fn wrong_type_is_reported_with_key() {
        let d = first("[runner]\nmax_parallel_jobs = \"lots\"\n");
        assert_eq!(d.line, 2);
        assert_eq!(d.key, "runner.max_parallel_jobs");
    }

    #[test]
    fn unknown_needs_and_cycles_and_duplicates() {
        let d = first("[pipelines.p]\nstages = [ { name = \"a\", run = \"true\", needs = [\"zz\"] } ]\n");
        assert!(d.message.contains("`zz`"), "{d}");
        assert_eq!(d.line, 2);

        let text = "[[pipelines.p.stages]]\nname = \"a\"\nrun = \"true\"\nneeds = [\"b\"]\n[[pipelines.p.stages]]\nname = \"b\"\nrun = \"true\"\nneeds = [\"a\"]\n";
        let d = first(text);
        assert!(d.message.contains("cycle"), "{d}");
        assert!(d.message.contains("a → b → a") || d.message.contains("b → a → b"), "{d}");

        let text = "[[pipelines.p.stages]]\nname = \"a\"\nrun = \"true\"\n[[pipelines.p.stages]]\nname = \"a\"\nrun = \"true\"\n";
        let d = first(text);
        assert!(d.message.contains("duplicate stage name"), "{d}");
        assert_eq!(d.line, 5);
    }

    #[test]
    fn undeclared_environment_and_bad_timeout() {
        let text = "[[pipelines.p.stages]]\nname = \"a\"\nrun = \"true\"\nenvironment = \"prod\"\ntimeout = \"5 minutes\"\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.diagnostics.len(), 2, "{err}");
        assert!(err.to_string().contains("environment `prod` is not declared"));
        assert!(err.to_string().contains("test.toml:5:"));
    }

    #[test]
    fn stages_are_ordered_by_needs() {
        let text = "[[pipelines.p.stages]]\nname = \"late\"\nrun = \"true\"\nneeds = [\"early\"]\n[[pipelines.p.stages]]\nname = \"early\"\nrun = \"true\"\n";
        let c = parse(text).unwrap();
        let names: Vec<_> = c.pipelines["p"].stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["early", "late"]);
    }

    #[test]
    fn empty_config_is_valid() {
        let c = parse("").unwrap();
        assert!(c.pipelines.is_empty());
    }
}
