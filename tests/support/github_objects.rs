//! The GitHub double's objects, whole: every field GitHub's OpenAPI description requires, so the
//! contract check (tests/github_contract.rs) can hold every answer against it.

use serde_json::{Value, json};

pub const HOST: &str = "https://github.example";

pub fn user(login: &str, id: u64) -> Value {
    let u = format!("{HOST}/api/v3/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"), "avatar_url": format!("{HOST}/avatars/{login}"),
        "gravatar_id": "", "url": u, "html_url": format!("{HOST}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false
    })
}

pub fn minimal_repository(full_name: &str, id: u64) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let u = format!("{HOST}/api/v3/repos/{full_name}");
    let mut r = json!({
        "id": id, "node_id": format!("R_{id}"), "name": name, "full_name": full_name, "owner": user(owner, 1000 + id),
        "private": true, "html_url": format!("{HOST}/{full_name}"), "description": null, "fork": false, "url": u,
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
    let mut r = minimal_repository(full_name, id);
    let u = format!("{HOST}/{full_name}");
    for (k, v) in [
        ("clone_url", json!(format!("{u}.git"))),
        ("git_url", json!(format!("git://github.example/{full_name}.git"))),
        ("ssh_url", json!(format!("git@github.example:{full_name}.git"))),
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
        ("forks", json!(0)),
        ("open_issues", json!(0)),
        ("watchers", json!(0)),
    ] {
        r[k] = v;
    }
    r
}

pub fn workflow(repo: &str, id: u64, file: &str, name: &str) -> Value {
    json!({
        "id": id, "node_id": format!("W_{id}"), "name": name, "path": format!(".github/workflows/{file}"), "state": "active",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
        "url": format!("{HOST}/api/v3/repos/{repo}/actions/workflows/{id}"), "html_url": format!("{HOST}/{repo}/blob/main/.github/workflows/{file}"),
        "badge_url": format!("{HOST}/{repo}/workflows/{name}/badge.svg")
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
    let u = format!("{HOST}/api/v3/repos/{}/actions/runs/{}", f.repo, f.id);
    json!({
        "id": f.id, "node_id": format!("WFR_{}", f.id), "name": f.name, "display_title": f.title, "head_branch": f.branch,
        "head_sha": f.sha, "path": format!(".github/workflows/{}", f.file), "run_number": f.number, "run_attempt": f.attempt,
        "event": f.event, "status": f.status, "conclusion": f.conclusion, "workflow_id": f.workflow_id,
        "url": u, "html_url": format!("{HOST}/{}/actions/runs/{}", f.repo, f.id), "pull_requests": [],
        "created_at": f.created_at, "updated_at": f.updated_at, "run_started_at": f.created_at,
        "actor": user(f.actor, 7), "triggering_actor": user(f.actor, 7),
        "jobs_url": format!("{u}/jobs"), "logs_url": format!("{u}/logs"), "check_suite_url": format!("{HOST}/api/v3/repos/{}/check-suites/{}", f.repo, f.id),
        "artifacts_url": format!("{u}/artifacts"), "cancel_url": format!("{u}/cancel"), "rerun_url": format!("{u}/rerun"),
        "workflow_url": format!("{HOST}/api/v3/repos/{}/actions/workflows/{}", f.repo, f.workflow_id),
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
    json!({
        "id": f.id, "node_id": format!("J_{}", f.id), "run_id": f.run_id, "run_attempt": f.attempt,
        "run_url": format!("{HOST}/api/v3/repos/{}/actions/runs/{}", f.repo, f.run_id),
        "head_sha": f.sha, "head_branch": f.branch, "workflow_name": f.workflow_name, "name": f.name,
        "url": format!("{HOST}/api/v3/repos/{}/actions/jobs/{}", f.repo, f.id), "html_url": format!("{HOST}/{}/actions/runs/{}/job/{}", f.repo, f.run_id, f.id),
        "status": f.status, "conclusion": f.conclusion, "created_at": f.created_at,
        // GitHub gives a job not yet started its creation time as started_at.
        "started_at": f.started_at.unwrap_or(f.created_at), "completed_at": f.completed_at,
        "check_run_url": format!("{HOST}/api/v3/repos/{}/check-runs/{}", f.repo, f.id), "labels": ["ubuntu-latest"],
        "runner_id": 1, "runner_name": "runner-1", "runner_group_id": 1, "runner_group_name": "Default", "steps": f.steps
    })
}

pub fn step(number: u32, name: &str, status: &str, conclusion: Option<&str>, at: &str) -> Value {
    let done = status == "completed";
    json!({"name": name, "status": status, "conclusion": conclusion, "number": number,
           "started_at": if status == "queued" { Value::Null } else { json!(at) }, "completed_at": if done { json!(at) } else { Value::Null }})
}

pub fn environment_ref(repo: &str, id: u64, name: &str) -> Value {
    json!({"id": id, "node_id": format!("EN_{id}"), "name": name,
           "url": format!("{HOST}/api/v3/repos/{repo}/environments/{name}"), "html_url": format!("{HOST}/{repo}/deployments/activity_log?environments_filter={name}"),
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"})
}
