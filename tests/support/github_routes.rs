//! The GitHub double's routes and its runs' progress.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::Digest;

use super::objects::{self, JobFields, RunFields};
use super::{BUDGET, Exchange, JobState, LOGIN, Reply, Request, RunState, State, TOKEN};

pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn message(status: u16, text: &str) -> (u16, Value) {
    (status, json!({"message": text, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}))
}

pub(super) fn answer(state: &Arc<Mutex<State>>, req: &Request, enterprise: bool, tls: bool, storage_port: u16) -> Reply {
    let host = req.headers.get("host").cloned().unwrap_or_else(|| "localhost".into());
    let scheme = if tls { "https" } else { "http" };
    let web = format!("{scheme}://{host}");
    objects::set_roots(if enterprise { format!("{web}/api/v3") } else { web.clone() }, web);
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let path = if enterprise { req.path.strip_prefix("/api/v3").unwrap_or("/not-the-api").to_string() } else { req.path.clone() };
    let auth = req.headers.get("authorization").cloned().unwrap_or_default();
    let authorized = auth == format!("Bearer {TOKEN}") || auth == format!("token {TOKEN}");
    let request_body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let reset = (jiff::Timestamp::now().as_second() / 3600 + 1) * 3600;
    let mut headers = vec![("Content-Type".to_string(), "application/json; charset=utf-8".to_string())];
    let (status, body, extra) = if !authorized {
        let (s, b) = message(401, "Bad credentials");
        (s, b, Vec::new())
    } else if let Some(wait) = st.secondary_limit.take() {
        let (s, b) = message(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.");
        (s, b, vec![("Retry-After".to_string(), wait.to_string())])
    } else if st.read_only_token && req.method == "POST" {
        let (s, b) = message(403, "Resource not accessible by personal access token");
        (s, b, Vec::new())
    } else if st.remaining == 0 && path != "/rate_limit" {
        let (s, b) = message(403, "API rate limit exceeded for user ID 7.");
        (s, b, Vec::new())
    } else {
        let (s, b, extra) = route(&mut st, &req.method, &path, req, &request_body, storage_port);
        (s, b, extra)
    };
    headers.extend(extra);
    // ETags: an unchanged GET answers 304, which costs no budget.
    let text = if status == 204 || status == 302 { Vec::new() } else { serde_json::to_vec(&body).unwrap() };
    let etag = format!("W/\"{}\"", hex::encode(&sha2::Sha256::digest(&text)[..12]));
    let not_modified = req.method == "GET" && status == 200 && req.headers.get("if-none-match") == Some(&etag);
    let counted = authorized && !not_modified && path != "/rate_limit";
    if counted && st.remaining > 0 {
        st.remaining -= 1;
    }
    if authorized {
        headers.push(("X-RateLimit-Limit".into(), BUDGET.to_string()));
        headers.push(("X-RateLimit-Remaining".into(), st.remaining.to_string()));
        headers.push(("X-RateLimit-Reset".into(), reset.to_string()));
        headers.push(("X-RateLimit-Used".into(), (BUDGET - st.remaining).to_string()));
        headers.push(("X-RateLimit-Resource".into(), "core".into()));
    }
    if req.method == "GET" && status == 200 {
        headers.push(("ETag".into(), etag));
    }
    st.exchanges.push(Exchange {
        method: req.method.clone(),
        path: path.clone(),
        query: req.query.clone(),
        status: if not_modified { 304 } else { status },
        body: if not_modified { Value::Null } else { body },
        authorized,
        request_body,
    });
    if not_modified {
        return Reply { status: 304, headers, body: Vec::new() };
    }
    Reply { status, headers, body: text }
}

type Routed = (u16, Value, Vec<(String, String)>);

fn route(st: &mut State, method: &str, path: &str, req: &Request, body: &Value, storage_port: u16) -> Routed {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ok = |v: Value| (200, v, Vec::new());
    let not_found = || {
        let (s, b) = message(404, "Not Found");
        (s, b, Vec::new())
    };
    match (method, &seg[..]) {
        ("GET", ["user"]) => ok(objects::public_user(LOGIN, 7)),
        ("GET", ["rate_limit"]) => {
            let core = json!({"limit": BUDGET, "remaining": st.remaining, "reset": jiff::Timestamp::now().as_second() + 3600, "used": BUDGET - st.remaining});
            ok(json!({"resources": {"core": core, "search": core}, "rate": core}))
        }
        ("GET", ["repos", o, r]) => match st.repos.get(&format!("{o}/{r}")) {
            Some((id, _)) => {
                let mut repo = objects::full_repository(&format!("{o}/{r}"), *id);
                let write = !st.read_only_token;
                repo["permissions"] = json!({"admin": false, "maintain": false, "push": write, "triage": true, "pull": true});
                ok(repo)
            }
            None => not_found(),
        },
        (_, ["repos", o, r, rest @ ..]) if !st.repos.contains_key(&format!("{o}/{r}")) => {
            let _ = rest;
            not_found()
        }
        ("GET", ["repos", o, r, "actions", "workflows"]) => {
            let repo = format!("{o}/{r}");
            let ws: Vec<Value> = st.repos[&repo].1.iter().map(|w| objects::workflow(&repo, w.id, &w.file, &w.name)).collect();
            ok(json!({"total_count": ws.len(), "workflows": ws}))
        }
        ("GET", ["repos", o, r, "actions", "workflows", wf]) => {
            let repo = format!("{o}/{r}");
            match st.repos[&repo].1.iter().find(|w| w.file == *wf || w.id.to_string() == *wf) {
                Some(w) => ok(objects::workflow(&repo, w.id, &w.file, &w.name)),
                None => not_found(),
            }
        }
        ("GET", ["repos", _, _, "check-runs", _, "annotations"]) => ok(json!([])),
        ("GET", ["repos", o, r, "contents", ".github", "workflows", file]) => {
            let repo = format!("{o}/{r}");
            match st.repos[&repo].1.iter().find(|w| w.file == *file) {
                Some(w) => {
                    use base64::Engine;
                    let content = base64::engine::general_purpose::STANDARD.encode(&w.yaml);
                    let p = format!(".github/workflows/{file}");
                    let u = format!("{}/repos/{repo}/contents/{p}", objects::api());
                    ok(json!({"type": "file", "encoding": "base64", "size": w.yaml.len(), "name": file, "path": p, "content": content,
                              "sha": "3d21ec53a331a6f037a91c368710b99387d012c1", "url": u, "git_url": null, "html_url": null, "download_url": null,
                              "_links": {"self": u, "git": null, "html": null}}))
                }
                None => not_found(),
            }
        }
        ("GET", ["repos", o, r, "actions", "runs"]) => ok(list_runs(st, &format!("{o}/{r}"), None, req)),
        ("GET", ["repos", o, r, "deployments"]) => {
            let repo = format!("{o}/{r}");
            let env = req.query.get("environment");
            let list: Vec<Value> = st
                .deployments
                .iter()
                .rev()
                .filter(|d| d.repo == repo && env.is_none_or(|e| &d.environment == e))
                .map(objects::deployment)
                .collect();
            ok(Value::Array(list))
        }
        ("GET", ["repos", o, r, "deployments", id, "statuses"]) => {
            let repo = format!("{o}/{r}");
            match st.deployments.iter().find(|d| d.repo == repo && d.id.to_string() == *id) {
                Some(d) => ok(Value::Array(
                    d.statuses.iter().rev().map(|(sid, state, at)| objects::deployment_status(d, *sid, state, at)).collect(),
                )),
                None => not_found(),
            }
        }
        ("GET", ["repos", o, r, "actions", "workflows", wf, "runs"]) => {
            let repo = format!("{o}/{r}");
            match workflow_file(st, &repo, wf) {
                Some(file) => ok(list_runs(st, &repo, Some(&file), req)),
                None => not_found(),
            }
        }
        ("POST", ["repos", o, r, "actions", "workflows", wf, "dispatches"]) => {
            let repo = format!("{o}/{r}");
            let Some(file) = workflow_file(st, &repo, wf) else { return not_found() };
            if st.no_run_details && body.get("return_run_details").is_some() {
                let (s, b) = message(422, "Invalid request.\n\n\"return_run_details\" is not a permitted key.");
                return (s, b, Vec::new());
            }
            let Some(git_ref) = body["ref"].as_str() else {
                let (s, b) = message(422, "Invalid request.\n\n\"ref\" wasn't supplied.");
                return (s, b, Vec::new());
            };
            match create_run(st, &repo, &file, git_ref, LOGIN, "workflow_dispatch", body["inputs"].clone()) {
                Ok(id) if body["return_run_details"] == json!(true) => ok(json!({
                    "workflow_run_id": id,
                    "run_url": format!("{}/repos/{repo}/actions/runs/{id}", objects::api()),
                    "html_url": format!("{}/{repo}/actions/runs/{id}", objects::web()),
                })),
                Ok(_) => (204, Value::Null, Vec::new()),
                Err(m) => {
                    let (s, b) = message(422, &m);
                    (s, b, Vec::new())
                }
            }
        }
        (_, ["repos", o, r, "actions", "runs", id, rest @ ..]) => {
            let repo = format!("{o}/{r}");
            let Some(id) = id.parse::<u64>().ok().filter(|id| st.runs.get(id).is_some_and(|run| run.repo == repo)) else {
                return not_found();
            };
            run_route(st, method, id, rest, body, req)
        }
        ("GET", ["repos", o, r, "actions", "artifacts", id, "zip"]) => {
            let repo = format!("{o}/{r}");
            let found = id
                .parse::<u64>()
                .ok()
                .filter(|id| st.runs.values().filter(|r| r.repo == repo).any(|r| r.artifacts.iter().any(|a| a.0 == *id)));
            match found {
                Some(id) => {
                    (302, Value::Null, vec![("Location".into(), format!("http://127.0.0.1:{storage_port}/artifacts/{id}?sig=signed"))])
                }
                None => not_found(),
            }
        }
        ("POST", ["repos", o, r, "actions", "jobs", id, "rerun"]) => {
            let repo = format!("{o}/{r}");
            let Some(job) = id.parse::<u64>().ok() else { return not_found() };
            let Some(run) = st.runs.values_mut().find(|run| run.repo == repo && run.jobs.iter().any(|j| j.id == job)) else {
                return not_found();
            };
            if run.status != "completed" {
                let (s, b) = message(403, "This workflow is already running");
                return (s, b, Vec::new());
            }
            run.attempt += 1;
            run.status = "queued".into();
            run.conclusion = None;
            for j in &mut run.jobs {
                if j.id == job {
                    *j = rerun(j);
                }
            }
            run.updated_at = now();
            (201, json!({}), Vec::new())
        }
        ("GET", ["repos", o, r, "actions", "jobs", id, "logs"]) => {
            let repo = format!("{o}/{r}");
            let job = id
                .parse::<u64>()
                .ok()
                .and_then(|id| st.runs.values().filter(|r| r.repo == repo).flat_map(|r| &r.jobs).find(|j| j.id == id));
            match job {
                Some(j) if j.status == "completed" => {
                    (302, Value::Null, vec![("Location".into(), format!("http://127.0.0.1:{storage_port}/logs/{}?sig=signed", j.id))])
                }
                Some(_) => not_found(),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn workflow_file(st: &State, repo: &str, wf: &str) -> Option<String> {
    st.repos.get(repo)?.1.iter().find(|w| w.file == wf || w.id.to_string() == wf).map(|w| w.file.clone())
}

fn list_runs(st: &State, repo: &str, file: Option<&str>, req: &Request) -> Value {
    let q = &req.query;
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30).min(100);
    let runs: Vec<Value> = st
        .runs
        .values()
        .rev()
        .filter(|r| r.repo == repo && file.is_none_or(|f| r.file == f))
        .filter(|r| q.get("branch").is_none_or(|b| &r.branch == b))
        .filter(|r| q.get("event").is_none_or(|e| &r.event == e))
        .filter(|r| q.get("actor").is_none_or(|a| &r.actor == a))
        .filter(|r| q.get("status").is_none_or(|s| &r.status == s || r.conclusion.as_ref() == Some(s)))
        .collect::<Vec<_>>()
        .iter()
        .map(|r| run_json(st, r))
        .collect();
    let total = runs.len();
    json!({"total_count": total, "workflow_runs": runs.into_iter().take(per_page).collect::<Vec<_>>()})
}

fn run_json(st: &State, r: &RunState) -> Value {
    objects::workflow_run(&RunFields {
        repo: &r.repo,
        repo_id: st.repos.get(&r.repo).map(|x| x.0).unwrap_or(1),
        id: r.id,
        number: r.number,
        workflow_id: r.workflow_id,
        file: &r.file,
        name: &r.name,
        title: &r.title,
        branch: &r.branch,
        sha: &r.sha,
        event: &r.event,
        status: &r.status,
        conclusion: r.conclusion.as_deref(),
        attempt: r.attempt,
        actor: &r.actor,
        created_at: &r.created_at,
        updated_at: &r.updated_at,
    })
}

fn run_route(st: &mut State, method: &str, id: u64, rest: &[&str], body: &Value, _req: &Request) -> Routed {
    let ok = |v: Value| (200, v, Vec::new());
    match (method, rest) {
        ("GET", []) => ok(run_json(st, &st.runs[&id])),
        ("GET", ["jobs"]) => {
            let r = &st.runs[&id];
            let jobs: Vec<Value> = r
                .jobs
                .iter()
                .map(|j| {
                    let steps = j
                        .steps
                        .iter()
                        .enumerate()
                        .map(|(i, (n, s, c))| {
                            objects::step(i as u32 + 1, n, s, c.as_deref(), j.started_at.as_deref().unwrap_or(&r.created_at))
                        })
                        .collect();
                    objects::job(&JobFields {
                        repo: &r.repo,
                        run_id: r.id,
                        id: j.id,
                        name: &j.name,
                        workflow_name: &r.name,
                        branch: &r.branch,
                        sha: &r.sha,
                        status: &j.status,
                        conclusion: j.conclusion.as_deref(),
                        started_at: j.started_at.as_deref(),
                        completed_at: j.completed_at.as_deref(),
                        created_at: &r.created_at,
                        attempt: r.attempt,
                        steps,
                    })
                })
                .collect();
            ok(json!({"total_count": jobs.len(), "jobs": jobs}))
        }
        ("GET", ["approvals"]) => ok(Value::Array(st.runs[&id].approvals.clone())),
        ("GET", ["artifacts"]) => {
            let r = &st.runs[&id];
            let list: Vec<Value> = r
                .artifacts
                .iter()
                .map(|(aid, name, zip)| objects::artifact(&r.repo, r.id, *aid, name, zip.len(), &r.branch, &r.sha))
                .collect();
            ok(json!({"total_count": list.len(), "artifacts": list}))
        }
        ("GET", ["pending_deployments"]) => {
            let r = &st.runs[&id];
            let may = st.reviewer_may_approve;
            let pending: Vec<Value> = r
                .pending
                .iter()
                .map(|(env_id, name, reviewers, _, since)| {
                    json!({"environment": objects::environment_ref(&r.repo, *env_id, name), "wait_timer": 0, "wait_timer_started_at": since,
                           "current_user_can_approve": may, "reviewers": reviewers})
                })
                .collect();
            ok(Value::Array(pending))
        }
        ("POST", ["pending_deployments"]) => review(st, id, body),
        ("POST", ["approve"]) => {
            let r = st.runs.get_mut(&id).unwrap();
            if r.conclusion.as_deref() != Some("action_required") {
                let (s, b) = message(403, "This run is not waiting for approval");
                return (s, b, Vec::new());
            }
            r.status = "queued".into();
            r.conclusion = None;
            r.updated_at = now();
            (201, json!({}), Vec::new())
        }
        ("POST", ["cancel" | "force-cancel"]) => {
            let r = st.runs.get_mut(&id).unwrap();
            if r.status == "completed" {
                let (s, b) = message(409, "Cannot cancel a workflow run that is completed.");
                return (s, b, Vec::new());
            }
            r.status = "completed".into();
            r.conclusion = Some("cancelled".into());
            r.pending.clear();
            for j in &mut r.jobs {
                if j.status != "completed" {
                    j.status = "completed".into();
                    j.conclusion = Some("cancelled".into());
                    j.completed_at = Some(now());
                }
            }
            r.updated_at = now();
            (202, json!({}), Vec::new())
        }
        ("POST", [verb @ ("rerun" | "rerun-failed-jobs")]) => {
            let r = st.runs.get_mut(&id).unwrap();
            if r.status != "completed" {
                let (s, b) = message(403, "This workflow is already running");
                return (s, b, Vec::new());
            }
            r.attempt += 1;
            r.status = "queued".into();
            r.conclusion = None;
            for j in &mut r.jobs {
                if *verb == "rerun" || j.conclusion.as_deref() != Some("success") {
                    *j = rerun(j);
                }
            }
            r.updated_at = now();
            (201, json!({}), Vec::new())
        }
        _ => {
            let (s, b) = message(404, "Not Found");
            (s, b, Vec::new())
        }
    }
}

fn reset_steps(steps: &[(String, String, Option<String>)]) -> Vec<(String, String, Option<String>)> {
    steps.iter().map(|(n, _, _)| (n.clone(), "queued".to_string(), None)).collect()
}

/// `POST pending_deployments`: approve or reject environments that wait.
fn review(st: &mut State, id: u64, body: &Value) -> Routed {
    if !st.reviewer_may_approve {
        let (s, b) = message(422, "Unprocessable Entity: you are not a required reviewer of this environment");
        return (s, b, Vec::new());
    }
    let ids: Vec<u64> = body["environment_ids"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    let state = body["state"].as_str().unwrap_or("");
    let r = st.runs.get_mut(&id).unwrap();
    let reviewed: Vec<(u64, String)> = r.pending.iter().filter(|p| ids.contains(&p.0)).map(|p| (p.0, p.1.clone())).collect();
    if reviewed.is_empty() || !matches!(state, "approved" | "rejected") {
        let (s, b) = message(422, "No pending deployment requests to approve or reject");
        return (s, b, Vec::new());
    }
    let envs: Vec<Value> = reviewed.iter().map(|(i, n)| objects::environment_ref(&r.repo, *i, n)).collect();
    r.approvals.push(
        json!({"environments": envs, "state": state, "user": objects::user(LOGIN, 7), "comment": body["comment"].as_str().unwrap_or("")}),
    );
    r.pending.retain(|p| !ids.contains(&p.0));
    for j in &mut r.jobs {
        if j.status == "waiting" && j.environment.as_ref().is_some_and(|e| reviewed.iter().any(|(_, n)| n == e)) {
            if state == "approved" {
                j.status = "queued".into();
            } else {
                j.status = "completed".into();
                j.conclusion = Some("failure".into());
                j.completed_at = Some(now());
            }
        }
    }
    if state == "rejected" {
        r.status = "completed".into();
        r.conclusion = Some("failure".into());
        for j in &mut r.jobs {
            if j.status != "completed" {
                j.status = "completed".into();
                j.conclusion = Some("skipped".into());
            }
        }
    } else if r.pending.is_empty() {
        r.status = "in_progress".into();
    }
    r.updated_at = now();
    let deployments: Vec<Value> = reviewed
        .iter()
        .map(|(i, n)| {
            json!({"url": format!("{}/repos/{}/deployments/{i}", objects::api(), r.repo), "id": i, "node_id": format!("DE_{i}"), "task": "deploy",
                   "original_environment": n, "environment": n, "description": null, "created_at": now(), "updated_at": now(),
                   "statuses_url": format!("{}/repos/{}/deployments/{i}/statuses", objects::api(), r.repo),
                   "repository_url": format!("{}/repos/{}", objects::api(), r.repo), "creator": objects::user(LOGIN, 7), "sha": r.sha, "ref": r.branch,
                   "payload": {}, "transient_environment": false, "production_environment": true})
        })
        .collect();
    (200, Value::Array(deployments), Vec::new())
}

/// A new run of a workflow: queued, one job per job of the file (with its steps and environment).
pub fn create_run(st: &mut State, repo: &str, file: &str, branch: &str, actor: &str, event: &str, inputs: Value) -> Result<u64, String> {
    let wf = st.repos.get(repo).and_then(|r| r.1.iter().find(|w| w.file == file)).cloned().ok_or("no such workflow")?;
    let doc: Value = serde_saphyr::from_str(&wf.yaml).map_err(|e| e.to_string())?;
    st.next_id += 1;
    let id = st.next_id;
    let number = st.runs.values().filter(|r| r.repo == repo).count() as u64 + 1;
    let mut jobs = Vec::new();
    for (name, spec) in doc["jobs"].as_object().cloned().unwrap_or_default() {
        st.next_id += 1;
        let steps = spec["steps"]
            .as_array()
            .map(|s| {
                s.iter()
                    .enumerate()
                    .map(|(i, s)| (s["name"].as_str().map(str::to_string).unwrap_or(format!("step {}", i + 1)), "queued".to_string(), None))
                    .collect()
            })
            .unwrap_or_default();
        let environment = match &spec["environment"] {
            Value::String(e) => Some(e.clone()),
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        jobs.push(JobState {
            id: st.next_id,
            name: spec["name"].as_str().unwrap_or(&name).to_string(),
            status: "queued".into(),
            steps,
            environment,
            log: format!("2026-11-29T10:00:00.0000000Z ##[group]Run {name}\n2026-11-29T10:00:01.0000000Z doing {name}\n2026-11-29T10:00:02.0000000Z ##[endgroup]\n"),
            ..JobState::default()
        });
    }
    let title = doc["run-name"].as_str().map(str::to_string).unwrap_or_else(|| format!("{} on {branch}", wf.name));
    st.runs.insert(
        id,
        RunState {
            id,
            number,
            repo: repo.into(),
            workflow_id: wf.id,
            file: file.into(),
            name: wf.name.clone(),
            title,
            branch: branch.into(),
            sha: format!("{:040x}", id),
            event: event.into(),
            status: "queued".into(),
            conclusion: None,
            attempt: 1,
            actor: actor.into(),
            created_at: now(),
            updated_at: now(),
            inputs,
            jobs,
            pending: Vec::new(),
            approvals: Vec::new(),
            artifacts: Vec::new(),
        },
    );
    Ok(id)
}

/// One change of a run, as its runner would make it.
pub fn advance(st: &mut State, id: u64) {
    let Some(r) = st.runs.get_mut(&id) else { return };
    if r.status == "completed" || r.status == "waiting" {
        return;
    }
    r.status = "in_progress".into();
    r.updated_at = now();
    let approved_envs: Vec<String> = r
        .approvals
        .iter()
        .filter(|a| a["state"] == "approved")
        .flat_map(|a| a["environments"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    let mut deploy_started: Option<String> = None;
    let mut deploy_ended: Option<(String, String)> = None;
    let (repo, branch, sha) = (r.repo.clone(), r.branch.clone(), r.sha.clone());
    let Some(j) = r.jobs.iter_mut().find(|j| j.status != "completed") else {
        let failed = r.jobs.iter().any(|j| j.conclusion.as_deref() == Some("failure"));
        r.status = "completed".into();
        r.conclusion = Some(if failed { "failure" } else { "success" }.into());
        return;
    };
    match j.status.as_str() {
        "queued" => match j.environment.clone() {
            Some(env) if !approved_envs.contains(&env) => {
                j.status = "waiting".into();
                let env_id = 500 + r.pending.len() as u64;
                let reviewers = vec![json!({"type": "User", "reviewer": objects::user(LOGIN, 7)})];
                r.pending.push((env_id, env, reviewers, true, now()));
                r.status = "waiting".into();
            }
            _ => {
                j.status = "in_progress".into();
                j.started_at = Some(now());
                if let Some(s) = j.steps.first_mut() {
                    s.1 = "in_progress".into();
                }
                if let Some(env) = j.environment.clone() {
                    deploy_started = Some(env);
                }
            }
        },
        "in_progress" => match j.steps.iter().position(|s| s.1 != "completed") {
            Some(i) => {
                j.steps[i].1 = "completed".into();
                j.steps[i].2 = Some("success".into());
                if let Some(next) = j.steps.get_mut(i + 1) {
                    next.1 = "in_progress".into();
                } else {
                    j.status = "completed".into();
                    j.conclusion = Some("success".into());
                    j.completed_at = Some(now());
                    deploy_ended = j.environment.clone().map(|e| (e, "success".to_string()));
                }
            }
            None => {
                j.status = "completed".into();
                j.conclusion = Some("success".into());
                j.completed_at = Some(now());
                deploy_ended = j.environment.clone().map(|e| (e, "success".to_string()));
            }
        },
        _ => {}
    }
    // A job with an environment deploys there: in progress while it runs, then how it ended.
    if let Some(env) = deploy_started {
        st.next_id += 1;
        let (deployment, status) = (st.next_id, st.next_id + 1);
        st.next_id += 1;
        st.deployments.push(super::Deployment {
            id: deployment,
            repo,
            environment: env,
            git_ref: branch,
            sha,
            run: id,
            created_at: now(),
            statuses: vec![(status, "in_progress".into(), now())],
        });
    } else if let Some((env, state)) = deploy_ended {
        st.next_id += 1;
        let sid = st.next_id;
        if let Some(d) = st.deployments.iter_mut().rev().find(|d| d.run == id && d.environment == env) {
            d.statuses.push((sid, state, now()));
        }
    }
}

/// A job run again, as GitHub does: a new id, its steps not started, queued.
fn rerun(j: &JobState) -> JobState {
    JobState {
        id: j.id + 100_000,
        name: j.name.clone(),
        environment: j.environment.clone(),
        steps: reset_steps(&j.steps),
        status: "queued".into(),
        ..JobState::default()
    }
}
