//! The GitHub double held to someone else's contract: every exchange of the provider's scenarios
//! (answers, and the requests flightdeck sent) is validated against GitHub's published OpenAPI
//! description (npm @octokit/openapi 23.0.2), and the real `gh` reads the double over TLS as an
//! Enterprise Server.

mod support;

use std::path::PathBuf;
use std::process::Command;

use flightdeck::ci::CiProvider;
use flightdeck::ci::github::GithubProvider;
use flightdeck::domain::{GateDecision, Trigger};
use support::github::{GithubDouble, TOKEN};

const REPO: &str = "acme/shop";

const DEPLOY: &str = "name: deploy\non:\n  workflow_dispatch:\n    inputs:\n      env:\n        type: choice\n        options: [staging, production]\n        required: true\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - name: Test\n        run: make test\n  deploy:\n    needs: build\n    environment: production\n    runs-on: ubuntu-latest\n    steps:\n      - name: Ship\n        run: ./ship\n";

/// Where `make test` installs the contract's tools (the OpenAPI description and its validator).
fn tools() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-tools");
    assert!(
        dir.join("node_modules/@octokit/openapi/generated/api.github.com.json").exists() && dir.join("venv/bin/python").exists(),
        "GitHub's OpenAPI description and the validator are missing: run `make test-tools` (make test runs it)"
    );
    dir
}

fn gh_available() {
    let ok = Command::new("gh").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "the real GitHub CLI is needed: apt-get install gh (make test installs it)");
}

fn provider(gh: &GithubDouble) -> GithubProvider {
    gh.provider(REPO)
}

/// Everything the provider does, once: the exchanges the contract is checked on.
async fn scenario(gh: &GithubDouble) {
    gh.add_workflow(REPO, "deploy.yml", DEPLOY);
    let p = provider(gh);
    let trigger = |env: &str| Trigger {
        actor: "alice".into(),
        via: "cli".into(),
        git_ref: Some("main".into()),
        inputs: [("env".into(), env.into())].into(),
    };
    let run = p.trigger(format!("{REPO}:deploy.yml"), trigger("production")).await.unwrap();
    let id: u64 = run.id.rsplit(':').next().unwrap().parse().unwrap();
    gh.advance_until_settled(id);
    p.list_runs(Default::default()).await.unwrap();
    p.list_runs(Default::default()).await.unwrap();
    p.read_log(run.clone(), "build".into()).await.unwrap();
    let decide = |approved| GateDecision { approved, by: "carol".into(), at: jiff::Timestamp::now(), comment: "ok".into() };
    p.decide_gate(run.clone(), "environment production".into(), decide(true)).await.unwrap();
    p.decide_gate(run.clone(), "environment production".into(), decide(false)).await.unwrap_err();
    gh.advance_until_settled(id);
    // Which version is in which environment.
    use flightdeck::delivery::RolloutProvider;
    let deployed = flightdeck::ci::github::GithubDeployments::of(provider(gh)).list().await.unwrap();
    assert_eq!(deployed.len(), 1, "production was deployed");
    p.retry(run.clone(), trigger("production")).await.unwrap();
    p.cancel(run.clone()).await.unwrap();
    gh.advance_until_settled(id);
    p.retry_scoped(run.clone(), trigger("production"), flightdeck::ci::RetryScope::Job("build".into())).await.unwrap();
    p.force_cancel(run.clone()).await.unwrap();
    gh.add_artifact(id, "scan-reports", b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec());
    p.run(run.clone()).await.unwrap();
    p.login().await.unwrap();
    // A first-time contributor's run, let start (github.com only: Enterprise Server 3.19's
    // description has no such operation).
    if !gh.enterprise {
        let held = gh.start_run(REPO, "deploy.yml", "feature", "newcomer", "pull_request");
        gh.hold_for_approval(held);
        let decide_held = GateDecision { approved: true, by: "carol".into(), at: jiff::Timestamp::now(), comment: String::new() };
        p.decide_gate(flightdeck::ci::github::run_ref("gh", REPO, held), "let a first-time contributor's run start".into(), decide_held)
            .await
            .unwrap();
    }
    // Errors: an unknown run, then a spent budget.
    p.run(flightdeck::ci::github::run_ref("gh", REPO, 1)).await.unwrap_err();
    gh.with(|s| s.remaining = 0);
    p.list_runs(Default::default()).await.unwrap_err();
}

fn check(gh: &GithubDouble, description: &str) -> String {
    let tools = tools();
    let exchanges = tempfile::NamedTempFile::new().unwrap();
    let mut lines = String::new();
    for e in gh.exchanges() {
        let line =
            serde_json::json!({"method": e.method, "path": e.path, "status": e.status, "body": e.body, "request_body": e.request_body});
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    std::fs::write(exchanges.path(), lines).unwrap();
    let out = Command::new(tools.join("venv/bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract/openapi_check.py"))
        .arg(tools.join("node_modules/@octokit/openapi/generated").join(description))
        .arg(exchanges.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the double's exchanges do not match {description}:\n{text}");
    eprintln!("{description}: {}", text.lines().last().unwrap_or_default());
    text
}

fn validated(report: &str) -> usize {
    report
        .lines()
        .last()
        .and_then(|l| l.split(" exchanges, ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exchange_matches_the_description_of_api_github_com() {
    let gh = GithubDouble::start(false).await;
    scenario(&gh).await;
    let report = check(&gh, "api.github.com.json");
    assert!(validated(&report) >= 20, "bodies were validated: {report}");
    // The codes the scenario meant to produce were produced.
    let statuses: Vec<u16> = gh.exchanges().iter().map(|e| e.status).collect();
    for code in [200, 201, 202, 302, 304, 403, 404] {
        assert!(statuses.contains(&code), "no {code} in {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enterprise_server_without_run_details_matches_its_own_description() {
    let gh = GithubDouble::start(true).await;
    gh.with(|s| s.no_run_details = true);
    scenario(&gh).await;
    let report = check(&gh, "ghes-3.19.json");
    assert!(validated(&report) >= 20, "bodies were validated: {report}");
    assert!(gh.exchanges().iter().any(|e| e.status == 422 && e.path.ends_with("/dispatches")), "the field was refused, then the run found");
}

struct Gh {
    home: tempfile::TempDir,
    host: String,
}

impl Gh {
    async fn run(&self, args: &[&str]) -> String {
        let mut c = Command::new("gh");
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("GH_CONFIG_DIR", self.home.path().join("gh"))
            .env("SSL_CERT_FILE", self.home.path().join("ca.pem"))
            .env("GH_HOST", &self.host)
            .env("GH_ENTERPRISE_TOKEN", TOKEN)
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_PROMPT_DISABLED", "1")
            .env("NO_COLOR", "1");
        let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "gh {args:?}: {text}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_gh_reads_runs_jobs_and_reviews_from_the_double_over_tls() {
    gh_available();
    let double = GithubDouble::start(true).await;
    double.add_workflow(REPO, "deploy.yml", DEPLOY);
    let done = double.start_run(REPO, "deploy.yml", "main", "bob", "push");
    double.advance_until_settled(done);
    let (port, ca, _task) = support::github::tls::serve_tls(&double).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("ca.pem"), ca).unwrap();
    let gh = Gh { home, host: format!("localhost:{port}") };
    let repo = format!("localhost:{port}/{REPO}");

    let list: serde_json::Value =
        serde_json::from_str(&gh.run(&["run", "list", "-R", &repo, "--json", "databaseId,status,workflowName,headBranch,event"]).await)
            .unwrap();
    assert_eq!(list[0]["databaseId"], done);
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["workflowName"].as_str(), list[0]["event"].as_str()),
        (Some("waiting"), Some("deploy"), Some("push"))
    );

    let view: serde_json::Value =
        serde_json::from_str(&gh.run(&["run", "view", &done.to_string(), "-R", &repo, "--json", "jobs,status"]).await).unwrap();
    let jobs: Vec<(&str, &str)> =
        view["jobs"].as_array().unwrap().iter().map(|j| (j["name"].as_str().unwrap(), j["status"].as_str().unwrap())).collect();
    assert_eq!(jobs, [("build", "completed"), ("deploy", "waiting")]);
    assert_eq!(view["jobs"][0]["steps"][0]["name"], "Test");

    let pending: serde_json::Value =
        serde_json::from_str(&gh.run(&["api", &format!("repos/{REPO}/actions/runs/{done}/pending_deployments")]).await).unwrap();
    assert_eq!(pending[0]["environment"]["name"], "production");
    assert_eq!(pending[0]["current_user_can_approve"], true);
    // What gh cannot do (review a deployment) it can only as a raw API call; flightdeck's review is
    // the same request, and the double answers gh's the same way.
    let env_id = pending[0]["environment"]["id"].as_u64().unwrap().to_string();
    gh.run(&[
        "api",
        "-X",
        "POST",
        &format!("repos/{REPO}/actions/runs/{done}/pending_deployments"),
        "-F",
        &format!("environment_ids[]={env_id}"),
        "-f",
        "state=approved",
        "-f",
        "comment=by gh",
    ])
    .await;
    let approvals: serde_json::Value =
        serde_json::from_str(&gh.run(&["api", &format!("repos/{REPO}/actions/runs/{done}/approvals")]).await).unwrap();
    assert_eq!(approvals[0]["state"], "approved");
    assert_eq!(approvals[0]["comment"], "by gh");
}
