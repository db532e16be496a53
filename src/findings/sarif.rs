//! SARIF 2.1.0 (any tool): rules, effective level, security-severity, locations, baseline state,
//! suppressions (the final `status` key and the older `state`).

use serde::Deserialize;

use super::severity::{from_level, from_score};
use super::{Finding, FindingKind, ParsedReport, json_problem};
use crate::findings::detect::Format;

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(default, borrow)]
    runs: Option<Vec<Run<'a>>>,
}

#[derive(Deserialize)]
struct Run<'a> {
    tool: Tool,
    /// Kept as the report's own text and read one at a time, so a large report is never held
    /// twice (parsed results beside the findings made from them).
    #[serde(default, borrow)]
    results: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(default)]
    invocations: Vec<Invocation>,
    /// Files results may point at by index.
    #[serde(default)]
    artifacts: Vec<ArtifactEntry>,
}

#[derive(Deserialize)]
struct Invocation {
    #[serde(rename = "executionSuccessful")]
    execution_successful: Option<bool>,
    #[serde(rename = "toolExecutionNotifications", default)]
    notifications: Vec<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    level: Option<String>,
    #[serde(default)]
    message: Msg,
}

#[derive(Deserialize)]
struct ArtifactEntry {
    location: Option<Artifact>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Component,
    #[serde(default)]
    extensions: Vec<Component>,
}

#[derive(Deserialize, Default)]
struct Component {
    #[serde(default)]
    name: String,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize, Default)]
struct Rule {
    #[serde(default)]
    id: String,
    #[serde(rename = "shortDescription")]
    short: Option<Msg>,
    #[serde(rename = "fullDescription")]
    full: Option<Msg>,
    #[serde(rename = "helpUri")]
    help_uri: Option<String>,
    #[serde(rename = "defaultConfiguration")]
    default_configuration: Option<RuleConfig>,
    properties: Option<Props>,
    help: Option<Msg>,
}

/// The tool's own label where it writes one into the rule's help (`Severity: critical`, as
/// Grype's and Trivy's SARIF do): SARIF has no field for it, and it must not be lost.
fn labelled_severity(rule: Option<&Rule>) -> Option<(crate::findings::Severity, String)> {
    let text = rule?.help.as_ref()?.text.as_deref()?;
    text.lines().find_map(|l| {
        let label = l.trim().strip_prefix("Severity:")?.trim();
        crate::findings::Severity::parse(label).map(|s| (s, label.to_string()))
    })
}

#[derive(Deserialize)]
struct RuleConfig {
    level: Option<String>,
}

#[derive(Deserialize, Default)]
struct Props {
    #[serde(rename = "security-severity")]
    security_severity: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Msg {
    text: Option<String>,
    markdown: Option<String>,
    #[serde(default)]
    arguments: Vec<String>,
}

#[derive(Deserialize)]
struct RuleRef {
    id: Option<String>,
    index: Option<i64>,
    #[serde(rename = "toolComponent")]
    tool_component: Option<ComponentRef>,
}

#[derive(Deserialize)]
struct ComponentRef {
    name: Option<String>,
    index: Option<i64>,
}

#[derive(Deserialize)]
struct Res {
    #[serde(rename = "ruleId")]
    rule_id: Option<String>,
    #[serde(rename = "ruleIndex")]
    rule_index: Option<i64>,
    rule: Option<RuleRef>,
    kind: Option<String>,
    level: Option<String>,
    #[serde(default)]
    message: Msg,
    #[serde(default)]
    locations: Vec<Location>,
    #[serde(rename = "baselineState")]
    baseline_state: Option<String>,
    suppressions: Option<Vec<Suppression>>,
    properties: Option<Props>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(rename = "physicalLocation")]
    physical: Option<Physical>,
}

#[derive(Deserialize)]
struct Physical {
    #[serde(rename = "artifactLocation")]
    artifact: Option<Artifact>,
    region: Option<Region>,
}

#[derive(Deserialize)]
struct Artifact {
    uri: Option<String>,
    index: Option<i64>,
}

#[derive(Deserialize)]
struct Region {
    #[serde(rename = "startLine")]
    start_line: Option<u64>,
}

#[derive(Deserialize)]
struct Suppression {
    kind: Option<String>,
    status: Option<String>,
    /// The name the older 2.1.0 schema used for `status`.
    state: Option<String>,
    justification: Option<String>,
}

fn score_of(p: Option<&Props>) -> Option<f64> {
    match p?.security_severity.as_ref()? {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Fills `{0}`-style placeholders from the message arguments.
fn message_text(m: &Msg) -> String {
    let mut text = m.text.clone().or_else(|| m.markdown.clone()).unwrap_or_default();
    for (i, a) in m.arguments.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), a);
    }
    text
}

/// Only the version, read first: another version's structure differs, and its error should say
/// so rather than name a missing field.
#[derive(Deserialize)]
struct Versioned {
    version: Option<String>,
}

/// `done_with(n)`: the first `n` bytes of the text will not be read again (a mapped report lets
/// go of them as the results are read).
pub fn parse(bytes: &[u8], shown_as: &str, done_with: &mut dyn FnMut(usize)) -> Result<ParsedReport, String> {
    let v: Versioned = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "SARIF report"))?;
    match v.version.as_deref() {
        Some("2.1.0") => {}
        Some(v) => return Err(format!("SARIF version {} is not supported (flightdeck reads 2.1.0)", super::excerpt(v))),
        None => return Err("the SARIF report has no `version`; flightdeck reads SARIF 2.1.0".into()),
    }
    let log: Log = serde_json::from_slice(bytes).map_err(|e| json_problem(&e, "SARIF report"))?;
    let runs = log.runs.ok_or("the SARIF report has no `runs`")?;
    let mut findings = Vec::new();
    let mut tools = Vec::new();
    for run in &runs {
        let tool = run.tool.driver.name.clone();
        tools.push(tool.clone());
        // A scan that did not complete is not a clean one: the gate must not pass on it.
        for inv in &run.invocations {
            let error = inv.notifications.iter().find(|n| n.level.as_deref().is_some_and(|l| l.eq_ignore_ascii_case("error")));
            let said = error.map(|n| format!(": {}", super::excerpt(&message_text(&n.message)))).unwrap_or_default();
            if inv.execution_successful == Some(false) {
                return Err(format!("{tool} reports that its run did not complete (executionSuccessful is false){said}"));
            }
            if error.is_some() {
                return Err(format!("{tool} reports an error in its run{said}"));
            }
        }
        let Some(results) = &run.results else {
            return Err(format!("the {tool} run has no `results`: the scan did not produce any (an empty list would mean a clean scan)"));
        };
        // One finding per result: room for exactly that many (a vector grown one at a time
        // holds up to twice its length at the end, when memory is at its peak).
        findings.reserve_exact(results.len());
        for raw in results {
            done_with(raw.get().as_ptr() as usize - bytes.as_ptr() as usize);
            let r: Res = serde_json::from_str(raw.get()).map_err(|e| json_problem(&e, "SARIF result"))?;
            let r = &r;
            // The rule: by index (in the driver or the referenced extension), else by id.
            let component = match r.rule.as_ref().and_then(|x| x.tool_component.as_ref()) {
                Some(c) => c
                    .index
                    .and_then(|i| run.tool.extensions.get(usize::try_from(i).ok()?))
                    .or_else(|| run.tool.extensions.iter().find(|e| Some(&e.name) == c.name.as_ref()))
                    .unwrap_or(&run.tool.driver),
                None => &run.tool.driver,
            };
            let index = r.rule_index.filter(|i| *i >= 0).or_else(|| r.rule.as_ref().and_then(|x| x.index).filter(|i| *i >= 0));
            let named = r.rule_id.clone().or_else(|| r.rule.as_ref().and_then(|x| x.id.clone()));
            let rule = index
                .and_then(|i| component.rules.get(usize::try_from(i).ok()?))
                .or_else(|| named.as_ref().and_then(|id| component.rules.iter().find(|x| &x.id == id)))
                .or_else(|| named.as_ref().and_then(|id| run.tool.extensions.iter().flat_map(|e| e.rules.iter()).find(|x| &x.id == id)));
            // A rule given only by its index is named by the rule it points at.
            let rule_id = named.or_else(|| rule.map(|x| x.id.clone()).filter(|id| !id.is_empty())).unwrap_or_else(|| "(no rule id)".into());

            // Results that record a check passing or not applying are not findings.
            if matches!(r.kind.as_deref(), Some("pass" | "notApplicable")) {
                continue;
            }
            let informational = r.kind.as_deref().is_some_and(|k| k != "fail");
            let level = if informational {
                "none".to_string()
            } else {
                r.level
                    .clone()
                    .or_else(|| rule.and_then(|x| x.default_configuration.as_ref()?.level.clone()))
                    .unwrap_or_else(|| "warning".into())
            };
            let score = score_of(r.properties.as_ref()).or_else(|| score_of(rule.and_then(|x| x.properties.as_ref())));
            let score = score.filter(|_| !informational);
            let (by_level, level_reason) = from_level(&level)?;
            let (severity, reason, raw) = match score.and_then(|s| from_score(s).map(|sev| (s, sev))) {
                // A tool's own word above its score (`critical` with 7.5) is not lowered.
                Some((s, sev))
                    if by_level > sev && !matches!(level.to_ascii_lowercase().as_str(), "error" | "warning" | "note" | "none") =>
                {
                    (
                        by_level,
                        format!("level {level}, above security-severity {s:.1}; the higher counts"),
                        format!("{level} / security-severity {s}"),
                    )
                }
                Some((s, sev)) => (sev, format!("security-severity {s:.1} (CVSS bands)"), format!("{level} / security-severity {s}")),
                None => (by_level, level_reason, level.clone()),
            };
            let (severity, reason) = match labelled_severity(rule) {
                Some((own, label)) if own > severity && !informational => {
                    (own, format!("{tool}'s own severity {label} (rule help), above {reason}; the higher counts"))
                }
                _ => (severity, reason),
            };
            let location = r
                .locations
                .iter()
                .find_map(|l| {
                    let p = l.physical.as_ref()?;
                    let a = p.artifact.as_ref()?;
                    // By URI, or by its index into the run's artifacts.
                    let uri = a.uri.clone().or_else(|| {
                        let i = usize::try_from(a.index?).ok()?;
                        run.artifacts.get(i)?.location.as_ref()?.uri.clone()
                    })?;
                    Some(match p.region.as_ref().and_then(|g| g.start_line) {
                        Some(line) => format!("{uri}:{line}"),
                        None => uri,
                    })
                })
                .unwrap_or_else(|| "(no location)".into());
            let suppressed = match &r.suppressions {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .find(|s| {
                        let st = s.status.as_deref().or(s.state.as_deref());
                        st.is_none() || st == Some("accepted")
                    })
                    .map(|s| {
                        let j = s.justification.clone().map(|j| format!(": {j}")).unwrap_or_default();
                        format!("suppressed ({}){j}", s.kind.as_deref().unwrap_or("external"))
                    }),
                _ => None,
            }
            .or_else(|| (r.baseline_state.as_deref() == Some("absent")).then(|| "absent from this scan (baseline state)".to_string()));
            let title = rule.and_then(|x| x.short.as_ref().and_then(|m| m.text.clone())).unwrap_or_else(|| message_text(&r.message));
            let mut description = message_text(&r.message);
            if let Some(full) = rule.and_then(|x| x.full.as_ref().and_then(|m| m.text.clone()))
                && full != description
            {
                description = format!("{description}\n\n{full}");
            }
            if let Some(b) = &r.baseline_state {
                description.push_str(&format!("\n\nbaseline state: {b}"));
            }
            findings.push(Finding {
                id: rule_id,
                tools: vec![tool.clone()],
                kind: FindingKind::Code,
                severity,
                raw_severity: raw,
                severity_reason: reason,
                title,
                description,
                location,
                package: None,
                installed: None,
                fixed: None,
                target: None,
                url: rule.and_then(|x| x.help_uri.clone()),
                suppressed,
                reports: vec![shown_as.to_string()],
            });
        }
    }
    tools.dedup();
    Ok(ParsedReport { tool: tools.join(", "), findings, ..ParsedReport::empty(shown_as, Format::Sarif) })
}
