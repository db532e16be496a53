//! Starting a workflow (`workflow_dispatch`): its inputs read from the workflow file at that ref
//! and checked before anything is sent, and the new run known at once (`return_run_details`), or
//! found by workflow, ref, actor and time on servers that do not offer that.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use super::GithubProvider;
use super::api::GhError;
use crate::ci::CiError;
use crate::ci::form::{WorkflowInput, check_inputs};
use crate::domain::RunRef;

/// How long a run started without its details is looked for.
const FIND_LIMIT: Duration = Duration::from_secs(30);

/// The inputs a workflow file declares (None: it cannot be started by hand).
pub fn declared_inputs(yaml: &str) -> Result<Option<Vec<WorkflowInput>>, String> {
    let doc: Value = serde_saphyr::from_str(yaml).map_err(|e| format!("the workflow file is not YAML: {e}"))?;
    // `on: workflow_dispatch`, `on: [push, workflow_dispatch]`, or `on: {workflow_dispatch: …}`.
    let on = &doc["on"];
    let dispatch = match on {
        Value::String(s) if s == "workflow_dispatch" => return Ok(Some(Vec::new())),
        Value::Array(a) if a.iter().any(|v| v == "workflow_dispatch") => return Ok(Some(Vec::new())),
        Value::Object(m) => match m.get("workflow_dispatch") {
            Some(d) => d,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some(inputs) = dispatch.get("inputs").and_then(Value::as_object) else { return Ok(Some(Vec::new())) };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    Ok(Some(
        inputs
            .iter()
            .map(|(name, spec)| WorkflowInput {
                name: name.clone(),
                kind: spec["type"].as_str().unwrap_or("string").to_string(),
                required: spec["required"].as_bool().unwrap_or(false),
                default: text(&spec["default"]),
                options: spec["options"].as_array().map(|o| o.iter().filter_map(text).collect()).unwrap_or_default(),
                description: spec["description"].as_str().unwrap_or_default().to_string(),
            })
            .collect(),
    ))
}

/// The workflow file's text at a ref.
async fn workflow_file(gh: &GithubProvider, repo: &str, workflow: &str, git_ref: &str) -> Result<String, CiError> {
    let path = format!("/repos/{repo}/contents/.github/workflows/{workflow}?ref={}", urlencode(git_ref));
    let file: Value = gh.inner.api.get(&path).await.map_err(|e| match e {
        GhError::NotFound(_) => CiError::Other(format!("{repo} has no workflow {workflow} at {git_ref}")),
        e => e.into(),
    })?;
    let encoded: String = file["content"].as_str().unwrap_or_default().split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| CiError::Other(format!("{workflow}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| CiError::Other(format!("{workflow} is not UTF-8")))
}

/// Percent-encodes a ref for a query string.
pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_./~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The repository's default branch.
pub async fn default_branch(gh: &GithubProvider, repo: &str) -> Result<String, CiError> {
    let info: Value = gh.inner.api.get(&format!("/repos/{repo}")).await.map_err(|e| match e {
        GhError::NotFound(_) => CiError::Other(format!("GitHub has no repository {repo} that this token can see (404)")),
        e => e.into(),
    })?;
    Ok(info["default_branch"].as_str().unwrap_or("main").to_string())
}

/// What starting a workflow asks for: its inputs at the default branch.
pub async fn form(gh: &GithubProvider, repo: &str, workflow: &str, pipeline: &str) -> Result<crate::ci::form::TriggerForm, CiError> {
    let git_ref = default_branch(gh, repo).await?;
    let yaml = workflow_file(gh, repo, workflow, &git_ref).await?;
    let inputs = declared_inputs(&yaml)
        .map_err(CiError::Other)?
        .ok_or_else(|| CiError::Other(format!("{workflow} cannot be started by hand: it has no `on: workflow_dispatch`")))?;
    Ok(crate::ci::form::TriggerForm { pipeline: pipeline.to_string(), git_ref, inputs })
}

pub async fn run(
    gh: &GithubProvider,
    repo: &str,
    workflow: &str,
    git_ref: &str,
    inputs: &BTreeMap<String, String>,
) -> Result<RunRef, CiError> {
    let yaml = workflow_file(gh, repo, workflow, git_ref).await?;
    let declared = declared_inputs(&yaml)
        .map_err(CiError::Other)?
        .ok_or_else(|| CiError::Other(format!("{workflow} cannot be started by hand: it has no `on: workflow_dispatch`")))?;
    check_inputs(&declared, inputs).map_err(|e| CiError::Other(format!("{workflow}: {e}")))?;
    let path = format!("/repos/{repo}/actions/workflows/{workflow}/dispatches");
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
    let body = json!({ "ref": git_ref, "inputs": inputs, "return_run_details": true });
    match gh.inner.api.call(Method::POST, &path, Some(&body)).await {
        Ok(answer) => {
            if let Ok(d) = serde_json::from_slice::<super::model::Dispatched>(&answer) {
                return Ok(super::run_ref(&gh.inner.settings.name, repo, d.workflow_run_id));
            }
        }
        // Older Enterprise Servers refuse the field: start it without, then find it.
        Err(GhError::Refused(400 | 422, m)) if m.contains("return_run_details") => {
            let body = json!({ "ref": git_ref, "inputs": inputs });
            gh.inner.api.call(Method::POST, &path, Some(&body)).await?;
        }
        Err(e) => return Err(e.into()),
    }
    find_started(gh, repo, workflow, git_ref, since).await
}

/// The run a dispatch without details started: the newest `workflow_dispatch` run of the workflow
/// on that ref by this token's user, created since the dispatch.
async fn find_started(gh: &GithubProvider, repo: &str, workflow: &str, git_ref: &str, since: jiff::Timestamp) -> Result<RunRef, CiError> {
    let login = gh.login().await?;
    let started = tokio::time::Instant::now();
    loop {
        let path = format!(
            "/repos/{repo}/actions/workflows/{workflow}/runs?event=workflow_dispatch&branch={}&actor={login}&per_page=10",
            urlencode(git_ref)
        );
        let runs: super::model::Runs = gh.inner.api.get(&path).await?;
        let found =
            runs.workflow_runs.iter().filter(|r| r.created_at.parse::<jiff::Timestamp>().is_ok_and(|t| t >= since)).max_by_key(|r| r.id);
        if let Some(r) = found {
            return Ok(super::run_ref(&gh.inner.settings.name, repo, r.id));
        }
        if started.elapsed() > FIND_LIMIT {
            return Err(CiError::Other(format!(
                "{workflow} was started on {git_ref}, but its run did not appear within {}s; look with `flightdeck runs`",
                FIND_LIMIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOW: &str = r#"
name: deploy
on:
  workflow_dispatch:
    inputs:
      env:
        description: where to
        type: choice
        options: [staging, prod]
        required: true
      dry_run:
        type: boolean
        default: false
      replicas:
        type: number
      note:
        type: string
  push:
    branches: [main]
jobs: {}
"#;

    #[test]
    fn inputs_are_read_from_the_workflow_and_checked() {
        let inputs = declared_inputs(WORKFLOW).unwrap().unwrap();
        assert_eq!(inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["dry_run", "env", "note", "replicas"]);
        let env = inputs.iter().find(|i| i.name == "env").unwrap();
        assert_eq!(
            (env.kind.as_str(), env.required, env.options.clone()),
            ("choice", true, vec!["staging".to_string(), "prod".to_string()])
        );
        let given = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert!(check_inputs(&inputs, &given(&[("env", "prod"), ("dry_run", "true"), ("replicas", "3")])).is_ok());
        let err =
            check_inputs(&inputs, &given(&[("env", "moon"), ("dry_run", "maybe"), ("replicas", "x"), ("colour", "red")])).unwrap_err();
        for needle in ["must be one of staging, prod", "true or false", "must be a number", "no input `colour`"] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(check_inputs(&inputs, &given(&[])).unwrap_err().contains("`env` is required"));
        assert_eq!(declared_inputs("on: [push]\njobs: {}\n").unwrap(), None);
        assert_eq!(declared_inputs("on: workflow_dispatch\n").unwrap(), Some(Vec::new()));
    }
}
