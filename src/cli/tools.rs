//! Subcommands that read and report: the key map, a configuration check, a canary's verdict.

use super::*;

/// `keys`: the bindings in force, as a table, the README's Markdown, or JSON.
pub(super) fn keys(keymap: &crate::keymap::Keymap, markdown: bool, json: bool) -> anyhow::Result<ExitCode> {
    use crate::keymap::{COMMANDS, Context};
    if markdown {
        print!("{}", keymap.markdown());
    } else if json {
        let rows: Vec<serde_json::Value> = COMMANDS
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "context": d.context.title(),
                    "keys": keymap.keys_of(d.command).iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    "description": d.desc,
                    "changes_something": d.mutating,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for ctx in Context::ALL {
            println!("{}", ctx.title());
            for d in COMMANDS.iter().filter(|d| d.context == ctx) {
                println!("  {:<18} {:<28} {}", keymap.label(d.command).unwrap_or_else(|| "(unbound)".into()), d.name, d.desc);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn config_check(file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let loc = Locations::discover(file);
    let Some(path) = &loc.config_file else {
        eprintln!("no configuration file found (looked at {}); the built-in defaults apply", loc.searched());
        return Ok(ExitCode::SUCCESS);
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match Config::parse(&text, Some(path), loc.config_dir.as_deref()) {
        Ok(c) => {
            let stages: usize = c.pipelines.values().map(|p| p.stages.len()).sum();
            println!(
                "{}: ok — {} pipeline(s), {stages} stage(s), {} environment(s), theme {}",
                path.display(),
                c.pipelines.len(),
                c.environments.len(),
                c.ui.theme
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s) found", e.diagnostics.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(super) async fn canary(
    config: &Arc<Config>,
    service: &str,
    window: Option<&str>,
    measured_on: Option<crate::delivery::MeasuredOn>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::metrics::Phase;
    let (source_name, mut spec) = config.services.get(service).cloned().with_context(|| {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        format!("no service `{service}` under [services] (configured: {})", if known.is_empty() { "none".into() } else { known.join(", ") })
    })?;
    let source = config.backend(&source_name).context("the service's metrics source is missing")?;
    if let Some(on) = measured_on {
        anyhow::ensure!(
            matches!(source, crate::metrics::Backend::CloudWatch(_)),
            "--release gives CloudWatch dimensions; `{service}` is measured in Prometheus"
        );
        (spec.canary, spec.stable) = (on.canary, on.stable);
    }
    if let Some(w) = window {
        let w = crate::util::parse_duration(w).map_err(anyhow::Error::msg).context("--window")?;
        spec.analysis.count = (w.as_secs() / spec.analysis.interval.as_secs().max(1)).max(1) as usize;
    }
    let step = spec.analysis.interval.as_secs().max(1) as i64;
    let end = jiff::Timestamp::now().as_second() / step * step;
    let result = crate::metrics::analyse(&source, &spec, end).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!("{:<16} {:>12} {:>12}  {:<28} {:<13} {:>9}  WHY", "METRIC", "CANARY", "STABLE", "CONDITION", "VERDICT", "P-VALUE");
        for m in &result.metrics {
            let last =
                m.measurements.iter().rev().find(|x| x.canary != crate::metrics::analysis::Reading::NoData).or(m.measurements.last());
            let (c, st) = last.map(|x| (x.canary.describe(&m.unit), x.stable.describe(&m.unit))).unwrap_or(("-".into(), "-".into()));
            let p = m.p_value.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into());
            let role = if m.dry_run {
                " (dry run)"
            } else if m.critical {
                " (critical)"
            } else {
                ""
            };
            let name = crate::logstore::sanitize::plain(&format!("{}{role}", m.name));
            let why = crate::logstore::sanitize::plain(&m.reason);
            println!("{:<16} {:>12} {:>12}  {:<28} {:<13} {:>9}  {why}", name, c, st, m.condition, m.phase.label(), p);
        }
        for a in &result.alerts {
            println!("alert firing: {}", crate::logstore::sanitize::plain(&format!("{} {}", a.name, a.summary)));
        }
        if let Some(score) = result.score {
            let a = &spec.analysis;
            println!("score: {score:.0} (passes at {:.0}, fails below {:.0})", a.pass_score, a.marginal_score);
        }
        println!("verdict: {} — {}", result.phase.label(), crate::logstore::sanitize::plain(&result.reason));
    }
    Ok(match result.phase {
        Phase::Successful => ExitCode::SUCCESS,
        Phase::Failed => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}
