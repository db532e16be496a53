//! Loading and validating the configuration. Every problem is reported with file, line and key;
//! nothing is silently ignored.

mod diagnostics;
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use diagnostics::Reporter;
pub use diagnostics::{ConfigError, Diagnostic};
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
    pub actor: Option<String>,
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
    pub prometheus: BTreeMap<String, crate::metrics::Source>,
    pub services: BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
    pub rollouts: BTreeMap<String, crate::rollout::RolloutSpec>,
    pub kubernetes: Option<KubernetesSettings>,
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

        let policy = build_policy(&mut rep, &raw);
        let mut findings = FindingsSettings {
            acceptances: base_dir.join(raw.findings.acceptances.as_deref().unwrap_or("risk-acceptances.toml")),
            max_report_bytes: crate::findings::DEFAULT_MAX_REPORT_BYTES,
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

        let (prometheus, services) = build_metrics(&mut rep, &raw, &base_dir);
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

        rep.finish()?;
        Ok(Config {
            path: path.map(Path::to_path_buf),
            base_dir,
            actor: raw.general.actor.clone(),
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
            prometheus,
            services,
            rollouts,
            kubernetes,
        })
    }

    pub fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.get(name)
    }

    /// Each analysed service with the source it is measured from.
    pub fn canary_services(&self) -> BTreeMap<String, (crate::metrics::Source, crate::metrics::ServiceSpec)> {
        self.services.iter().filter_map(|(n, (src, spec))| Some((n.clone(), (self.prometheus.get(src)?.clone(), spec.clone())))).collect()
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

fn validate_pipeline(
    rep: &mut Reporter<'_>,
    name: &str,
    raw: &toml::Spanned<RawPipeline>,
    base_dir: &Path,
    environments: &BTreeMap<String, Environment>,
) -> Option<Pipeline> {
    let errors_before = rep.diagnostics.len();
    let p = raw.get_ref();
    let key = format!("pipelines.{name}");
    if p.stages.is_empty() {
        rep.error(Some(raw.span()), &key, "a pipeline needs at least one stage");
        return None;
    }
    if let Some(e) = &p.environment
        && !environments.contains_key(e.get_ref())
    {
        rep.error(
            Some(e.span()),
            format!("{key}.environment"),
            format!("environment `{}` is not declared under [environments]", e.get_ref()),
        );
    }
    let pipeline_cwd = p.cwd.as_ref().map(|c| base_dir.join(c)).unwrap_or_else(|| base_dir.to_path_buf());

    let mut seen = BTreeSet::new();
    for (i, s) in p.stages.iter().enumerate() {
        if !seen.insert(s.name.get_ref().as_str()) {
            rep.error(Some(s.name.span()), format!("{key}.stages[{i}].name"), format!("duplicate stage name `{}`", s.name.get_ref()));
        }
        if s.name.get_ref().trim().is_empty() {
            rep.error(Some(s.name.span()), format!("{key}.stages[{i}].name"), "stage name is empty");
        }
    }

    let mut stages = Vec::new();
    for (i, s) in p.stages.iter().enumerate() {
        let skey = format!("{key}.stages[{i}]");
        for n in &s.needs {
            if !seen.contains(n.get_ref().as_str()) {
                rep.error(
                    Some(n.span()),
                    format!("{skey}.needs"),
                    format!("stage `{}` needs `{}`, which is not a stage of this pipeline", s.name.get_ref(), n.get_ref()),
                );
            } else if n.get_ref() == s.name.get_ref() {
                rep.error(Some(n.span()), format!("{skey}.needs"), format!("stage `{}` needs itself", s.name.get_ref()));
            }
        }
        let gate = s.gate.as_ref().and_then(|g| match g.get_ref() {
            RawGate::Flag(false) => None,
            RawGate::Flag(true) => Some(Gate { timeout: None, message: String::new() }),
            RawGate::Table(t) => {
                let timeout = match t.timeout.as_deref().map(parse_duration) {
                    Some(Ok(d)) => Some(d),
                    Some(Err(e)) => {
                        rep.error(Some(g.span()), format!("{skey}.gate.timeout"), e);
                        None
                    }
                    None => None,
                };
                Some(Gate { timeout, message: t.message.clone() })
            }
        });
        // A hand-over to an Argo Rollout is a command of flightdeck itself, with the job's
        // environment (FLIGHTDECK, FLIGHTDECK_CONFIG) telling it where it is.
        let handover = s.rollout.as_ref().map(|r| {
            let ok_name =
                |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            let valid = r.get_ref().split_once('/').is_some_and(|(ns, n)| ok_name(ns) && ok_name(n));
            if !valid {
                rep.error(
                    Some(r.span()),
                    format!("{skey}.rollout"),
                    "name the Argo Rollout as NAMESPACE/NAME (lowercase, digits, - and .)",
                );
            }
            if s.run.is_some() || gate.is_some() {
                rep.error(Some(r.span()), &skey, "a stage with `rollout` runs no command and is no gate");
            }
            let mut cmd = format!("\"$FLIGHTDECK\" rollout follow '{}' --yes --reason \"pipeline run #$FLIGHTDECK_RUN_ID\"", r.get_ref());
            if let Some(img) = &s.image {
                let safe = img.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@=".contains(c));
                if !safe || img.get_ref().is_empty() {
                    rep.error(Some(img.span()), format!("{skey}.image"), "an image reference may hold letters, digits and . _ - / : @ =");
                }
                cmd.push_str(&format!(" --image '{}'", img.get_ref()));
            }
            cmd
        });
        if let (Some(img), None) = (&s.image, &s.rollout) {
            rep.error(Some(img.span()), format!("{skey}.image"), "`image` goes with `rollout = \"NAMESPACE/NAME\"`");
        }
        match (&s.run, &gate) {
            (None, None) if handover.is_some() => {}
            (None, None) => {
                rep.error(Some(s.name.span()), &skey, format!("stage `{}` has neither `run`, `gate` nor `rollout`", s.name.get_ref()))
            }
            (Some(r), Some(_)) => {
                rep.error(Some(r.span()), &skey, format!("stage `{}` has both `run` and `gate`; a gate runs no command", s.name.get_ref()))
            }
            (Some(r), None) if r.get_ref().trim().is_empty() => rep.error(Some(r.span()), format!("{skey}.run"), "empty command"),
            _ => {}
        }
        let matrix = s.matrix.as_ref().map(|m| m.get_ref().clone()).unwrap_or_default();
        if let Some(m) = &s.matrix {
            for (axis, values) in m.get_ref() {
                if values.is_empty() {
                    rep.error(Some(m.span()), format!("{skey}.matrix.{axis}"), "a matrix axis needs at least one value");
                }
            }
            if gate.is_some() && !matrix.is_empty() {
                rep.error(Some(m.span()), format!("{skey}.matrix"), "a gate cannot have a matrix");
            }
        }
        if s.retries > 10 {
            rep.error(Some(s.name.span()), format!("{skey}.retries"), "at most 10 retries");
        }
        if let Some(e) = &s.environment
            && !environments.contains_key(e.get_ref())
        {
            let known: Vec<&str> = environments.keys().map(String::as_str).collect();
            rep.error(
                Some(e.span()),
                format!("{skey}.environment"),
                format!(
                    "environment `{}` is not declared under [environments] (declared: {})",
                    e.get_ref(),
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
            );
        }
        stages.push(Stage {
            name: s.name.get_ref().clone(),
            run: s.run.as_ref().map(|r| r.get_ref().clone()).or(handover),
            needs: s.needs.iter().map(|n| n.get_ref().clone()).collect(),
            matrix,
            env: p.env.iter().chain(s.env.iter()).map(|(k, v)| (k.clone(), v.clone())).collect(),
            cwd: s.cwd.as_ref().map(|c| pipeline_cwd.join(c)).unwrap_or_else(|| pipeline_cwd.clone()),
            timeout: duration_field(rep, s.timeout.as_ref(), &format!("{skey}.timeout")),
            retries: s.retries,
            allow_failure: s.allow_failure,
            reports: s.reports.clone(),
            environment: s.environment.as_ref().map(|e| e.get_ref().clone()),
            gate,
        });
    }

    if rep.diagnostics.len() > errors_before {
        return None;
    }
    match topo_order(&stages) {
        Ok(order) => {
            let environments = match &p.environment {
                Some(e) => vec![e.get_ref().clone()],
                None => {
                    let mut envs: Vec<String> = order.iter().filter_map(|s| s.environment.clone()).collect();
                    envs.sort();
                    envs.dedup();
                    envs
                }
            };
            Some(Pipeline { name: name.to_string(), description: p.description.clone(), environments, stages: order })
        }
        Err(cycle) => {
            let at = p.stages.iter().find(|s| s.name.get_ref() == &cycle[0]).map(|s| s.name.span());
            rep.error(at, format!("{key}.stages"), format!("the stages' needs form a cycle: {}", cycle.join(" → ")));
            None
        }
    }
}

/// Orders stages so that every stage comes after what it needs, keeping the file order otherwise.
/// On a cycle, returns the stages on it.
fn topo_order(stages: &[Stage]) -> Result<Vec<Stage>, Vec<String>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(stages.len());
    while order.len() < stages.len() {
        let next = stages.iter().find(|s| !done.contains(s.name.as_str()) && s.needs.iter().all(|n| done.contains(n.as_str())));
        match next {
            Some(s) => {
                done.insert(&s.name);
                order.push(s.clone());
            }
            None => return Err(find_cycle(stages, &done)),
        }
    }
    Ok(order)
}

fn find_cycle(stages: &[Stage], done: &BTreeSet<&str>) -> Vec<String> {
    let by_name: BTreeMap<&str, &Stage> = stages.iter().map(|s| (s.name.as_str(), s)).collect();
    let Some(start) = stages.iter().find(|s| !done.contains(s.name.as_str())) else {
        return Vec::new();
    };
    let mut path: Vec<String> = vec![start.name.clone()];
    let mut cur = start;
    loop {
        let Some(next) = cur.needs.iter().find(|n| !done.contains(n.as_str())).and_then(|n| by_name.get(n.as_str())) else {
            return path;
        };
        if let Some(pos) = path.iter().position(|p| p == &next.name) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(next.name.clone());
            return cycle;
        }
        path.push(next.name.clone());
        cur = next;
    }
}

/// Turns `[environments.*]` and `[groups]` into the policy, reporting every bad value.
fn build_policy(rep: &mut Reporter<'_>, raw: &RawConfig) -> Policy {
    let mut policy = Policy { groups: raw.groups.clone(), ..Policy::default() };
    for (name, env) in &raw.environments {
        let key = format!("environments.{name}");
        let mut tiers = BTreeMap::new();
        for (kind, tier) in &env.confirm {
            let Some(k) = ActionKind::from_name(kind) else {
                let known: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
                rep.error(Some(tier.span()), format!("{key}.confirm.{kind}"), format!("unknown action (known: {})", known.join(", ")));
                continue;
            };
            match Tier::parse(tier.get_ref()) {
                Some(t) => {
                    tiers.insert(k, t);
                }
                None => rep.error(
                    Some(tier.span()),
                    format!("{key}.confirm.{kind}"),
                    format!("`{}` is not a tier (none, yes-no, dialog, typed)", tier.get_ref()),
                ),
            }
        }
        for a in &env.approvers {
            if let Some(g) = a.get_ref().strip_prefix("group:")
                && !raw.groups.contains_key(g)
            {
                rep.error(Some(a.span()), format!("{key}.approvers"), format!("group `{g}` is not declared under [groups]"));
            }
        }
        let mut freezes = Vec::new();
        for (i, f) in env.freeze.iter().enumerate() {
            let fkey = format!("{key}.freeze[{i}]");
            match build_freeze(f.get_ref()) {
                Ok(fr) => freezes.push(fr),
                Err(e) => rep.error(Some(f.span()), fkey, e),
            }
        }
        let security = {
            let raw_sec = env.security.as_ref();
            let max_allowed = match raw_sec.and_then(|s| s.max_severity.as_ref()) {
                // `none`: nothing above INFO gets through.
                Some(m) if m.get_ref() == "none" => Some(crate::findings::Severity::Info),
                Some(m) => match crate::findings::Severity::parse(m.get_ref()) {
                    Some(s) => Some(s),
                    None => {
                        rep.error(
                            Some(m.span()),
                            format!("{key}.security.max_severity"),
                            format!("`{}` is not a severity (critical, high, medium, low, info, none)", m.get_ref()),
                        );
                        None
                    }
                },
                None if env.production => Some(crate::findings::Severity::Medium),
                None => None,
            };
            crate::findings::GatePolicy {
                max_allowed,
                fixable_only: raw_sec.is_some_and(|s| s.fixable_only),
                break_glass: raw_sec.is_some_and(|s| s.break_glass),
            }
        };
        policy.environments.insert(
            name.clone(),
            EnvPolicy {
                security,
                name: name.clone(),
                production: env.production,
                read_only: env.read_only,
                four_eyes: env.four_eyes.unwrap_or(env.production),
                approvers: env.approvers.iter().map(|a| a.get_ref().clone()).collect(),
                break_glass: env.break_glass.unwrap_or(true),
                tiers,
                freezes,
            },
        );
    }
    policy
}

fn build_freeze(f: &schema::RawFreeze) -> Result<Freeze, String> {
    use crate::policy::FreezeWindowParse as P;
    let tz_name = f.timezone.clone().unwrap_or_else(|| "UTC".into());
    let tz =
        jiff::tz::TimeZone::get(&tz_name).map_err(|_| format!("unknown time zone `{tz_name}` (use an IANA name such as Europe/Berlin)"))?;
    let window = match (&f.start, &f.end, f.days.is_empty()) {
        (Some(s), Some(e), true) => {
            let (start, end) = (P::bound(s, false)?, P::bound(e, true)?);
            if end < start {
                return Err(format!("`end` ({e}) is before `start` ({s})"));
            }
            FreezeWindow::Period { start, end }
        }
        (None, None, false) => {
            let days = f
                .days
                .iter()
                .map(|d| P::weekday(d).ok_or_else(|| format!("`{d}` is not a weekday (mon … sun)")))
                .collect::<Result<Vec<_>, _>>()?;
            let from = P::time(f.from.as_deref().unwrap_or("00:00"))?;
            let to = P::time(f.to.as_deref().unwrap_or("24:00"))?;
            FreezeWindow::Weekly { days, from, to }
        }
        _ => return Err("a freeze needs either `days` (with optional `from`/`to`) or both `start` and `end`".into()),
    };
    Ok(Freeze { reason: f.reason.clone(), tz_name, tz, window })
}

/// Prometheus sources and analysed services.
type Metrics = (BTreeMap<String, crate::metrics::Source>, BTreeMap<String, (String, crate::metrics::ServiceSpec)>);

fn build_metrics(rep: &mut Reporter<'_>, raw: &RawConfig, base_dir: &Path) -> Metrics {
    use crate::metrics::analysis::{DEFAULT_REQUESTS_QUERY, builtin, default_metrics};
    use crate::metrics::{AnalysisSpec, Auth, MetricSpec, Secret, ServiceSpec, Source};
    let mut sources = BTreeMap::new();
    for (name, p) in &raw.prometheus {
        let key = format!("prometheus.{name}");
        let r = p.get_ref();
        let timeout = r.timeout.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            rep.error(Some(p.span()), format!("{key}.timeout"), e);
            None
        });
        let auth = match (&r.bearer_token_env, &r.bearer_token_file, &r.basic_auth) {
            (Some(v), None, None) => Auth::Bearer(Secret::Env(v.clone())),
            (None, Some(f), None) => Auth::Bearer(Secret::File(base_dir.join(f))),
            (None, None, Some(b)) => match (&b.password_env, &b.password_file) {
                (Some(v), None) => Auth::Basic { username: b.username.clone(), password: Secret::Env(v.clone()) },
                (None, Some(f)) => Auth::Basic { username: b.username.clone(), password: Secret::File(base_dir.join(f)) },
                _ => {
                    rep.error(Some(p.span()), format!("{key}.basic_auth"), "give exactly one of password_env or password_file");
                    Auth::None
                }
            },
            (None, None, None) => Auth::None,
            _ => {
                rep.error(Some(p.span()), &key, "choose one way to authenticate: bearer_token_env, bearer_token_file or basic_auth");
                Auth::None
            }
        };
        if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
            rep.error(Some(p.span()), format!("{key}.url"), format!("`{}` is not an http(s) URL", r.url));
        }
        sources.insert(
            name.clone(),
            Source {
                name: name.clone(),
                url: r.url.clone(),
                timeout: timeout.unwrap_or(std::time::Duration::from_secs(10)),
                auth,
                headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ca_file: r.ca_file.as_ref().map(|f| base_dir.join(f)),
                insecure: r.insecure,
            },
        );
    }
    let mut services = BTreeMap::new();
    for (name, sv) in &raw.services {
        let key = format!("services.{name}");
        let r = sv.get_ref();
        let source = match &r.prometheus {
            Some(p) if sources.contains_key(p.get_ref()) => p.get_ref().clone(),
            Some(p) => {
                rep.error(Some(p.span()), format!("{key}.prometheus"), format!("no [prometheus.{}] is declared", p.get_ref()));
                continue;
            }
            None if sources.len() == 1 => sources.keys().next().cloned().unwrap_or_default(),
            None => {
                rep.error(
                    Some(sv.span()),
                    format!("{key}.prometheus"),
                    "name the [prometheus.NAME] source to ask (there is not exactly one)",
                );
                continue;
            }
        };
        let a = &r.analysis;
        let interval = a.interval.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            rep.error(Some(sv.span()), format!("{key}.analysis.interval"), e);
            None
        });
        let mut metrics = Vec::new();
        for m in &a.metrics {
            let (query, unit, worse) = match builtin(&m.query) {
                Some((q, u, w)) => (q.to_string(), u.to_string(), w),
                None => (m.query.clone(), String::new(), true),
            };
            metrics.push(MetricSpec {
                name: m.name.clone(),
                query,
                max: m.max,
                min: m.min,
                max_ratio: m.max_ratio,
                higher_is_worse: m.higher_is_worse.unwrap_or(worse),
                unit: m.unit.clone().unwrap_or(unit),
            });
        }
        if metrics.is_empty() {
            metrics = default_metrics();
        }
        let alpha = a.mann_whitney_alpha.unwrap_or(0.05);
        services.insert(
            name.clone(),
            (
                source,
                ServiceSpec {
                    name: name.clone(),
                    namespace: r.namespace.clone(),
                    canary: r.canary.clone(),
                    stable: r.stable.clone(),
                    window: r.window.clone().unwrap_or_else(|| "1m".into()),
                    requests_query: r.requests_query.clone().unwrap_or_else(|| DEFAULT_REQUESTS_QUERY.into()),
                    analysis: AnalysisSpec {
                        interval: interval.unwrap_or(std::time::Duration::from_secs(15)),
                        count: a.count.unwrap_or(8).max(1),
                        failure_limit: a.failure_limit.unwrap_or(0),
                        inconclusive_limit: a.inconclusive_limit.unwrap_or(1),
                        min_requests: a.min_requests.unwrap_or(1.0),
                        alpha: (alpha > 0.0).then_some(alpha),
                        metrics,
                        alert_matchers: a.alerts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        alerts_gate: a.alerts_gate,
                    },
                },
            ),
        );
    }
    (sources, services)
}

/// NGINX canaries: steps, where the upstream lives, how to validate and reload.
fn build_rollouts(
    rep: &mut Reporter<'_>,
    raw: &RawConfig,
    base_dir: &Path,
    environments: &BTreeMap<String, Environment>,
    services: &BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
) -> BTreeMap<String, crate::rollout::RolloutSpec> {
    use crate::rollout::{NginxSpec, OnFailure, RolloutSpec, Step};
    let mut out = BTreeMap::new();
    for (name, r) in &raw.rollouts {
        let key = format!("rollouts.{name}");
        let span = Some(r.span());
        let r = r.get_ref();
        if let Some(env) = &r.environment
            && !environments.contains_key(env)
        {
            rep.error(span.clone(), format!("{key}.environment"), format!("no [environments.{env}] is defined"));
        }
        let service = match &r.service {
            Some(s) if !services.contains_key(s) => {
                rep.error(span.clone(), format!("{key}.service"), format!("no [services.{s}] is defined"));
                None
            }
            Some(s) => Some(s.clone()),
            None => services.contains_key(name).then(|| name.clone()),
        };
        let mut steps = Vec::new();
        for (i, st) in r.steps.iter().enumerate() {
            let k = format!("{key}.steps[{i}]");
            let s = st.get_ref();
            let timed = |t: &crate::config::schema::RawTimed, rep: &mut Reporter<'_>| {
                t.duration.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
                    rep.error(Some(st.span()), format!("{k}.duration"), e);
                    None
                })
            };
            match (s.set_weight, &s.pause, &s.analysis) {
                (Some(w), None, None) if w <= 100 => steps.push(Step::SetWeight(w)),
                (Some(w), None, None) => rep.error(Some(st.span()), format!("{k}.set_weight"), format!("{w} is not a percentage (0–100)")),
                (None, Some(p), None) => steps.push(Step::Pause(timed(p, rep))),
                (None, None, Some(a)) => match timed(a, rep) {
                    Some(d) => steps.push(Step::Analysis(d)),
                    None => {
                        rep.error(Some(st.span()), format!("{k}.analysis"), "an analysis step needs a duration, e.g. { duration = \"1m\" }")
                    }
                },
                _ => {
                    rep.error(Some(st.span()), &k, "each step is exactly one of set_weight = N, pause = {…} or analysis = { duration = … }")
                }
            }
        }
        if steps.iter().any(|s| matches!(s, Step::Analysis(_))) && service.is_none() {
            rep.error(span.clone(), format!("{key}.service"), "analysis steps need an analysed service ([services.NAME])");
        }
        let on_failure = match r.on_failure.as_deref() {
            None | Some("abort") => OnFailure::Abort,
            Some("pause") => OnFailure::Pause,
            Some(o) => {
                rep.error(span.clone(), format!("{key}.on_failure"), format!("`{o}`: use abort or pause"));
                OnFailure::Abort
            }
        };
        let n = &r.nginx;
        if n.stable.is_empty() || n.canary.is_empty() {
            rep.error(span.clone(), format!("{key}.nginx"), "give at least one stable and one canary server address");
        }
        if let Some(dup) = n.stable.iter().find(|a| n.canary.contains(a)) {
            rep.error(span.clone(), format!("{key}.nginx"), format!("{dup} is both a stable and a canary server"));
        }
        let conf = n.conf.as_ref().map(|c| base_dir.join(c));
        // A bare name is looked up when it runs (also in the sbin directories): loading the
        // configuration touches nothing outside it.
        let binary = n.binary.clone().unwrap_or_else(|| "nginx".into());
        let with_conf = |mut args: Vec<String>| {
            if let Some(c) = &conf {
                args.extend(["-c".to_string(), c.display().to_string()]);
            }
            args
        };
        let pid_file = n.pid_file.as_ref().map(|p| base_dir.join(p));
        out.insert(
            name.clone(),
            RolloutSpec {
                name: name.clone(),
                environment: r.environment.clone(),
                service,
                steps,
                on_failure,
                background_analysis: r.background_analysis,
                nginx: NginxSpec {
                    include: base_dir.join(&n.include),
                    upstream: n.upstream.clone(),
                    stable: n.stable.clone(),
                    canary: n.canary.clone(),
                    validate: n.validate.clone().unwrap_or_else(|| with_conf(vec![binary.clone(), "-t".into(), "-q".into()])),
                    reload: n.reload.clone().unwrap_or_else(|| with_conf(vec![binary.clone(), "-s".into(), "reload".into()])),
                    pid_file,
                    conf,
                },
            },
        );
    }
    out
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
