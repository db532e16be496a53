//! The GitHub double's objects, whole: every field GitHub's OpenAPI description requires, so the
//! contract check (tests/github_contract.rs) can hold every answer against it.

use serde_json::{Value, json};

use std::cell::RefCell;

thread_local! {
    /// The roots links are built on: those of the request being answered (its scheme and Host).
    static ROOTS: RefCell<(String, String)> = RefCell::new(("https://github.example/api/v3".into(), "https://github.example".into()));
}

/// Sets the roots for the answer being built on this thread.
pub fn set_roots(api: String, web: String) {
    ROOTS.with(|r| *r.borrow_mut() = (api, web));
}

/// The API root (`https://HOST/api/v3` on an Enterprise Server).
pub fn api() -> String {
    ROOTS.with(|r| r.borrow().0.clone())
}

/// The web root (`https://HOST`).
pub fn web() -> String {
    ROOTS.with(|r| r.borrow().1.clone())
}

pub fn user(login: &str, id: u64) -> Value {
    let api = api();
    let web = web();
    let u = format!("{api}/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"), "avatar_url": format!("{web}/avatars/{login}"),
        "gravatar_id": "", "url": u, "html_url": format!("{web}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false
    })
}

/// The authenticated user (`GET /user`), as GitHub shows a user to others.
pub fn public_user(login: &str, id: u64) -> Value {
    let mut u = user(login, id);
    for (k, v) in [
        ("user_view_type", json!("public")),
        ("name", json!("Octo Reviewer")),
        ("company", Value::Null),
        ("blog", json!("")),
        ("location", Value::Null),
        ("email", Value::Null),
        ("hireable", Value::Null),
        ("bio", Value::Null),
        ("public_repos", json!(0)),
        ("public_gists", json!(0)),
        ("followers", json!(0)),
        ("following", json!(0)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2026-11-01T00:00:00Z")),
    ] {
        u[k] = v;
    }
    u
}

pub fn minimal_repository(full_name: &str, id: u64) -> Value {
    let api = api();
    let web = web();
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let u = format!("{api}/repos/{full_name}");
    let mut r = json!({
        "id": id, "node_id": format!("R_{id}"), "name": name, "full_name": full_name, "owner": user(owner, 1000 + id),
        "private": true, "html_url": format!("{web}/{full_name}"), "description": null, "fork": false, "url": u,
    });
    for (k, suffix) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        ("notifications_url", "/notifications{?since,all,participating}"),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        r[k] = json!(format!("{u}{suffix}"));
    }
    r
}

/// The full repository (`GET /repos/{owner}/{repo}`): the minimal one with what `full-repository` adds.
pub fn full_repository(full_name: &str, id: u64) -> Value {
    let web = web();
    let mut r = minimal_repository(full_name, id);
    let u = format!("{web}/{full_name}");
    for (k, v) in [
        ("clone_url", json!(format!("{u}.git"))),
        ("git_url", json!(format!("git://localhost/{full_name}.git"))),
        ("ssh_url", json!(format!("git@localhost:{full_name}.git"))),
        ("svn_url", json!(u)),
        ("mirror_url", Value::Null),
        ("homepage", Value::Null),
        ("language", json!("Rust")),
        ("forks_count", json!(0)),
        ("stargazers_count", json!(0)),
        ("watchers_count", json!(0)),
        ("size", json!(1)),
        ("default_branch", json!("main")),
        ("open_issues_count", json!(0)),
        ("topics", json!([])),
        ("has_issues", json!(true)),
        ("has_projects", json!(false)),
        ("has_wiki", json!(false)),
        ("has_pages", json!(false)),
        ("has_downloads", json!(true)),
        ("has_discussions", json!(false)),
        ("archived", json!(false)),
        ("disabled", json!(false)),
        ("visibility", json!("private")),
        ("pushed_at", json!("2026-11-28T09:00:00Z")),
        ("created_at", json!("2026-01-01T00:00:00Z")),
        ("updated_at", json!("2026-11-28T09:00:00Z")),
        ("subscribers_count", json!(1)),
        ("network_count", json!(0)),
        ("license", Value::Null),
        ("forks", json!(0)),
        ("open_issues", json!(0)),
        ("watchers", json!(0)),
    ] {
        r[k] = v;
    }
    r
}

pub fn workflow(repo: &str, id: u64, file: &str, name: &str) -> Value {
    let api = api();
    let web = web();
    json!({
        "id": id, "node_id": format!("W_{id}"), "name": name, "path": format!(".github/workflows/{file}"), "state": "active",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
        "url": format!("{api}/repos/{repo}/actions/workflows/{id}"), "html_url": format!("{web}/{repo}/blob/main/.github/workflows/{file}"),
        "badge_url": format!("{web}/{repo}/workflows/{name}/badge.svg")
    })
}

pub struct RunFields<'a> {
    pub repo: &'a str,
    pub repo_id: u64,
    pub id: u64,
    pub number: u64,
    pub workflow_id: u64,
    pub file: &'a str,
    pub name: &'a str,
    pub title: &'a str,
    pub branch: &'a str,
    pub sha: &'a str,
    pub event: &'a str,
    pub status: &'a str,
    pub conclusion: Option<&'a str>,
    pub attempt: u32,
    pub actor: &'a str,
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

pub fn workflow_run(f: &RunFields<'_>) -> Value {
    let api = api();
    let web = web();
    let u = format!("{api}/repos/{}/actions/runs/{}", f.repo, f.id);
    json!({
        "id": f.id, "node_id": format!("WFR_{}", f.id), "name": f.name, "display_title": f.title, "head_branch": f.branch,
        "head_sha": f.sha, "path": format!(".github/workflows/{}", f.file), "run_number": f.number, "run_attempt": f.attempt,
        "event": f.event, "status": f.status, "conclusion": f.conclusion, "workflow_id": f.workflow_id,
        "url": u, "html_url": format!("{web}/{}/actions/runs/{}", f.repo, f.id), "pull_requests": [],
        "created_at": f.created_at, "updated_at": f.updated_at, "run_started_at": f.created_at,
        "actor": user(f.actor, 7), "triggering_actor": user(f.actor, 7),
        "jobs_url": format!("{u}/jobs"), "logs_url": format!("{u}/logs"), "check_suite_url": format!("{api}/repos/{}/check-suites/{}", f.repo, f.id),
        "artifacts_url": format!("{u}/artifacts"), "cancel_url": format!("{u}/cancel"), "rerun_url": format!("{u}/rerun"),
        "workflow_url": format!("{api}/repos/{}/actions/workflows/{}", f.repo, f.workflow_id),
        "head_commit": {"id": f.sha, "tree_id": f.sha, "message": f.title, "timestamp": f.created_at,
                        "author": {"name": f.actor, "email": format!("{}@example.com", f.actor)},
                        "committer": {"name": f.actor, "email": format!("{}@example.com", f.actor)}},
        "repository": minimal_repository(f.repo, f.repo_id), "head_repository": minimal_repository(f.repo, f.repo_id)
    })
}

pub struct JobFields<'a> {
    pub repo: &'a str,
    pub run_id: u64,
    pub id: u64,
    pub name: &'a str,
    pub workflow_name: &'a str,
    pub branch: &'a str,
    pub sha: &'a str,
    pub status: &'a str,
    pub conclusion: Option<&'a str>,
    pub started_at: Option<&'a str>,
    pub completed_at: Option<&'a str>,
    pub created_at: &'a str,
    pub attempt: u32,
    pub steps: Vec<Value>,
}

pub fn job(f: &JobFields<'_>) -> Value {
    let api = api();
    let web = web();
    json!({
        "id": f.id, "node_id": format!("J_{}", f.id), "run_id": f.run_id, "run_attempt": f.attempt,
        "run_url": format!("{api}/repos/{}/actions/runs/{}", f.repo, f.run_id),
        "head_sha": f.sha, "head_branch": f.branch, "workflow_name": f.workflow_name, "name": f.name,
        "url": format!("{api}/repos/{}/actions/jobs/{}", f.repo, f.id), "html_url": format!("{web}/{}/actions/runs/{}/job/{}", f.repo, f.run_id, f.id),
        "status": f.status, "conclusion": f.conclusion, "created_at": f.created_at,
        // GitHub gives a job not yet started its creation time as started_at.
        "started_at": f.started_at.unwrap_or(f.created_at), "completed_at": f.completed_at,
        "check_run_url": format!("{api}/repos/{}/check-runs/{}", f.repo, f.id), "labels": ["ubuntu-latest"],
        "runner_id": 1, "runner_name": "runner-1", "runner_group_id": 1, "runner_group_name": "Default", "steps": f.steps
    })
}

pub fn step(number: u32, name: &str, status: &str, conclusion: Option<&str>, at: &str) -> Value {
    let done = status == "completed";
    json!({"name": name, "status": status, "conclusion": conclusion, "number": number,
           "started_at": if status == "queued" { Value::Null } else { json!(at) }, "completed_at": if done { json!(at) } else { Value::Null }})
}

pub fn environment_ref(repo: &str, id: u64, name: &str) -> Value {
    let api = api();
    let web = web();
    json!({"id": id, "node_id": format!("EN_{id}"), "name": name,
           "url": format!("{api}/repos/{repo}/environments/{name}"), "html_url": format!("{web}/{repo}/deployments/activity_log?environments_filter={name}"),
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"})
}

pub fn artifact(repo: &str, run: u64, id: u64, name: &str, size: usize, branch: &str, sha: &str) -> Value {
    let api = api();
    json!({"id": id, "node_id": format!("MDg6QXJ0aWZhY3Q{id}"), "name": name, "size_in_bytes": size,
           "url": format!("{api}/repos/{repo}/actions/artifacts/{id}"), "archive_download_url": format!("{api}/repos/{repo}/actions/artifacts/{id}/zip"),
           "expired": false, "created_at": "2026-11-29T10:00:00Z", "expires_at": "2027-02-27T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z",
           "digest": null, "workflow_run": {"id": run, "repository_id": 1, "head_repository_id": 1, "head_branch": branch, "head_sha": sha}})
}

pub fn deployment(d: &super::Deployment) -> Value {
    let api = api();
    let u = format!("{api}/repos/{}/deployments/{}", d.repo, d.id);
    json!({"url": u, "id": d.id, "node_id": format!("DE_{}", d.id), "sha": d.sha, "ref": d.git_ref, "task": "deploy", "payload": {},
           "original_environment": d.environment, "environment": d.environment, "description": null, "creator": user("github-actions[bot]", 41898282),
           "created_at": d.created_at, "updated_at": d.statuses.last().map(|s| s.2.clone()).unwrap_or_else(|| d.created_at.clone()),
           "statuses_url": format!("{u}/statuses"), "repository_url": format!("{api}/repos/{}", d.repo),
           "transient_environment": false, "production_environment": d.environment == "production"})
}

pub fn deployment_status(d: &super::Deployment, id: u64, state: &str, at: &str) -> Value {
    let (api, web) = (api(), web());
    let run_url = format!("{web}/{}/actions/runs/{}", d.repo, d.run);
    json!({"url": format!("{api}/repos/{}/deployments/{}/statuses/{id}", d.repo, d.id), "id": id, "node_id": format!("DES_{id}"), "state": state,
           "creator": user("github-actions[bot]", 41898282), "description": "", "environment": d.environment, "target_url": run_url, "log_url": run_url,
           "environment_url": "", "created_at": at, "updated_at": at, "deployment_url": format!("{api}/repos/{}/deployments/{}", d.repo, d.id),
           "repository_url": format!("{api}/repos/{}", d.repo)})
}
