//! ECS blue/green deployments as rollouts, against the AWS double (ECS, CodeDeploy and CloudWatch
//! held to botocore's models, SigV4 checked by botocore's signer) that the real AWS CLI is pointed
//! at too: a CodeDeploy deployment continued at its manual reroute then stopped with rollback, its
//! original terminated early, an alarm that rolls it back, ECS's own canary continued past its
//! PAUSE hook and rolled back by an alarm, and a user IAM refuses.

mod support;

use serde_json::{Value, json};
use support::aws::Aws;

const API: &str = "ecs:payments/payments-api";
const CHECKOUT: &str = "ecs:payments/checkout";

fn start() -> Aws {
    Aws::start(
        "[environments.staging]\nproduction = false\n\
         [ecs]\nregion = \"eu-west-1\"\nendpoint_url = \"{endpoint}\"\n\
         services = [\"payments/payments-api\", \"payments/checkout\", \"payments/ledger\"]\n\
         environments = { \"payments/*\" = \"staging\" }\nactive_poll = \"1s\"\n",
    )
}

fn get(aws: &Aws, r: &str) -> Value {
    aws.json(&["rollout", "get", r, "--json"])
}

fn act(aws: &Aws, verb: &[&str]) -> Value {
    let mut args = verb.to_vec();
    args.extend(["--yes", "--reason", "release of payments-api:8", "--json"]);
    aws.json(&args)
}

/// The inputs the double was sent for `op`.
fn sent(aws: &Aws, op: &str) -> Vec<Value> {
    aws.calls()["calls"].as_array().unwrap().iter().filter(|c| c["op"] == op).map(|c| c["input"].clone()).collect()
}

fn section<'a>(r: &'a Value, title: &str) -> Vec<&'a str> {
    let s =
        r["detail"]["sections"].as_array().unwrap().iter().find(|s| s["title"] == title).unwrap_or_else(|| panic!("no {title} in {r:#}"));
    s["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect()
}

#[test]
fn a_codedeploy_deployment_is_continued_at_its_reroute_then_stopped_with_rollback() {
    let aws = start();
    // Before any new deployment: the one that made the running task set, long finished.
    let before = get(&aws, API);
    assert_eq!((before["health"].as_str(), before["state"].as_str()), (Some("healthy"), Some("Succeeded")), "{before:#}");

    let id = aws.control("ecs/deploy", json!({}))["id"].as_str().unwrap().to_string();
    let ready = get(&aws, API);
    assert_eq!(ready["health"], "paused", "{ready:#}");
    assert_eq!(ready["state"], "Ready: waiting for you to reroute traffic");
    assert_eq!((ready["version"].as_str(), ready["stable_version"].as_str()), (Some("payments-api:8"), Some("payments-api:7")));
    assert_eq!(ready["weight"], 0);
    let message = ready["message"].as_str().unwrap();
    assert!(message.starts_with("CodeDeploy stops this deployment in ") && message.ends_with("m unless traffic is rerouted"), "{message}");
    let about = ready["detail"]["about"].to_string();
    assert!(about.contains("canary: 10 %, the rest after 5 min (CodeDeployDefault.ECSCanary10Percent5Minutes)"), "{about}");
    assert!(about.contains("stops after 60 min") && about.contains("original kept 60 min after traffic moved"), "{about}");
    let steps: Vec<(&str, &str)> =
        ready["detail"]["steps"].as_array().unwrap().iter().map(|s| (s["step"].as_str().unwrap(), s["state"].as_str().unwrap())).collect();
    assert_eq!(steps[4], ("AfterAllowTestTraffic", "done"));
    assert_eq!(steps[5], ("BeforeAllowTraffic", "todo"));
    assert_eq!(
        section(&ready, "Traffic"),
        ["original     100 %  payments-api:7  tasks 3/3  · payments-a", "replacement    0 %  payments-api:8  tasks 3/3  · payments-b"]
    );
    assert_eq!(section(&ready, "Alarms").len(), 2);
    assert!(section(&ready, "Alarms").iter().all(|l| l.starts_with("✓ ") && l.contains(" OK")), "{:?}", section(&ready, "Alarms"));

    // Continue: the manual reroute, and CodeDeploy shifts the canary's 10 %.
    let done = act(&aws, &["promote", API]);
    assert_eq!(done["done"], true, "{done:#}");
    assert_eq!(sent(&aws, "ContinueDeployment"), [json!({"deploymentId": id, "deploymentWaitType": "READY_WAIT"})]);
    let shifting = get(&aws, API);
    assert_eq!((shifting["state"].as_str(), shifting["weight"].as_i64()), (Some("Shifting traffic: 10 % on the replacement"), Some(10)));
    assert_eq!(shifting["desired_weight"], 100, "after the canary's interval, the rest");

    // Stop with rollback: everything back on the original.
    act(&aws, &["abort", API]);
    assert_eq!(sent(&aws, "StopDeployment"), [json!({"deploymentId": id, "autoRollbackEnabled": true})]);
    let stopped = get(&aws, API);
    assert_eq!((stopped["health"].as_str(), stopped["state"].as_str()), (Some("aborted"), Some("Stopped and rolled back")), "{stopped:#}");
    assert!(stopped["message"].as_str().unwrap().contains("MANUAL_STOP: The deployment was stopped by the user."), "{stopped:#}");
    assert_eq!(stopped["version"].as_str(), None, "the replacement is gone: {stopped:#}");

    // Nothing left to stop: said as such, and CodeDeploy is not asked.
    let (code, _, err) = aws.run(&["abort", API, "--yes", "--reason", "again"]);
    assert_ne!(code, 0);
    assert!(err.contains("nothing to abort"), "{err}");
    assert_eq!(sent(&aws, "StopDeployment").len(), 1);

    // The journal holds the exact requests and who AWS took the user to be.
    let journal = aws.env.written();
    for needle in ["\"operation\":\"ContinueDeployment\"", "\"operation\":\"StopDeployment\"", "assumed-role/ReleaseManagers/alice", &id] {
        assert!(journal.contains(needle), "journal lacks {needle}");
    }
    aws.assert_contract_kept();
}

#[test]
fn the_original_is_terminated_early_once_traffic_has_moved() {
    let aws = start();
    let id = aws.control("ecs/deploy", json!({}))["id"].as_str().unwrap().to_string();
    // Not before all traffic has moved: refused with why, nothing sent.
    let (code, _, err) = aws.run(&["promote", API, "--full", "--yes", "--reason", "too early"]);
    assert_ne!(code, 0);
    assert!(err.contains("only once all traffic has moved"), "{err}");
    act(&aws, &["promote", API]);
    aws.control("ecs/advance", json!({}));
    let waiting = get(&aws, API);
    assert_eq!(waiting["state"], "Traffic moved: waiting to terminate the original", "{waiting:#}");
    assert_eq!(waiting["weight"], 100);
    assert!(waiting["pause_until"].is_string(), "the termination wait counts down: {waiting:#}");
    act(&aws, &["promote", API, "--full"]);
    assert_eq!(sent(&aws, "ContinueDeployment")[1], json!({"deploymentId": id, "deploymentWaitType": "TERMINATION_WAIT"}));
    let done = get(&aws, API);
    assert_eq!(
        (done["health"].as_str(), done["state"].as_str(), done["version"].as_str()),
        (Some("healthy"), Some("Succeeded"), Some("payments-api:8"))
    );
    assert_eq!(section(&done, "Traffic"), ["replacement  100 %  payments-api:8  tasks 3/3  · payments-b"]);
    aws.assert_contract_kept();
}

#[test]
fn an_alarm_rolls_a_deployment_back_and_the_list_says_which() {
    let aws = start();
    aws.control("ecs/deploy", json!({}));
    act(&aws, &["promote", API]);
    aws.control("ecs/alarm", json!({"name": "payments-api-5xx", "state": "ALARM", "reason": "Threshold Crossed: 1 datapoint [14.0] was greater than the threshold (5.0)."}));
    let rolled = get(&aws, API);
    assert_eq!((rolled["health"].as_str(), rolled["state"].as_str()), (Some("aborted"), Some("Stopped and rolled back")));
    let message = rolled["message"].as_str().unwrap();
    assert!(
        message.contains("ALARM_ACTIVE") && message.contains("alarm payments-api-5xx is ALARM: Threshold Crossed: 1 datapoint [14.0]"),
        "{message}"
    );
    assert!(section(&rolled, "Alarms").iter().any(|l| l.starts_with("✗ payments-api-5xx ALARM")), "{:?}", section(&rolled, "Alarms"));
    // The table: aborted first among what went wrong, with the alarm.
    let (_, table, _) = aws.run(&["rollouts"]);
    let row = table.lines().find(|l| l.starts_with("payments/payments-api")).unwrap();
    assert!(row.contains("Stopped and rolled back") && row.contains("alarm payments-api-5xx is ALARM"), "{table}");
    aws.assert_contract_kept();
}

#[test]
fn ecs_s_own_canary_is_continued_past_its_pause_hook_and_an_alarm_rolls_it_back() {
    let aws = start();
    let arn = aws.control("ecs/deploy", json!({"service": "checkout"}))["id"].as_str().unwrap().to_string();
    let paused = get(&aws, CHECKOUT);
    assert_eq!(paused["kind"], "ECS canary");
    assert_eq!(
        (paused["health"].as_str(), paused["state"].as_str()),
        (Some("paused"), Some("Paused at POST_TEST_TRAFFIC_SHIFT: waiting for you"))
    );
    assert!(paused["message"].as_str().unwrap().contains("ECS will rollback"), "{paused:#}");
    assert!(
        paused["detail"]["about"].to_string().contains("canary: 10 %, the rest after 5 min, both kept 15 min after the shift"),
        "{paused:#}"
    );
    assert_eq!((paused["version"].as_str(), paused["stable_version"].as_str()), (Some("checkout:4"), Some("checkout:3")));

    act(&aws, &["promote", CHECKOUT]);
    let continued = &sent(&aws, "ContinueServiceDeployment")[0];
    assert_eq!((continued["serviceDeploymentArn"].as_str(), continued["action"].as_str()), (Some(arn.as_str()), Some("CONTINUE")));
    assert!(continued["hookId"].as_str().unwrap().starts_with("hook-"));
    let shifting = get(&aws, CHECKOUT);
    assert_eq!((shifting["state"].as_str(), shifting["weight"].as_i64()), (Some("Shifting traffic: 10 % on the new revision"), Some(10)));
    // What the load balancer does, beside what ECS reports.
    assert_eq!(
        section(&shifting, "Production listener rule (ELBv2)"),
        ["checkout-blue             90 %", "checkout-green            10 %"]
    );
    // ECS cannot end a bake or a shift early: said, not sent.
    let (code, _, err) = aws.run(&["promote", CHECKOUT, "--full", "--yes", "--reason", "hurry"]);
    assert_ne!(code, 0);
    assert!(err.contains("ECS has no call to end a bake time or a traffic shift early"), "{err}");

    aws.control("ecs/alarm", json!({"name": "checkout-5xx", "state": "ALARM", "reason": "Threshold Crossed"}));
    let rolled = get(&aws, CHECKOUT);
    assert_eq!((rolled["health"].as_str(), rolled["state"].as_str()), (Some("aborted"), Some("Rolled back")), "{rolled:#}");
    assert!(rolled["message"].as_str().unwrap().contains("triggered: checkout-5xx"), "{rolled:#}");
    assert!(sent(&aws, "StopServiceDeployment").is_empty(), "the alarm rolled it back, not flightdeck");

    // A second canary, stopped by hand.
    let second = aws.control("ecs/deploy", json!({"service": "checkout"}))["id"].as_str().unwrap().to_string();
    act(&aws, &["abort", CHECKOUT]);
    assert_eq!(sent(&aws, "StopServiceDeployment"), [json!({"serviceDeploymentArn": second, "stopType": "ROLLBACK"})]);
    assert_eq!(get(&aws, CHECKOUT)["state"], "Rolled back");
    aws.assert_contract_kept();
}

#[test]
fn a_user_iam_refuses_is_told_aws_s_words_and_a_rolling_service_offers_nothing() {
    let aws = start();
    let id = aws.control("ecs/deploy", json!({}))["id"].as_str().unwrap().to_string();
    let (code, _, err) = aws.run_as("AKIDVIEWER", &["abort", API, "--yes", "--reason", "stop it"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not authorized to perform: codedeploy:StopDeployment"), "{err}");
    assert!(aws.env.written().contains("assumed-role/Viewers/victor"), "the refused attempt is journaled with the AWS user");
    // Still waiting: nothing changed on AWS's side.
    assert_eq!(get(&aws, API)["state"], "Ready: waiting for you to reroute traffic");
    // A rolling service is shown and offers nothing.
    let ledger = get(&aws, "ecs:payments/ledger");
    assert!(ledger["message"].as_str().unwrap().contains("a rolling update, not blue/green"), "{ledger:#}");
    let (code, _, err) = aws.run(&["abort", "ecs:payments/ledger", "--yes", "--reason", "x"]);
    assert_ne!(code, 0, "{err}");
    assert_eq!(sent(&aws, "StopDeployment"), [json!({"deploymentId": id, "autoRollbackEnabled": true})], "only the viewer's refused try");
    aws.assert_contract_kept();
}

#[test]
fn the_real_aws_cli_reads_and_acts_on_ecs_and_codedeploy_through_the_double() {
    let aws = start();
    let services = aws.cli(&["ecs", "describe-services", "--cluster", "payments", "--services", "payments-api", "checkout", "ledger"]);
    let controllers: Vec<&str> =
        services["services"].as_array().unwrap().iter().map(|s| s["deploymentController"]["type"].as_str().unwrap()).collect();
    assert_eq!(controllers, ["CODE_DEPLOY", "ECS", "ECS"]);
    let id = aws.control("ecs/deploy", json!({}))["id"].as_str().unwrap().to_string();
    let listed = aws.cli(&[
        "deploy",
        "list-deployments",
        "--application-name",
        "payments",
        "--deployment-group-name",
        "payments-api-bg",
        "--include-only-statuses",
        "Ready",
    ]);
    assert_eq!(listed["deployments"], json!([id]));
    assert_eq!(aws.cli(&["deploy", "get-deployment", "--deployment-id", &id])["deploymentInfo"]["status"], "Ready");
    let targets = aws.cli(&["deploy", "batch-get-deployment-targets", "--deployment-id", &id, "--target-ids", "payments:payments-api"]);
    let sets = &targets["deploymentTargets"][0]["ecsTarget"]["taskSetsInfo"];
    assert_eq!((sets[0]["taskSetLabel"].as_str(), sets[1]["taskSetLabel"].as_str()), (Some("BLUE"), Some("GREEN")));
    let group =
        aws.cli(&["deploy", "get-deployment-group", "--application-name", "payments", "--deployment-group-name", "payments-api-bg"]);
    assert_eq!(group["deploymentGroupInfo"]["alarmConfiguration"]["alarms"].as_array().unwrap().len(), 2);
    let config = aws.cli(&["deploy", "get-deployment-config", "--deployment-config-name", "CodeDeployDefault.ECSCanary10Percent5Minutes"]);
    assert_eq!(config["deploymentConfigInfo"]["trafficRoutingConfig"]["timeBasedCanary"]["canaryPercentage"], 10);
    let alarms = aws.cli(&["cloudwatch", "describe-alarms", "--alarm-names", "payments-api-5xx"]);
    assert_eq!(alarms["MetricAlarms"][0]["StateValue"], "OK");
    aws.cli(&["deploy", "continue-deployment", "--deployment-id", &id, "--deployment-wait-type", "READY_WAIT"]);
    // flightdeck sees what the CLI did.
    assert_eq!(get(&aws, API)["state"], "Shifting traffic: 10 % on the replacement");
    aws.cli(&["deploy", "stop-deployment", "--deployment-id", &id, "--auto-rollback-enabled"]);
    assert_eq!(get(&aws, API)["state"], "Stopped and rolled back");
    let arn = aws.control("ecs/deploy", json!({"service": "checkout"}))["id"].as_str().unwrap().to_string();
    let listed = aws.cli(&["ecs", "list-service-deployments", "--cluster", "payments", "--service", "checkout"]);
    assert_eq!(listed["serviceDeployments"][0]["serviceDeploymentArn"], arn.as_str());
    let described = aws.cli(&["ecs", "describe-service-deployments", "--service-deployment-arns", &arn]);
    let hook = described["serviceDeployments"][0]["lifecycleHookDetails"][0]["hookId"].as_str().unwrap().to_string();
    aws.cli(&["ecs", "continue-service-deployment", "--service-deployment-arn", &arn, "--hook-id", &hook]);
    aws.cli(&["ecs", "stop-service-deployment", "--service-deployment-arn", &arn, "--stop-type", "ROLLBACK"]);
    assert_eq!(get(&aws, CHECKOUT)["state"], "Rolled back");
    // The CLI spoke JSON 1.1 to ECS and CodeDeploy, JSON 1.0 to CloudWatch.
    let calls = aws.calls();
    let protocol = |op: &str| calls["calls"].as_array().unwrap().iter().find(|c| c["op"] == op).map(|c| c["protocol"].clone());
    assert_eq!(protocol("DescribeAlarms"), Some(json!("json-1.0")));
    assert_eq!(protocol("StopServiceDeployment"), Some(json!("json-1.1")));
    aws.assert_contract_kept();
}

/// Two people at once: the second decision was taken on a deployment that has moved on since,
/// and is refused without a call to AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_a_deployment_that_moved_on_is_refused_and_nothing_is_sent() {
    use flightdeck::delivery::{By, DeliveryError, RolloutAction, RolloutProvider};
    let aws = tokio::task::spawn_blocking(start).await.unwrap();
    tokio::task::block_in_place(|| aws.control("ecs/deploy", json!({})));
    let settings = support::aws::ecs_settings(aws.endpoint(), &["payments-api"]);
    let session = flightdeck::aws::json_rpc::Session::new(Some("eu-west-1".into()), None, Some(aws.endpoint())).unwrap().with_credentials(
        flightdeck::aws::Credentials {
            access_key_id: "AKIDRELEASE".into(),
            secret_access_key: "release-secret".into(),
            session_token: None,
        },
    );
    let provider = flightdeck::deploy::ecs::EcsProvider::with_session(settings, session);
    let r: flightdeck::domain::RolloutRef = API.parse().unwrap();
    // Both look while it waits at the reroute.
    let seen_by_alice = provider.get(r.clone()).await.unwrap().seen;
    let seen_by_bob = seen_by_alice.clone();
    provider.execute(r.clone(), RolloutAction::Promote, Some(seen_by_alice), By::default()).await.unwrap();
    // Bob's stop was decided on the deployment waiting at the reroute; it has moved on.
    let refused = provider.execute(r.clone(), RolloutAction::Abort, Some(seen_by_bob), By::default()).await.unwrap_err();
    let DeliveryError::Refused(why) = refused else { panic!("{refused:?}") };
    assert!(why.contains("moved on since you looked") && why.contains("Ready → InProgress"), "{why}");
    tokio::task::block_in_place(|| {
        assert!(sent(&aws, "StopDeployment").is_empty(), "nothing was sent");
        assert_eq!(sent(&aws, "ContinueDeployment").len(), 1);
        aws.assert_contract_kept();
    });
}
