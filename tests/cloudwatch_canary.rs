//! The canary judged from CloudWatch, against the AWS double (GetMetricData held to botocore's
//! model, SigV4 checked): an ECS blue/green deployment names the target groups its replacement and
//! original serve from, the verdict measures those, and the next deployment (whose replacement is
//! on the other group) is measured the other way round; ECS's own blue/green is measured on its
//! alternate (new) and primary target groups.

mod support;

use serde_json::{Value, json};
use support::aws::Aws;

const API: &str = "ecs:payments/payments-api";
const LB: &str = "app/payments/6d0ecf831eec9f09";
const GROUP_A: &str = "targetgroup/payments-a/1a2b3c4d5e6f7081";
const GROUP_B: &str = "targetgroup/payments-b/8f7e6d5c4b3a2910";

fn start() -> Aws {
    Aws::start(
        "[environments.staging]\nproduction = false\n\
         [cloudwatch.aws]\nregion = \"eu-west-1\"\nendpoint_url = \"{endpoint}\"\n\
         [services.payments-api]\ncloudwatch = \"aws\"\n\
         [ecs]\nregion = \"eu-west-1\"\nendpoint_url = \"{endpoint}\"\nservices = [\"payments/payments-api\"]\n\
         environments = { \"payments/*\" = \"staging\" }\njudged_by = { \"payments/payments-api\" = \"payments-api\" }\n",
    )
}

/// Fourteen minutes of load balancer metrics for `group` (the analysis takes the last ten whole
/// minutes, wherever the minute turns): 60 requests a minute answered in `latency` seconds (a
/// spread of ±20 %), `errors` of them 5XX — and no 5XX count at all when there are none, as the
/// load balancer publishes it.
fn traffic(aws: &Aws, group: &str, latency: f64, errors: u32) {
    let now = jiff::Timestamp::now().as_second();
    let dims = json!({"LoadBalancer": LB, "TargetGroup": group});
    let minutes: Vec<i64> = (-13..=1).map(|m| now / 60 * 60 + m * 60 + 30).collect();
    let spread = |i: usize| latency * (0.8 + 0.4 * ((i * 37) % 60) as f64 / 59.0);
    let series = |metric: &str, points: Vec<Value>| {
        aws.control("ecs/metrics", json!({"namespace": "AWS/ApplicationELB", "metric": metric, "dimensions": dims, "points": points}));
    };
    series("TargetResponseTime", minutes.iter().map(|t| json!([t, (0..60).map(spread).collect::<Vec<_>>()])).collect());
    series("RequestCount", minutes.iter().map(|t| json!([t, [60]])).collect());
    if errors > 0 {
        series("HTTPCode_Target_5XX_Count", minutes.iter().map(|t| json!([t, [errors]])).collect());
    }
}

fn measured_on(aws: &Aws) -> Value {
    aws.json(&["rollout", "get", API, "--json"])["measured_on"].clone()
}

fn verdict(aws: &Aws) -> (i32, Value) {
    let (code, out, err) = aws.run(&["canary", "payments-api", "--release", API, "--json"]);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}")))
}

fn metric<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["metrics"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

#[test]
fn the_verdict_measures_the_target_groups_of_the_deployment_and_follows_them_when_they_swap() {
    let aws = start();
    traffic(&aws, GROUP_A, 0.100, 0);
    traffic(&aws, GROUP_B, 0.160, 6);

    // The running task set serves from group A; the replacement CodeDeploy starts, from B.
    aws.control("ecs/deploy", json!({}));
    let sides = measured_on(&aws);
    assert_eq!(sides["canary"], format!("LoadBalancer={LB},TargetGroup={GROUP_B}"), "{sides:#}");
    assert_eq!(sides["stable"], format!("LoadBalancer={LB},TargetGroup={GROUP_A}"), "{sides:#}");

    let (code, v) = verdict(&aws);
    assert_eq!((code, v["phase"].as_str()), (1, Some("Failed")), "{v:#}");
    let p99 = metric(&v, "p99 latency");
    assert_eq!(p99["phase"], "Failed", "{p99:#}");
    assert!(p99["canary_query"].as_str().unwrap().contains(GROUP_B), "{p99:#}");
    let last = p99["measurements"].as_array().unwrap().last().unwrap();
    let (canary, stable) = (last["canary"]["value"].as_f64().unwrap(), last["stable"]["value"].as_f64().unwrap());
    assert!((0.18..=0.2).contains(&canary) && (0.11..=0.125).contains(&stable), "the 99th percentile of each side: {last:#}");
    let errors = metric(&v, "error ratio");
    assert_eq!(errors["phase"], "Failed", "{errors:#}");
    let last = errors["measurements"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["canary"]["value"].as_f64(), last["stable"]["value"].as_f64()),
        (Some(0.1), Some(0.0)),
        "no 5XX count is 0 %: {last:#}"
    );
    assert_eq!(metric(&v, "request rate")["measurements"].as_array().unwrap().last().unwrap()["canary"]["value"], 1.0);
    assert_eq!(v["metrics"].as_array().unwrap().iter().map(|m| m["measurements"].as_array().unwrap().len()).min(), Some(10));

    // That deployment finishes; the next one's replacement serves from A, the one that was
    // stable, and the verdict judges A against B.
    aws.control("ecs/advance", json!({}));
    aws.control("ecs/advance", json!({}));
    aws.control("ecs/deploy", json!({}));
    let sides = measured_on(&aws);
    assert_eq!(sides["canary"], format!("LoadBalancer={LB},TargetGroup={GROUP_A}"), "{sides:#}");
    let (code, v) = verdict(&aws);
    assert_eq!((code, v["phase"].as_str()), (0, Some("Successful")), "{v:#}");

    let asked = aws.calls()["calls"].as_array().unwrap().iter().filter(|c| c["op"] == "GetMetricData").count();
    assert_eq!(asked, 2, "one GetMetricData per verdict");
    aws.assert_contract_kept();
}

#[test]
fn without_a_release_or_dimensions_the_verdict_says_what_is_missing() {
    let aws = start();
    let (code, out, err) = aws.run(&["canary", "payments-api", "--json"]);
    assert_eq!(code, 2, "{out} {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["phase"], "Error");
    assert!(v["reason"].as_str().unwrap().contains("no dimensions say which canary and stable to measure"), "{v:#}");
}

#[test]
fn ecs_s_own_blue_green_is_measured_on_its_alternate_and_primary_target_groups() {
    let aws = Aws::start(
        "[cloudwatch.aws]\nregion = \"eu-west-1\"\nendpoint_url = \"{endpoint}\"\n[services.checkout]\ncloudwatch = \"aws\"\n\
         [ecs]\nregion = \"eu-west-1\"\nendpoint_url = \"{endpoint}\"\nservices = [\"payments/checkout\"]\n\
         judged_by = { \"payments/checkout\" = \"checkout\" }\n",
    );
    aws.control("ecs/deploy", json!({"service": "checkout"}));
    let sides = aws.json(&["rollout", "get", "ecs:payments/checkout", "--json"])["measured_on"].clone();
    let shop = "LoadBalancer=app/shop/50dc6c495c0c9188";
    assert_eq!(sides["canary"], format!("{shop},TargetGroup=targetgroup/checkout-green/09a1b2c3d4e5f607"), "{sides:#}");
    assert_eq!(sides["stable"], format!("{shop},TargetGroup=targetgroup/checkout-blue/73e2d6bc24d8a067"), "{sides:#}");
}
