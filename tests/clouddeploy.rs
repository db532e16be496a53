//! Cloud Deploy as a rollout provider, against a double held to Cloud Deploy's discovery document
//! (google-api-python-client's copy) that Google's own Cloud Deploy client drives too: a release
//! through staging, promoted to prod, approved, advanced phase by phase to stable; a failed
//! verification retried, ignored and rolled back; a stale advance refused; and Google's errors
//! (403, 429 with backoff, an expired token).

mod support;

use serde_json::{Value, json};
use support::gcp::Gcp;

const STAGING: &str = "clouddeploy:payments-api/staging";
const PROD: &str = "clouddeploy:payments-api/prod";
const PROD_PATH: &str = "projects/payments-prod/locations/us-central1/deliveryPipelines/payments-api";

/// The double and flightdeck with Cloud Deploy (and Cloud Build, whose runs build the releases);
/// `security` is production's release gate.
fn start_with(security: &str) -> Gcp {
    Gcp::start(&format!(
        "[environments.staging]\n\
         [environments.production]\nproduction = true\nfour_eyes = false\n\
         [environments.production.security]\n{security}\n\
         [ci.cloudbuild.gcb]\nproject = \"payments-prod\"\nregions = [\"us-central1\"]\ntriggers = [\"deploy-prod\"]\n\
         endpoint = \"{{endpoint}}\"\nstorage_endpoint = \"{{endpoint}}\"\nreport_artifacts = [\"trivy.json\"]\n\
         [clouddeploy]\nproject = \"payments-prod\"\nregion = \"us-central1\"\npipelines = [\"payments-api\"]\n\
         environments = {{ \"payments-api/prod\" = \"production\", \"payments-api/staging\" = \"staging\" }}\n\
         endpoint = \"{{endpoint}}\"\nactive_poll = \"1s\"\n\
         judged_by = {{ \"payments-api/prod\" = \"payments-api\" }}\n\
         [prometheus.main]\nurl = \"http://127.0.0.1:9\"\n\
         [services.payments-api]\nprometheus = \"main\"\ncanary = 'track=\"canary\"'\nstable = 'track=\"stable\"'\n"
    ))
}

/// Production's gate lets Trivy's own report through only up to its CRITICAL finding.
fn start() -> Gcp {
    start_with("max_severity = \"critical\"")
}

/// A Cloud Build build of the release with Trivy's report among its artifacts: the run whose
/// findings judge its approvals and promotions.
fn built(gcp: &Gcp) -> String {
    let build = gcp.client("release", &["run", support::gcp::DEPLOY_PROD]);
    let id = build["id"].as_str().unwrap();
    let trivy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reports/trivy.json")).unwrap();
    gcp.control("artifact", json!({"build": id, "name": "trivy.json", "content": trivy}));
    format!("gcb:us-central1/{id}")
}

fn get(gcp: &Gcp, r: &str) -> Value {
    gcp.json(&["rollout", "get", r, "--json"])
}

/// A change through the policy: production's are typed (the rollout's name and a reason).
fn act(gcp: &Gcp, account: &str, verb: &[&str], r: &str) -> (i32, String, String) {
    let mut args = verb.to_vec();
    args.extend([r, "--yes", "--reason", "CHG-42 payments-api release", "--json"]);
    // Production's changes are typed: the rollout's name (a promotion from staging reaches it too).
    let short = r.split_once(':').map(|(_, s)| s).unwrap_or(r);
    args.extend(["--confirm", short]);
    gcp.run_as(account, &args)
}

fn ok(gcp: &Gcp, verb: &[&str], r: &str) -> Value {
    let (code, out, err) = act(gcp, "release", verb, r);
    assert_eq!(code, 0, "{verb:?} {r}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn job(gcp: &Gcp, target: &str, outcome: &str, message: &str) {
    let r = gcp.control("deploy/job", json!({"target": target, "outcome": outcome, "message": message}));
    assert!(r.get("error").is_none(), "{r}");
}

/// The requests of `method` (its last part) the double was sent.
fn sent(gcp: &Gcp, method: &str) -> Vec<Value> {
    let calls = gcp.calls();
    calls["calls"].as_array().unwrap().iter().filter(|c| c["method"].as_str().unwrap().ends_with(method)).cloned().collect()
}

/// The journal's records.
fn journal(gcp: &Gcp) -> Vec<Value> {
    let text = std::fs::read_to_string(gcp.env.dir.path().join("data/audit.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn section<'a>(r: &'a Value, title: &str) -> Vec<&'a str> {
    let s = r["detail"]["sections"].as_array().unwrap().iter().find(|s| s["title"] == title);
    s.unwrap_or_else(|| panic!("no section {title} in {r:#}"))["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect()
}

/// A release created with Google's client rolled out to staging and succeeded there.
fn through_staging(gcp: &Gcp, release: &str, run: &str) {
    let r = gcp.deploy_client("release", &["release", release, run]);
    assert_eq!(r["state"], "IN_PROGRESS", "{r:#}");
    job(gcp, "staging", "SUCCEEDED", "");
    job(gcp, "staging", "SUCCEEDED", "");
}

#[test]
fn a_canary_through_approval_and_each_phase_to_stable() {
    let gcp = start();
    let run = built(&gcp);
    let r = gcp.deploy_client("release", &["release", "rel-001", &run]);
    let staging = get(&gcp, STAGING);
    assert_eq!(
        (staging["state"].as_str(), staging["health"].as_str()),
        (Some("Deploying stable (deploy)"), Some("progressing")),
        "{staging:#}"
    );
    assert_eq!(staging["version"], "rel-001");
    assert_eq!(r["name"].as_str().unwrap(), format!("{PROD_PATH}/releases/rel-001/rollouts/rel-001-to-staging-0001"));
    let prod = get(&gcp, PROD);
    assert_eq!(prod["state"], "No rollout yet", "{prod:#}");
    job(&gcp, "staging", "SUCCEEDED", "");
    job(&gcp, "staging", "SUCCEEDED", "");
    assert_eq!(get(&gcp, STAGING)["state"], "Succeeded");

    // Promote the release to the next target: a rollout of it on prod, which waits for approval.
    let done = ok(&gcp, &["promote"], STAGING);
    assert!(done["message"].as_str().unwrap().contains("promote rel-001 to prod"), "{done:#}");
    let created = sent(&gcp, "rollouts.create");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["query"]["rolloutId"], "rel-001-to-prod-0001");
    assert_eq!(created[0]["body"], json!({"targetId": "prod"}));
    let prod = get(&gcp, PROD);
    assert_eq!((prod["state"].as_str(), prod["health"].as_str()), (Some("Waiting for approval"), Some("paused")), "{prod:#}");
    assert_eq!(prod["kind"], "Cloud Deploy canary");
    // Its canary is judged by the mapped service's Prometheus verdict, shown beside it.
    assert_eq!(prod["service"], "payments-api");
    assert_eq!(prod["environment"], "production");
    // What waits for a person comes first.
    let rows = gcp.json(&["rollouts", "--json"]);
    assert_eq!(rows[0]["ref"], PROD, "{rows:#}");
    assert_eq!(section(&prod, "Approval"), ["NEEDS_APPROVAL"]);
    assert!(
        section(&prod, "What the keys send").iter().any(|l| l.starts_with("approve: POST ") && l.ends_with(":approve {\"approved\":true}")),
        "{prod:#}"
    );

    // Approved in flightdeck: Google's client sees it approved, the first canary phase deploying.
    ok(&gcp, &["rollout", "approve"], PROD);
    let seen = gcp.deploy_client("release", &["rollout", "prod"]);
    assert_eq!((seen["approvalState"].as_str(), seen["state"].as_str()), (Some("APPROVED"), Some("IN_PROGRESS")), "{seen:#}");
    assert_eq!(sent(&gcp, "rollouts.approve")[0]["who"], "release@payments-prod.iam.gserviceaccount.com");
    let prod = get(&gcp, PROD);
    assert_eq!((prod["step"].as_u64(), prod["steps"].as_u64(), prod["desired_weight"].as_u64()), (Some(1), Some(3), Some(25)), "{prod:#}");

    // Each canary phase deploys, is verified, then waits for a person to advance.
    for (phase, weight, next) in [("canary-25", 25, "canary-50"), ("canary-50", 50, "stable")] {
        job(&gcp, "prod", "SUCCEEDED", "");
        job(&gcp, "prod", "SUCCEEDED", "");
        let prod = get(&gcp, PROD);
        assert_eq!(prod["state"].as_str().unwrap(), format!("Waiting to advance to {next}"), "{prod:#}");
        assert_eq!(prod["weight"].as_u64(), Some(weight), "after {phase}: {prod:#}");
        assert!(section(&prod, "Verification").iter().any(|l| l.starts_with(&format!("{phase} verify: ✓ succeeded"))), "{prod:#}");
        ok(&gcp, &["promote"], PROD);
        assert_eq!(sent(&gcp, "rollouts.advance").last().unwrap()["body"], json!({"phaseId": next}));
    }
    job(&gcp, "prod", "SUCCEEDED", "");
    job(&gcp, "prod", "SUCCEEDED", "");
    let prod = get(&gcp, PROD);
    assert_eq!((prod["state"].as_str(), prod["health"].as_str(), prod["weight"].as_u64()), (Some("Succeeded"), Some("healthy"), Some(100)));
    let seen = gcp.deploy_client("release", &["rollout", "prod"]);
    assert_eq!(seen["state"], "SUCCEEDED");
    assert!(seen["phases"].as_array().unwrap().iter().all(|p| p["state"] == "SUCCEEDED"), "{seen:#}");
    // Prod is the last target: nothing to promote to.
    let (code, _, err) = act(&gcp, "release", &["promote"], PROD);
    assert_ne!(code, 0);
    assert!(err.contains("prod is the last target of payments-api"), "{err}");

    // Every decision is journaled with the Google principal that made it.
    let journal = journal(&gcp);
    let actions: Vec<&str> = journal.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["rollout.promote", "rollout.approve"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    let approve = journal.iter().find(|e| e["action"] == "rollout.approve").unwrap();
    assert_eq!(approve["parameters"]["google_user"], "release@payments-prod.iam.gserviceaccount.com", "{approve:#}");
    assert_eq!(approve["parameters"]["request"]["method"], "rollouts.approve");
    gcp.assert_contract_kept();
}

#[test]
fn a_rejected_rollout_never_starts_and_a_viewer_is_refused_by_google() {
    // Production's default gate: nothing above MEDIUM.
    let gcp = start_with("");
    let run = built(&gcp);
    through_staging(&gcp, "rel-002", &run);
    // Promoting to prod is judged by production's gate, though the key is pressed on staging.
    let (code, out, err) = act(&gcp, "release", &["promote"], STAGING);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("release gate in production: FAIL"), "{err}");
    assert!(sent(&gcp, "rollouts.create").is_empty());
    // Someone promotes it with gcloud's client; it waits for approval on prod.
    gcp.deploy_client("release", &["promote", "rel-002", "prod"]);
    assert_eq!(get(&gcp, PROD)["run"], run.as_str());
    // The run that built it has Trivy's CRITICAL finding: its approval is refused, nothing is sent.
    let (code, out, err) = act(&gcp, "release", &["rollout", "approve"], PROD);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("release gate in production: FAIL") && err.contains("CVE-2024-45490"), "{err}");
    assert!(sent(&gcp, "rollouts.approve").is_empty());
    // Google refuses a viewer, in its words.
    let (code, out, err) = act(&gcp, "viewer", &["rollout", "reject"], PROD);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("lacks clouddeploy.rollouts.approve"), "{err}");
    ok(&gcp, &["rollout", "reject"], PROD);
    let prod = get(&gcp, PROD);
    assert_eq!((prod["state"].as_str(), prod["health"].as_str()), (Some("Rejected"), Some("aborted")), "{prod:#}");
    let seen = gcp.deploy_client("release", &["rollout", "prod"]);
    assert_eq!((seen["approvalState"].as_str(), seen["state"].as_str()), (Some("REJECTED"), Some("APPROVAL_REJECTED")));
    assert_eq!(sent(&gcp, "rollouts.approve").last().unwrap()["body"], json!({"approved": false}));
    // Decided: a second decision is nothing to do, and nothing is sent.
    let before = sent(&gcp, "rollouts.approve").len();
    let (code, _, err) = act(&gcp, "release", &["rollout", "reject"], PROD);
    assert_eq!(code, 4, "nothing to do: {err}");
    assert_eq!(sent(&gcp, "rollouts.approve").len(), before);
    // A release that names no run cannot be judged: the refusal says how to name one.
    through_staging(&gcp, "rel-009", "");
    let (code, _, err) = act(&gcp, "release", &["promote"], STAGING);
    assert_ne!(code, 0);
    assert!(err.contains("--annotations=flightdeck-run=RUN") && err.contains("--evidence RUN"), "{err}");
    gcp.assert_contract_kept();
}

/// Through staging, promoted, approved, advanced through each canary phase to stable on prod.
fn to_stable_on_prod(gcp: &Gcp, release: &str, run: &str) {
    through_staging(gcp, release, run);
    ok(gcp, &["promote"], STAGING);
    ok(gcp, &["rollout", "approve"], PROD);
    for _ in 0..2 {
        job(gcp, "prod", "SUCCEEDED", "");
        job(gcp, "prod", "SUCCEEDED", "");
        ok(gcp, &["promote"], PROD);
    }
    job(gcp, "prod", "SUCCEEDED", "");
    job(gcp, "prod", "SUCCEEDED", "");
    assert_eq!(get(gcp, PROD)["state"], "Succeeded");
}

/// Up to a failed verification in prod's first canary phase.
fn failing_in_prod(gcp: &Gcp, release: &str, run: &str, why: &str) {
    through_staging(gcp, release, run);
    ok(gcp, &["promote"], STAGING);
    ok(gcp, &["rollout", "approve"], PROD);
    job(gcp, "prod", "SUCCEEDED", "");
    job(gcp, "prod", "FAILED", why);
}

#[test]
fn a_failed_verification_is_retried_then_the_target_is_rolled_back_to_the_last_good_release() {
    let gcp = start();
    let run = built(&gcp);
    to_stable_on_prod(&gcp, "rel-001", &run);
    // Google's failure message is outside text: an escape sequence in it never reaches the terminal.
    failing_in_prod(&gcp, "rel-002", &run, "smoke test: 12 of 40 requests to /healthz answered 503\u{1b}]0;pwned\u{7}");
    let (code, shown, _) = gcp.run(&["rollout", "get", PROD]);
    assert_eq!(code, 0);
    assert!(shown.contains("answered 503") && !shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{shown:?}");
    let prod = get(&gcp, PROD);
    assert_eq!((prod["health"].as_str(), prod["state"].as_str()), (Some("degraded"), Some("Failed at canary-25 (verify)")), "{prod:#}");
    assert!(prod["message"].as_str().unwrap().contains("12 of 40 requests to /healthz answered 503"), "{prod:#}");
    let verification = section(&prod, "Verification");
    assert!(
        verification
            .iter()
            .any(|l| l.starts_with("canary-25 verify: ✗ failed — smoke test: 12 of 40")
                && l.contains("· artifacts gs://payments-api-verify/")),
        "{verification:?}"
    );
    assert_eq!((prod["version"].as_str(), prod["stable_version"].as_str()), (Some("rel-002"), Some("rel-001")));
    let history = section(&prod, "Rollouts to prod");
    assert!(history[0].starts_with("rel-002") && history[0].contains("failed") && history[1].starts_with("rel-001"), "{history:?}");
    assert!(
        prod["detail"]["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["revision"] == 1 && r["label"].as_str().unwrap().starts_with("rel-001"))
    );

    // The failed job runs again, and fails again.
    ok(&gcp, &["retry-rollout"], PROD);
    assert_eq!(sent(&gcp, "rollouts.retryJob")[0]["body"], json!({"phaseId": "canary-25", "jobId": "verify"}));
    assert_eq!(get(&gcp, PROD)["state"], "Deploying canary-25 (verify)");
    job(&gcp, "prod", "FAILED", "smoke test: 9 of 40 requests to /healthz answered 503");

    // Undo: a new rollout of the last release that succeeded on prod, made by rollbackTarget.
    let done = ok(&gcp, &["undo"], PROD);
    assert!(done["message"].as_str().unwrap().contains("roll prod back to rel-001"), "{done:#}");
    let rollback = sent(&gcp, "rollbackTarget");
    assert_eq!(rollback[0]["body"], json!({"targetId": "prod", "releaseId": "rel-001", "rolloutId": "rel-001-to-prod-0002"}));
    let seen = gcp.deploy_client("release", &["rollout", "prod"]);
    assert!(seen["rollbackOfRollout"].as_str().unwrap().ends_with("/releases/rel-002/rollouts/rel-002-to-prod-0001"), "{seen:#}");
    assert_eq!(seen["phases"].as_array().unwrap().len(), 1, "a rollback goes straight to stable: {seen:#}");
    // Prod needs an approval for the rollback too; then it deploys and is verified.
    ok(&gcp, &["rollout", "approve"], PROD);
    job(&gcp, "prod", "SUCCEEDED", "");
    job(&gcp, "prod", "SUCCEEDED", "");
    let prod = get(&gcp, PROD);
    assert_eq!((prod["state"].as_str(), prod["version"].as_str()), (Some("Rolled back to rel-001"), Some("rel-001")), "{prod:#}");
    gcp.assert_contract_kept();
}

#[test]
fn a_failed_verification_can_be_ignored_and_a_rollout_cancelled() {
    let gcp = start();
    let run = built(&gcp);
    failing_in_prod(&gcp, "rel-003", &run, "synthetic check timed out");
    ok(&gcp, &["rollout", "ignore-job"], PROD);
    assert_eq!(sent(&gcp, "rollouts.ignoreJob")[0]["body"], json!({"phaseId": "canary-25", "jobId": "verify"}));
    let prod = get(&gcp, PROD);
    assert_eq!(prod["state"], "Waiting to advance to canary-50", "{prod:#}");
    assert!(prod["detail"]["steps"][0]["step"].as_str().unwrap().contains("verify ignored"), "{prod:#}");
    // Nothing failed now: neither retry nor ignore is offered, and nothing is sent.
    let (code, _, err) = act(&gcp, "release", &["rollout", "ignore-job"], PROD);
    assert_ne!(code, 0, "{err}");
    assert_eq!(sent(&gcp, "rollouts.ignoreJob").len(), 1);

    ok(&gcp, &["rollout", "cancel"], PROD);
    let seen = gcp.deploy_client("release", &["rollout", "prod"]);
    assert_eq!(seen["state"], "CANCELLED", "{seen:#}");
    let prod = get(&gcp, PROD);
    assert_eq!((prod["state"].as_str(), prod["health"].as_str()), (Some("Cancelled"), Some("aborted")));
    // Nothing earlier succeeded on prod: undo says so instead of guessing.
    let (code, _, err) = act(&gcp, "release", &["undo"], PROD);
    assert_ne!(code, 0);
    assert!(err.contains("no earlier release succeeded on prod"), "{err}");
    gcp.assert_contract_kept();
}

/// Flightdeck's provider in this process, as the `release` service account.
fn provider(gcp: &Gcp) -> flightdeck::deploy::clouddeploy::CloudDeployProvider {
    let settings = flightdeck::config::CloudDeploySettings {
        project: "payments-prod".into(),
        region: "us-central1".into(),
        pipelines: vec!["payments-api".into()],
        environments: Default::default(),
        judged_by: Default::default(),
        endpoint: format!("http://127.0.0.1:{}", gcp.double.port),
        active_poll: std::time::Duration::from_secs(1),
        idle_poll: std::time::Duration::from_secs(1),
    };
    let source = flightdeck::gcp::adc::from_file(&gcp.key("release")).unwrap();
    flightdeck::deploy::clouddeploy::CloudDeployProvider::with_session(settings, flightdeck::gcp::Session::with_source(source))
}

/// Two people looking at the same rollout waiting to advance: the first advance goes through; the
/// second was decided on a phase that has moved on, and is refused without a request. Google
/// refuses a stale phase too, and two approvals at once are settled by Google: one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_advance_is_refused_and_nothing_is_sent() {
    use flightdeck::delivery::{By, DeliveryError, RolloutAction, RolloutProvider};
    let gcp = tokio::task::spawn_blocking(start).await.unwrap();
    let provider = provider(&gcp);
    let prod: flightdeck::domain::RolloutRef = PROD.parse().unwrap();
    let staging: flightdeck::domain::RolloutRef = STAGING.parse().unwrap();
    let gcp = tokio::task::spawn_blocking(move || {
        through_staging(&gcp, "rel-004", "");
        gcp
    })
    .await
    .unwrap();
    // Two people promote the release to prod at once: the rollout's id is the same for both (as
    // gcloud names it), so Google makes one rollout and refuses the other as already there.
    let (a, b) = tokio::join!(
        provider.execute(staging.clone(), RolloutAction::Promote, None, By::default()),
        provider.execute(staging.clone(), RolloutAction::Promote, None, By::default())
    );
    let refused = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        other => panic!("one promotion should go through and one be refused: {other:?}"),
    };
    assert!(refused.to_string().contains("already") || refused.to_string().contains("moved on since you looked"), "{refused}");

    // Alice and Bob approve at once: Google takes one decision and refuses the other.
    let (a, b) = tokio::join!(
        provider.execute(prod.clone(), RolloutAction::Approve, None, By::default()),
        provider.execute(prod.clone(), RolloutAction::Approve, None, By::default())
    );
    let refused = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        other => panic!("one approval should go through and one be refused: {other:?}"),
    };
    let DeliveryError::Refused(why) = refused else { panic!("{refused:?}") };
    // Google refused it, or it was read after the first went through: either way nothing was sent twice.
    assert!(why.contains("not pending approval") || why.contains("is not waiting for approval"), "{why}");

    let gcp = tokio::task::spawn_blocking(move || {
        job(&gcp, "prod", "SUCCEEDED", "");
        job(&gcp, "prod", "SUCCEEDED", "");
        gcp
    })
    .await
    .unwrap();
    let seen_by_alice = provider.get(prod.clone()).await.unwrap().seen;
    assert_eq!(seen_by_alice.state, "Waiting to advance to canary-50");
    let seen_by_bob = seen_by_alice.clone();
    provider.execute(prod.clone(), RolloutAction::Promote, Some(seen_by_alice), By::default()).await.unwrap();
    let refused = provider.execute(prod.clone(), RolloutAction::Promote, Some(seen_by_bob), By::default()).await.unwrap_err();
    let DeliveryError::Refused(why) = refused else { panic!("{refused:?}") };
    assert!(
        why.contains("moved on since you looked") && why.contains("Waiting to advance to canary-50 → Deploying canary-50 (deploy)"),
        "{why}"
    );
    tokio::task::spawn_blocking(move || {
        let rollouts = gcp.deploy_client("release", &["rollouts"]);
        assert_eq!(rollouts.as_array().unwrap().iter().filter(|r| r["targetId"] == "prod").count(), 1, "one rollout to prod: {rollouts:#}");
        assert_eq!(sent(&gcp, "rollouts.advance").len(), 1, "Bob's advance was not sent");
        // Google's own client asking for the phase that is already under way is refused by Google.
        let stale = gcp.deploy_client("release", &["advance", "prod", "canary-50"]);
        assert_eq!(stale["error"]["code"], 400, "{stale:#}");
        assert!(stale["error"]["message"].as_str().unwrap().contains("cannot advance to phase canary-50"), "{stale:#}");
        gcp.assert_contract_kept();
    })
    .await
    .unwrap();
}

/// Google's throttling waited out, and a token that expired early renewed once, in one process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_and_an_expired_token_is_renewed() {
    use flightdeck::delivery::RolloutProvider;
    let gcp = tokio::task::spawn_blocking(start).await.unwrap();
    let provider = provider(&gcp);
    assert_eq!(provider.list().await.unwrap().len(), 2, "staging and prod");
    let tokens = |gcp: &Gcp| gcp.calls()["token_requests"].as_u64().unwrap();
    let gcp = tokio::task::spawn_blocking(move || {
        gcp.control("throttle", json!({"count": 2}));
        gcp
    })
    .await
    .unwrap();
    let rows = provider.list().await.unwrap();
    assert!(rows.iter().all(|r| r.state == "No rollout yet"), "{rows:?}");
    let (gcp, before) = tokio::task::spawn_blocking(move || {
        let before = tokens(&gcp);
        gcp.control("expire", json!({}));
        (gcp, before)
    })
    .await
    .unwrap();
    provider.list().await.unwrap();
    // Kept until the end: the double stops when dropped.
    let _gcp = tokio::task::spawn_blocking(move || {
        assert_eq!(tokens(&gcp), before + 1, "one new token after the 401");
        gcp.control("throttle", json!({"count": 99}));
        gcp
    })
    .await
    .unwrap();
    let err = provider.list().await.unwrap_err().to_string();
    assert!(err.contains("throttling requests (HTTP 429) and kept doing so after 5 tries"), "{err}");
}

/// `kill -9` at spread moments of an approval (starting, reading, journaling, sending): Google has
/// it decided once or not at all, the journal stays intact, and approving again either goes
/// through or is told it is decided — the rollout is never approved twice.
#[test]
fn an_approval_killed_at_any_moment_is_decided_once_or_not_at_all() {
    let gcp = start();
    let run = built(&gcp);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    println!("seed {seed}");
    let (mut killed_before, mut killed_after) = (0, 0);
    for i in 0..8u64 {
        let release = format!("rel-k{i}");
        through_staging(&gcp, &release, &run);
        gcp.deploy_client("release", &["promote", &release, "prod"]);
        let rollout = format!("{release}-to-prod-0001");
        // Spread over the command's life (about 0.65 s here: a token, the reads, the run's findings,
        // the read again before sending, the request), with a little jitter.
        let jitter = (seed.wrapping_mul(6364136223846793005).wrapping_add(i * 1442695040888963407) >> 33) % 60;
        let delay = std::time::Duration::from_millis(i * 110 + jitter);
        let mut child = gcp
            .env
            .cmd(&["rollout", "approve", PROD, "--yes", "--reason", "CHG-1 drill", "--confirm", "payments-api/prod"])
            .env("USER", "tester")
            .env("GOOGLE_APPLICATION_CREDENTIALS", gcp.key("release"))
            .env("CLOUDSDK_CONFIG", gcp.keys.path().join("no-gcloud"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let approvals =
            |gcp: &Gcp| sent(gcp, "rollouts.approve").iter().filter(|c| c["params"]["name"].as_str().unwrap().ends_with(&rollout)).count();
        let state = gcp.deploy_client("release", &["rollout", "prod"]);
        let approved = state["approvalState"] == "APPROVED";
        assert_eq!(approvals(&gcp), usize::from(approved), "{rollout}: {state:#}");
        // Killed before anything was journaled, there is no journal yet; otherwise it is intact.
        if gcp.env.dir.path().join("data/audit.jsonl").exists() {
            let (code, _, err) = gcp.run(&["audit", "verify"]);
            assert_eq!(code, 0, "the journal stays intact after kill -9 at {delay:?}: {err}");
        }
        // Approving again: through if it was not decided, told it is if it was; never twice.
        let took = std::time::Instant::now();
        let (code, out, err) = act(&gcp, "release", &["rollout", "approve"], PROD);
        println!("an approval uninterrupted took {:?}", took.elapsed());
        if approved {
            killed_after += 1;
            assert_ne!(code, 0, "{out}");
            assert!(err.contains("not waiting for approval"), "{err}");
        } else {
            killed_before += 1;
            assert_eq!(code, 0, "{out}{err}");
        }
        assert_eq!(approvals(&gcp), 1, "{rollout} approved exactly once");
        assert_eq!(gcp.deploy_client("release", &["rollout", "prod"])["approvalState"], "APPROVED");
    }
    println!("killed before the approval was sent: {killed_before}; after: {killed_after}");
    assert!(killed_before > 0 && killed_after > 0, "kills came both before and after the approval was sent (seed {seed})");
    gcp.assert_contract_kept();
}
