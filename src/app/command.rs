//! The `:` command line: parsing and completion.

use super::state::State;
use crate::domain::RunRef;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineCommand {
    Run(Option<String>),
    Open(RunRef),
    Cancel,
    Retry,
    Approve,
    Reject,
    Filter(String),
    Theme(String),
    Wrap,
    Timestamps,
    Follow,
    Help,
    Quit,
    /// Inject the named fault into a canary that offers faults.
    Inject(String),
    /// Switch the Kubernetes context.
    Context(String),
    /// Scope to a namespace (None: all namespaces).
    Namespace(Option<String>),
    /// Show line N of the log (counted from 1).
    Line(u64),
    /// Show the first log line at or after a time (`14:02`, `14:02:30`, or RFC 3339).
    Time(String),
    /// Any command of the key map, by its name in `[keys]` (`:rollout.promote`, `:log.wrap`).
    Key(crate::keymap::Command),
    /// Sync the selected GitOps application with these options (`:sync prune Service/web`).
    Sync(crate::delivery::RolloutAction),
    /// Except a release gate rule of the selected run (`:except coverage production`; the
    /// environment may be left out when the run deploys to one).
    Except {
        rule: String,
        environment: Option<String>,
    },
}

/// The options `:sync` takes besides resources (`KIND/NAME`).
pub const SYNC_OPTIONS: [&str; 5] = ["prune", "dry-run", "force", "out-of-sync-only", "revision="];

/// `:sync`'s words: options, `revision=R`, and the resources to limit it to.
fn parse_sync(arg: &str) -> Result<crate::delivery::RolloutAction, String> {
    let (mut prune, mut dry_run, mut force, mut out_of_sync_only) = (false, false, false, false);
    let (mut revision, mut resources) = (None, Vec::new());
    for word in arg.split_whitespace() {
        match word {
            "prune" => prune = true,
            "dry-run" => dry_run = true,
            "force" => force = true,
            "out-of-sync-only" => out_of_sync_only = true,
            w if w.starts_with("revision=") && w.len() > 9 => revision = Some(w[9..].to_string()),
            w if w.contains('/') => resources.push(w.to_string()),
            w => {
                return Err(format!("`{w}` is not a sync option ({}R) or a resource (KIND/NAME)", SYNC_OPTIONS.join(", ")));
            }
        }
    }
    Ok(crate::delivery::RolloutAction::Sync { prune, dry_run, force, out_of_sync_only, revision, resources })
}

/// Command names with a one-line description (shown as suggestions).
pub const COMMANDS: &[(&str, &str)] = &[
    ("run", "run PIPELINE — start a new run"),
    ("open", "open RUN — select run number RUN"),
    ("cancel", "cancel the selected run"),
    ("retry", "retry the failed jobs of the selected run"),
    ("approve", "pass the waiting gate of the selected run"),
    ("reject", "reject the waiting gate of the selected run"),
    ("filter", "filter TEXT — show matching runs (!TEXT hides them)"),
    ("theme", "theme NAME — switch colour theme"),
    ("wrap", "toggle log line wrapping"),
    ("timestamps", "toggle log timestamps"),
    ("follow", "toggle following the log"),
    ("line", "line N — show line N of the log"),
    ("time", "time HH:MM[:SS] — show the first log line at or after that time (UTC, the log's day)"),
    ("inject", "inject FAULT — where the canary offers faults (the demo): change its behaviour"),
    ("ctx", "ctx CONTEXT — switch the Kubernetes context"),
    ("ns", "ns NAMESPACE|all — show one namespace, or all"),
    ("sync", "sync [prune] [dry-run] [force] [out-of-sync-only] [revision=R] [KIND/NAME…] — sync the selected Argo CD application"),
    ("help", "show the key map"),
    ("quit", "quit flightdeck"),
];

/// Every command the line takes, with its description: its own, then every key-map command by
/// its name in `[keys]` (the same names, the same descriptions as `?` shows).
pub fn names() -> impl Iterator<Item = (&'static str, &'static str)> {
    let own = COMMANDS.iter().copied();
    let keys = crate::keymap::COMMANDS
        .iter()
        .filter(|d| !d.context.is_modal() && !COMMANDS.iter().any(|(c, _)| *c == d.name))
        .map(|d| (d.name, d.desc));
    own.chain(keys)
}

pub fn parse(line: &str) -> Result<LineCommand, String> {
    let line = line.trim();
    let (word, arg) = match line.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (line, ""),
    };
    let arg_opt = if arg.is_empty() { None } else { Some(arg.to_string()) };
    Ok(match word {
        "run" | "trigger" => LineCommand::Run(arg_opt),
        "open" => LineCommand::Open(arg.parse().map_err(|_| format!("`{arg}` is not a run (e.g. :open 12, :open local:12)"))?),
        "cancel" => LineCommand::Cancel,
        "retry" => LineCommand::Retry,
        "approve" => LineCommand::Approve,
        "reject" => LineCommand::Reject,
        "filter" => LineCommand::Filter(arg.to_string()),
        "theme" if !arg.is_empty() => LineCommand::Theme(arg.to_string()),
        "theme" => return Err("which theme? e.g. :theme light".into()),
        "wrap" => LineCommand::Wrap,
        "timestamps" | "ts" => LineCommand::Timestamps,
        "follow" => LineCommand::Follow,
        "line" | "l" => {
            LineCommand::Line(arg.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("`{arg}` is not a line number (e.g. :line 1200)"))?)
        }
        "time" | "t" if !arg.is_empty() => LineCommand::Time(arg.to_string()),
        "time" | "t" => return Err("which time? e.g. :time 14:02:30 (UTC)".into()),
        "inject" if !arg.is_empty() => LineCommand::Inject(arg.to_string()),
        "inject" => return Err("which fault? e.g. :inject slow (Tab lists them)".into()),
        "ctx" | "context" if !arg.is_empty() => LineCommand::Context(arg.to_string()),
        "ctx" | "context" => return Err("which context? e.g. :ctx prod-eu (Tab lists them)".into()),
        "ns" | "namespace" if arg.is_empty() || arg == "all" || arg == "-A" => LineCommand::Namespace(None),
        "ns" | "namespace" => LineCommand::Namespace(Some(arg.to_string())),
        "sync" => LineCommand::Sync(parse_sync(arg)?),
        "except" => {
            let mut words = arg.split_whitespace();
            let rule = words.next().unwrap_or_default();
            if !crate::findings::EXCEPTABLE_RULES.contains(&rule) {
                return Err(format!(
                    "`:except RULE [ENVIRONMENT]` takes a rule: {} (findings are accepted one by one with A)",
                    crate::findings::EXCEPTABLE_RULES.join(", ")
                ));
            }
            LineCommand::Except { rule: rule.to_string(), environment: words.next().map(str::to_string) }
        }
        "help" | "h" => LineCommand::Help,
        "quit" | "q" | "q!" => LineCommand::Quit,
        "" => return Err("empty command".into()),
        other => match crate::keymap::COMMANDS.iter().find(|d| d.name == other && !d.context.is_modal()) {
            Some(d) => LineCommand::Key(d.command),
            None => return Err(format!("unknown command `{other}` (Tab lists the commands)")),
        },
    })
}

/// Full-line completions for what has been typed so far.
pub fn complete(line: &str, state: &State) -> Vec<String> {
    // A command that takes an argument, typed whole: its arguments are what is left to choose.
    const TAKES_ARGUMENT: [&str; 11] = ["run", "trigger", "theme", "inject", "ctx", "context", "ns", "namespace", "open", "sync", "except"];
    if TAKES_ARGUMENT.contains(&line) {
        let with_space = complete(&format!("{line} "), state);
        if !with_space.is_empty() {
            return with_space;
        }
    }
    match line.split_once(' ') {
        None => names().filter(|(c, _)| c.starts_with(line)).map(|(c, _)| c.to_string()).collect(),
        Some((cmd, arg)) => {
            let options: Vec<String> = match cmd {
                "run" | "trigger" => {
                    // After a workflow's name: its ref and inputs, as it declares them.
                    if let Some((pipeline, rest)) = arg.split_once(' ')
                        && let Some(form) = state.trigger_form.as_ref().filter(|f| f.pipeline == pipeline)
                    {
                        let (done, last) = rest.rsplit_once(' ').map(|(d, l)| (format!("{d} "), l)).unwrap_or((String::new(), rest));
                        return form
                            .choices()
                            .into_iter()
                            .filter(|c| c.starts_with(last))
                            .map(|c| format!("{cmd} {pipeline} {done}{c}"))
                            .collect();
                    }
                    state.pipelines.clone()
                }
                "theme" => state.theme_names.clone(),
                "inject" => state.canary.faults.as_ref().map(|f| f.names()).unwrap_or_default(),
                "ctx" | "context" => state.releases.feeds.values().flat_map(|f| f.scopes.clone()).collect(),
                "ns" | "namespace" => {
                    // A scoped reference's last part is its namespace (`argo:CTX/NS/NAME`).
                    let mut ns: Vec<String> =
                        state.releases.rows.keys().filter_map(|r| r.scope.rsplit_once('/').map(|(_, ns)| ns.to_string())).collect();
                    ns.sort();
                    ns.dedup();
                    ns.push("all".into());
                    ns
                }
                "open" => state.runs.iter().take(50).map(|r| r.record.id.text()).collect(),
                "except" => super::selectors::failing_rules(state).into_iter().map(|(rule, env)| format!("{rule} {env}")).collect(),
                "sync" => {
                    // Each word in turn: the options not given yet, then the app's resources.
                    let (done, last) = arg.rsplit_once(' ').map(|(d, l)| (format!("{d} "), l)).unwrap_or((String::new(), arg));
                    let given: Vec<&str> = done.split_whitespace().collect();
                    let parts = state.releases.detail.as_ref().map(|d| d.parts.clone()).unwrap_or_default();
                    return SYNC_OPTIONS
                        .iter()
                        .map(|o| o.to_string())
                        .chain(parts)
                        .filter(|o| !given.contains(&o.as_str()) && o.starts_with(last))
                        .map(|o| format!("sync {done}{o}"))
                        .collect();
                }
                _ => Vec::new(),
            };
            options.into_iter().filter(|o| o.starts_with(arg.trim_start())).map(|o| format!("{cmd} {o}")).collect()
        }
    }
}

/// The longest prefix shared by all candidates.
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else {
        return String::new();
    };
    let mut len = first.len();
    for c in &candidates[1..] {
        len = len.min(first.bytes().zip(c.bytes()).take_while(|(a, b)| a == b).count());
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse("run release").unwrap(), LineCommand::Run(Some("release".into())));
        assert_eq!(parse("open #12").unwrap(), LineCommand::Open("12".parse().unwrap()));
        assert!(parse("launch").unwrap_err().contains("unknown command"));
        assert_eq!(parse("open local:12").unwrap(), LineCommand::Open(crate::domain::RunRef::local(12)));
        assert!(parse("open").is_err());
        assert!(parse("open a:").is_err());
    }

    #[test]
    fn sync_takes_its_options_and_resources() {
        let LineCommand::Sync(crate::delivery::RolloutAction::Sync { prune, dry_run, force, out_of_sync_only, revision, resources }) =
            parse("sync prune out-of-sync-only revision=v2 Service/web apps/Deployment/prod/web").unwrap()
        else {
            panic!("a sync")
        };
        assert!(prune && out_of_sync_only && !dry_run && !force);
        assert_eq!(revision.as_deref(), Some("v2"));
        assert_eq!(resources, ["Service/web", "apps/Deployment/prod/web"]);
        assert_eq!(parse("sync").unwrap(), LineCommand::Sync(crate::delivery::RolloutAction::whole_sync()));
        assert!(parse("sync everything").unwrap_err().contains("not a sync option"));
    }

    #[test]
    fn common_prefix_works() {
        assert_eq!(common_prefix(&["retry".into(), "reject".into()]), "re");
        assert_eq!(common_prefix(&["run a".into()]), "run a");
    }
}
