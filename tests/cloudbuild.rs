//! Google Cloud Build as a CI provider, against a double held to Cloud Build's discovery document
//! (google-api-python-client's copy) that Google's own Cloud Build client drives too: a build
//! through its approval (approved, a second decision refused, a viewer refused, rejected), a
//! multi-step build's log live with each line given to its step, a failed build retried and
//! cancelled, and Google's errors (429 with backoff, an expired token renewed, a revoked key).

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::gcp::{DEPLOY_PROD, Gcp};

/// The double and flightdeck, with `extra` settings of `[ci.cloudbuild.gcb]`.
fn start_with(extra: &str) -> Gcp {
    Gcp::start(&format!(
        "[environments.production]\nproduction = true\nfour_eyes = false\n\
         [ci.cloudbuild.gcb]\nproject = \"payments-prod\"\nregions = [\"us-central1\"]\ntriggers = [\"deploy-prod\", \"ci-main\"]\n\
         endpoint = \"{{endpoint}}\"\nstorage_endpoint = \"{{endpoint}}\"\n\
         gate_environments = {{ deploy-prod = \"production\" }}\nactive_poll = \"1s\"\n{extra}"
    ))
}

fn start() -> Gcp {
    start_with("")
}

fn run_of(gcp: &Gcp, run: &str) -> Value {
    let runs = gcp.json(&["runs", "--json"]);
    runs.as_array().unwrap().iter().find(|r| r["id"] == run).cloned().unwrap_or_else(|| panic!("no {run} in {runs:#}"))
}

fn job<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["jobs"].as_array().unwrap().iter().find(|j| j["key"] == key).unwrap_or_else(|| panic!("no job {key} in {run:#}"))
}

fn decide(gcp: &Gcp, account: &str, verb: &str, run: &str, reason: &str) -> (i32, String, String) {
    gcp.run_as(account, &[verb, run, "--gate", "approval", "--confirm", "approval", "--reason", reason, "--yes"])
}

/// `flightdeck logs --follow RUN JOB`, its output kept.
fn follow(gcp: &Gcp, run: &str, job: &str) -> std::process::Child {
    gcp.env
        .cmd(&["logs", "--follow", run, job])
        .env("GOOGLE_APPLICATION_CREDENTIALS", gcp.key("release"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// How a follow ended, once the build did, and what it printed.
fn ended(mut follow: std::process::Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = follow.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "logs --follow did not end with the build");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut followed = String::new();
    std::io::Read::read_to_string(&mut follow.stdout.take().unwrap(), &mut followed).unwrap();
    (status, followed)
}

#[test]
fn a_build_through_its_approval() {
    let gcp = start();
    // Google's client starts the trigger; flightdeck sees the build waiting for approval.
    let build = gcp.client("release", &["run", DEPLOY_PROD, "release/1.4"]);
    let id = build["id"].as_str().unwrap();
    let run = format!("gcb:us-central1/{id}");
    let rec = run_of(&gcp, &run);
    assert_eq!((rec["pipeline"].as_str(), rec["status"].as_str()), (Some("deploy-prod"), Some("waiting")), "{rec:#}");
    assert_eq!(rec["trigger"]["git_ref"], "release/1.4");
    let gate = job(&rec, "approval");
    assert_eq!((gate["status"].as_str(), gate["gate"]["environment"].as_str()), (Some("waiting"), Some("production")), "{gate:#}");
    assert_eq!(
        rec["jobs"].as_array().unwrap().iter().map(|j| j["key"].as_str().unwrap()).collect::<Vec<_>>(),
        ["approval", "unit", "scan", "deploy"]
    );
    let inbox = gcp.json(&["approvals", "--json"]);
    assert!(inbox.as_array().unwrap().iter().any(|g| g["run"] == run.as_str()), "{inbox:#}");

    // A viewer is refused by Google, in Google's words; nothing changes.
    let (code, out, err) = decide(&gcp, "viewer", "approve", &run, "looks fine");
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("lacks cloudbuild.builds.approve"), "{err}");

    let (code, out, err) = decide(&gcp, "release", "approve", &run, "CHG-7 reviewed");
    assert_eq!(code, 0, "{out}{err}");
    let seen = gcp.client("release", &["get", id]);
    assert_eq!(seen["approval"]["state"], "APPROVED", "{seen:#}");
    assert_eq!(seen["approval"]["result"]["approverAccount"], "release@payments-prod.iam.gserviceaccount.com");
    assert!(seen["approval"]["result"]["comment"].as_str().unwrap().contains("CHG-7 reviewed"), "{seen:#}");
    assert_eq!(seen["status"], "QUEUED");

    // A second decision is refused with who decided first.
    let (code, _, err) = decide(&gcp, "release", "reject", &run, "changed my mind");
    assert_ne!(code, 0);
    assert!(err.contains("already approved by release@payments-prod.iam.gserviceaccount.com"), "{err}");

    // Another build, rejected: it never runs.
    let other = gcp.client("release", &["run", DEPLOY_PROD])["id"].as_str().unwrap().to_string();
    let other_run = format!("gcb:us-central1/{other}");
    let (code, out, err) = decide(&gcp, "release", "reject", &other_run, "freeze until Monday");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(gcp.client("release", &["get", &other])["approval"]["state"], "REJECTED");
    let rec = run_of(&gcp, &other_run);
    assert_eq!((rec["status"].as_str(), job(&rec, "approval")["status"].as_str()), (Some("cancelled"), Some("failed")), "{rec:#}");
    let (code, log, _) = gcp.run(&["logs", &other_run, "approval"]);
    assert_eq!(code, 0);
    assert!(log.contains("rejected by release@payments-prod.iam.gserviceaccount.com") && log.contains("freeze until Monday"), "{log}");
    gcp.assert_contract_kept();
}

#[test]
fn a_multi_step_build_is_followed_live_step_by_step_then_retried_and_cancelled() {
    let gcp = start();
    let (code, out, err) = gcp.run(&["run", "ci-main", "--ref", "main", "--input", "_ENV=staging", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let id = gcp.control("newest", json!({}))["id"].as_str().unwrap().to_string();
    let run = format!("gcb:us-central1/{id}");
    let sent = gcp.calls()["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["method"] == "cloudbuild.projects.locations.triggers.run")
        .cloned()
        .unwrap();
    assert_eq!(sent["body"]["source"], json!({"branchName": "main", "substitutions": {"_ENV": "staging"}}), "{sent:#}");

    gcp.control("start", json!({"build": id}));
    gcp.control(
        "step",
        json!({"build": id, "index": 0, "lines": ["ok  \tpayments/api\t0.412s", "ok  \tpayments/refunds\t0.207s"], "status": "SUCCESS"}),
    );
    gcp.control("step", json!({"build": id, "index": 1, "lines": ["2026-11-30T02:40:00Z\tINFO\tVulnerability scanning is enabled"]}));
    let rec = run_of(&gcp, &run);
    assert_eq!(rec["status"], "running");
    assert_eq!((job(&rec, "unit")["status"].as_str(), job(&rec, "scan")["status"].as_str()), (Some("success"), Some("running")), "{rec:#}");
    let (code, unit, _) = gcp.run(&["logs", &run, "unit"]);
    assert_eq!(code, 0);
    assert!(unit.contains("payments/refunds") && !unit.contains("Vulnerability"), "only the unit step's lines: {unit}");

    // Followed: lines the scan step writes after the follow began arrive; it ends with the build.
    let follow = follow(&gcp, &run, "scan");
    gcp.control(
        "step",
        json!({"build": id, "index": 1, "lines": ["payments-api:1.4 (debian 12.8)", "Total: 1 (CRITICAL: 1)"], "status": "FAILURE"}),
    );
    gcp.control("finish", json!({"build": id, "status": "FAILURE"}));
    let (status, followed) = ended(follow);
    assert!(followed.contains("Total: 1 (CRITICAL: 1)") && !followed.contains("payments/refunds"), "{followed}");
    assert!(!status.success(), "the build failed, so following it does not exit 0");
    let rec = run_of(&gcp, &run);
    assert_eq!(
        (rec["status"].as_str(), job(&rec, "scan")["status"].as_str(), job(&rec, "deploy")["status"].as_str()),
        (Some("failed"), Some("failed"), Some("skipped"))
    );
    assert!(rec["note"].as_str().unwrap().contains("build step 1 \"aquasec/trivy:0.58.0\" failed"), "{rec:#}");

    // Retried: a new build of the same trigger with the same substitutions; then cancelled.
    let (code, out, err) = gcp.run(&["retry", &run, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let again = gcp.control("newest", json!({}))["id"].as_str().unwrap().to_string();
    assert_ne!(again, id);
    let again_run = format!("gcb:us-central1/{again}");
    assert_eq!(run_of(&gcp, &again_run)["trigger"]["inputs"]["_ENV"], "staging");
    gcp.control("start", json!({"build": again}));
    let (code, out, err) = gcp.run(&["cancel", &again_run, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(gcp.client("release", &["get", &again])["status"], "CANCELLED");
    let (code, _, err) = gcp.run(&["cancel", &again_run, "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("is cancelled; there is nothing to cancel"), "{err}");
    gcp.assert_contract_kept();
}

/// A build that logs to Cloud Logging only: its steps' lines are read from the `cloudbuild` log's
/// entries, live and whole, each given to the step its `build_step` label names.
#[test]
fn a_build_logging_to_cloud_logging_only_is_followed_from_its_entries() {
    let gcp = start_with("logging_endpoint = \"{endpoint}\"\n");
    gcp.control("logging-only", json!({"on": true}));
    let (code, out, err) = gcp.run(&["run", "ci-main", "--ref", "main", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let id = gcp.control("newest", json!({}))["id"].as_str().unwrap().to_string();
    let run = format!("gcb:us-central1/{id}");
    gcp.control("start", json!({"build": id}));
    gcp.control("step", json!({"build": id, "index": 0, "lines": ["ok  \tpayments/api\t0.412s"], "status": "SUCCESS"}));
    gcp.control("step", json!({"build": id, "index": 1, "lines": ["Vulnerability scanning is enabled"]}));
    let follow = follow(&gcp, &run, "scan");
    gcp.control("step", json!({"build": id, "index": 1, "lines": ["Total: 1 (CRITICAL: 1)"], "status": "FAILURE"}));
    gcp.control("finish", json!({"build": id, "status": "FAILURE"}));
    let (_, followed) = ended(follow);
    assert!(followed.contains("Vulnerability scanning is enabled") && followed.contains("Total: 1 (CRITICAL: 1)"), "{followed}");
    assert!(!followed.contains("payments/api"), "only the scan step's lines: {followed}");
    let (code, unit, _) = gcp.run(&["logs", &run, "unit"]);
    assert_eq!(code, 0);
    assert!(unit.contains("payments/api") && unit.contains("0.412s") && !unit.contains("Vulnerability"), "{unit}");
    let asked: Vec<Value> =
        gcp.calls()["calls"].as_array().unwrap().iter().filter(|c| c["method"] == "logging.entries.list").cloned().collect();
    assert!(
        asked.iter().all(|c| c["body"]["filter"].as_str().unwrap().contains(&format!("resource.labels.build_id=\"{id}\""))),
        "{asked:#?}"
    );
    gcp.assert_contract_kept();
}

#[test]
fn a_scan_report_among_the_artifacts_holds_the_gate_and_a_missing_one_fails_it_closed() {
    let gcp = start_with("report_artifacts = [\"trivy.json\"]\n");
    let id = gcp.client("release", &["run", DEPLOY_PROD])["id"].as_str().unwrap().to_string();
    let run = format!("gcb:us-central1/{id}");
    let missing = gcp.json(&["findings", &run, "--json"]);
    assert!(missing.to_string().contains("the build uploaded no artifacts"), "{missing:#}");
    let (code, _, err) = decide(&gcp, "release", "approve", &run, "ship it");
    assert_ne!(code, 0);
    assert!(err.contains("release gate in production: FAIL") && err.contains("unreadable report"), "fails closed: {err}");
    let trivy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reports/trivy.json")).unwrap();
    gcp.control("artifact", json!({"build": id, "name": "trivy.json", "content": trivy}));
    let found = gcp.json(&["findings", &run, "--json"]);
    let text = found.to_string();
    assert!(text.contains("gs://payments-prod-reports/") && text.contains("CVE-"), "{found:#}");
    let (code, _, err) = decide(&gcp, "release", "approve", &run, "ship it");
    assert_ne!(code, 0);
    assert!(err.contains("release gate in production: FAIL") && !err.contains("unreadable"), "held by the report's findings: {err}");
    assert_eq!(gcp.client("release", &["get", &id])["approval"]["state"], "PENDING", "Cloud Build was not asked");
    gcp.assert_contract_kept();
}

#[test]
fn google_s_errors_are_retried_or_said_plainly() {
    let gcp = start();
    // Two 429s are waited out.
    gcp.control("throttle", json!({"count": 2}));
    let (code, _, err) = gcp.run(&["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    // A token that expires early is renewed once, and the call goes through.
    gcp.control("expire", json!({}));
    let before = gcp.calls()["token_requests"].as_u64().unwrap();
    let (code, _, err) = gcp.run(&["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(gcp.calls()["token_requests"].as_u64().unwrap() > before);
    // Throttled without end: said, after the retries.
    gcp.control("throttle", json!({"count": 50}));
    // (The local runner still answers: the list is printed, with why Cloud Build's builds are not in it.)
    let (_, out, err) = gcp.run(&["runs", "--json"]);
    assert!(err.contains("not listed: gcb: Google Cloud is throttling requests (HTTP 429) and kept doing so after 5 tries"), "{out}{err}");
    gcp.control("throttle", json!({"count": 0}));
    // A revoked key: its tokens stop working and no new one is given; said plainly, no secret shown.
    gcp.control("revoke", json!({"account": "release"}));
    let (_, out, err) = gcp.run(&["runs", "--json"]);
    let said = format!("{out}{err}");
    assert!(said.contains("Google refused the credentials of service account release@payments-prod.iam.gserviceaccount.com"), "{said}");
    assert!(!said.contains("BEGIN PRIVATE KEY") && !said.contains("ya29."), "{said}");
}

/// ADC from a service-account key: the signed JWT exchanged at the key's token endpoint, the token
/// kept while it has more than five minutes left and renewed before, never after, it expires.
#[tokio::test]
async fn a_token_is_kept_and_renewed_before_it_expires() {
    let gcp = start();
    // SAFETY: nextest runs each test in a process of its own; nothing else reads the environment here.
    unsafe { std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", gcp.key("release")) };
    let url = format!("http://127.0.0.1:{}/v1/projects/payments-prod/locations/us-central1/triggers", gcp.double.port);
    let requests = || gcp.calls()["token_requests"].as_u64().unwrap();

    let session = flightdeck::gcp::Session::new();
    for _ in 0..3 {
        session.call(reqwest::Method::GET, &url, None).await.unwrap();
    }
    assert_eq!(requests(), 1, "an hour's token serves every call");
    assert_eq!(session.principal().await, "release@payments-prod.iam.gserviceaccount.com");

    // Tokens of 299 s are within five minutes of expiry at once: each call renews first.
    gcp.control("lifetime", json!({"seconds": 299}));
    let short = flightdeck::gcp::Session::new();
    short.call(reqwest::Method::GET, &url, None).await.unwrap();
    short.call(reqwest::Method::GET, &url, None).await.unwrap();
    assert_eq!(requests(), 3, "renewed before expiry");
    let rejected = gcp.calls()["calls"].as_array().unwrap().len();
    assert_eq!(rejected, 5, "no call was refused for an expired token");
}

/// Application Default Credentials from each place they come from: an authorized user's refresh
/// token, a CI's OIDC token traded at STS then for a service account's token (workload identity
/// federation), and the metadata server; each call made as the principal Google knows.
#[test]
fn credentials_come_from_wherever_adc_finds_them() {
    let gcp = start();
    let who_listed = |gcp: &Gcp| {
        let calls = gcp.calls()["calls"].as_array().unwrap().clone();
        calls
            .iter()
            .rev()
            .find(|c| c["method"] == "cloudbuild.projects.locations.builds.list")
            .map(|c| c["who"].as_str().unwrap().to_string())
    };
    let file = |name: &str| gcp.key(name).to_str().unwrap().to_string();

    let (code, _, err) = gcp.run_with(&[("GOOGLE_APPLICATION_CREDENTIALS", file("user"))], &["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(who_listed(&gcp).as_deref(), Some("alice@payments.example"), "an authorized user's refresh token");

    let (code, _, err) = gcp.run_with(&[("GOOGLE_APPLICATION_CREDENTIALS", file("external"))], &["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(who_listed(&gcp).as_deref(), Some("release@payments-prod.iam.gserviceaccount.com"), "federated, then impersonated");

    let host = format!("127.0.0.1:{}", gcp.double.port);
    let (code, _, err) = gcp.run_with(&[("GCE_METADATA_HOST", host)], &["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(who_listed(&gcp).as_deref(), Some("release@payments-prod.iam.gserviceaccount.com"), "the metadata server's account");

    // None at all: said with what to do.
    let (_, out, err) = gcp.run_with(&[("PATH", "/nonexistent".into())], &["runs", "--json"]);
    assert!(err.contains("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS"), "{out}{err}");
    gcp.assert_contract_kept();
}
