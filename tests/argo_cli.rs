//! The Argo Rollouts subcommands against the Kubernetes API double: the list sorted by what needs
//! a human, actions through the access review, the policy, the confirmation and the journal.

mod support;

use std::process::{Command, Output};

use serde_json::{Value, json};
use support::apiserver::ApiDouble;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

struct Env {
    api: ApiDouble,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        let api = ApiDouble::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig(&[("staging", "shop"), ("prod-eu", "shop")])).unwrap();
        let config = "[environments.staging]\n[environments.prod]\nproduction = true\n\n\
                      [kubernetes]\nkubeconfig = \"kubeconfig\"\ntimeout = \"3s\"\n\
                      environments = { staging = \"staging\", prod-eu = \"prod\" }\n";
        std::fs::write(dir.path().join("flightdeck.toml"), config).unwrap();
        Env { api, dir }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(self.dir.path().join("flightdeck.toml")).arg("--data-dir").arg(self.dir.path().join("data"));
        c.args(args).env("NO_COLOR", "1").env_remove("KUBECONFIG");
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("data").join("audit.jsonl")).unwrap_or_default()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn rollout(ns: &str, name: &str, status: Value) -> Value {
    let mut s = json!({"phase": "Progressing", "currentStepIndex": 0, "currentPodHash": "new", "stableRS": "old"});
    json_patch::merge(&mut s, &status);
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]}}},
        "status": s})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_puts_what_needs_a_human_first_across_namespaces() {
    let e = Env::new().await;
    e.api.put(rollout("shop", "healthy", json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "new"})));
    e.api.put(rollout(
        "search",
        "waiting",
        json!({"phase": "Paused", "currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
    ));
    e.api.put(rollout("shop", "aborted", json!({"phase": "Degraded", "abort": true,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "RolloutAborted", "message": "metric error-rate assessed Failed"}]})));
    let out = e.run(&["rollouts", "-A"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert!(lines[1].contains("waiting") && lines[1].contains("Paused (CanaryPauseStep)"), "{lines:?}");
    assert!(lines[2].contains("aborted") && lines[2].contains("Aborted: metric error-rate assessed Failed"), "{lines:?}");
    assert!(lines[3].contains("healthy") && lines[3].contains("Healthy"), "{lines:?}");

    let out = e.run(&["rollouts", "-n", "search", "--json"]).await;
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!((rows[0]["health"].as_str(), rows[0]["state"].as_str()), (Some("paused"), Some("Paused (CanaryPauseStep)")));

    let out = e.run(&["rollout", "get", "search/waiting"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("▶ 2. pause"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_goes_through_policy_and_journal_and_sends_the_patch() {
    let e = Env::new().await;
    e.api.put(rollout(
        "shop",
        "web",
        json!({"phase": "Paused", "currentStepIndex": 1, "controllerPause": true,
        "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
    ));
    // Staging: a y/N confirmation, answered by --yes.
    let out = e.run(&["promote", "shop/web", "--context", "staging", "--yes", "--reason", "canary looks fine"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("promote sent"), "{}", text(&out));
    let writes: Vec<_> = e.api.take_writes().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body, json!({"status": {"pauseConditions": null}}));
    let journal = e.journal();
    assert!(journal.contains("\"action\":\"rollout.promote\"") && journal.contains("\"phase\":\"intent\""), "{journal}");
    assert!(journal.contains("\"result\":\"success\""), "{journal}");
    // Beside the local account, who the cluster authenticated.
    assert!(journal.contains("\"kubernetes_user\":\"tester\""), "{journal}");

    // Production: a promotion is judged by the release's security findings; with no pipeline run
    // behind it they cannot be read, and the gate fails closed.
    e.api.modify("rollouts", "shop", "web", |r| {
        r["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
    });
    let out = e.run(&["promote", "shop/web", "--context", "prod-eu", "--confirm", "shop/web", "--reason", "release 2.4.0"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("security findings have not been read"), "{}", text(&out));
    assert!(text(&out).contains("no pipeline run is linked to shop/web") && text(&out).contains("--evidence RUN"), "{}", text(&out));
    assert_eq!(out.status.code(), Some(3), "refused: nothing was done");
    // Abort is never held back by findings, but production wants the typed name and a reason.
    let out = e.run(&["abort", "shop/web", "--context", "prod-eu", "--yes"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("--confirm shop/web"), "{}", text(&out));
    assert!(e.api.take_writes().iter().all(|r| r.method != "PATCH"));
    let out = e.run(&["abort", "shop/web", "--context", "prod-eu", "--confirm", "shop/web", "--reason", "errors after 2.4.0"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let writes: Vec<_> = e.api.take_writes().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(writes[0].body, json!({"status": {"abort": true}}));
    assert!(e.journal().contains("\"environment\":\"prod\""), "{}", e.journal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_action_is_refused_before_anything_is_sent_and_journaled() {
    let e = Env::new().await;
    e.api.put(rollout("shop", "web", json!({"currentStepIndex": 2})));
    e.api.forbid("patch", "rollouts/status");
    let out = e.run(&["abort", "shop/web", "--context", "staging", "--yes", "--reason", "errors"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("you may not patch rollouts/status"), "{}", text(&out));
    assert!(e.api.take_writes().iter().all(|r| r.method != "PATCH"));
    assert!(e.journal().contains("\"phase\":\"refused\""), "{}", e.journal());
    // Pause is a spec patch: still allowed.
    let out = e.run(&["pause", "shop/web", "--context", "staging", "--yes", "--reason", "looking"]).await;
    assert!(out.status.success(), "{}", text(&out));
}

/// A pipeline whose deploy stage hands over to `shop/web` with a new image.
fn with_pipeline(e: &Env) {
    let path = e.dir.path().join("flightdeck.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(
        "\n[pipelines.release]\nstages = [\n  { name = \"build\", run = \"echo built\" },\n  \
         { name = \"deploy\", needs = [\"build\"], environment = \"staging\", rollout = \"shop/web\", image = \"app=web:4\" },\n]\n",
    );
    std::fs::write(&path, config).unwrap();
}

fn deployable() -> Value {
    let mut r = rollout(
        "shop",
        "web",
        json!({"phase": "Healthy", "currentStepIndex": 3, "stableRS": "old", "currentPodHash": "old", "observedGeneration": "1"}),
    );
    r["spec"]["template"] = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:3"}]}});
    r
}

/// Waits for the image patch, then plays the controller: `outcome` is applied to the status.
async fn controller(api: &ApiDouble, outcome: Value) {
    for _ in 0..300 {
        if api.get("rollouts", "shop", "web").unwrap()["spec"]["template"]["spec"]["containers"][0]["image"] == "web:4" {
            api.modify("rollouts", "shop", "web", |r| {
                let generation = r["metadata"]["generation"].as_i64().unwrap();
                r["status"]["observedGeneration"] = json!(generation.to_string());
                json_patch::merge(&mut r["status"], &outcome);
            });
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the image was never set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_stage_deploys_the_image_and_follows_the_rollout_to_healthy() {
    let e = Env::new().await;
    with_pipeline(&e);
    e.api.put(deployable());
    let run = e.run(&["run", "release", "--yes", "--follow"]);
    let (out, _) = tokio::join!(run, controller(&e.api, json!({"phase": "Healthy", "currentPodHash": "new4", "stableRS": "new4"})));
    assert!(out.status.success(), "{}", text(&out));
    let patch = e.api.take_writes().into_iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body,
        json!([{"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "web:3"},
               {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "web:4"},
               {"op": "add", "path": "/metadata/annotations", "value": {"flightdeck.dev/run": "local:1"}}]),
        "the image and the run that built it arrive in one patch"
    );
    assert!(text(&out).contains("shop/web is Healthy on its new version"), "{}", text(&out));
    assert!(e.journal().contains("\"action\":\"rollout.deploy\""), "{}", e.journal());
    assert_eq!(e.api.get("rollouts", "shop", "web").unwrap()["metadata"]["annotations"]["flightdeck.dev/run"], "local:1");

    // The next release waits at a pause in production: its promotion is judged by the findings of
    // the run that built it (this one declares no reports, so the gate passes).
    e.api.modify("rollouts", "shop", "web", |r| {
        r["status"]["phase"] = json!("Paused");
        r["status"]["currentStepIndex"] = json!(1);
        r["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
    });
    let out = e.run(&["promote", "shop/web", "--context", "prod-eu", "--confirm", "shop/web", "--reason", "release 4"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        e.journal().contains("\"action\":\"rollout.promote\"") && e.journal().contains("\"evidence_run\":\"local:1\""),
        "{}",
        e.journal()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_production_promotion_names_its_evidence_or_is_refused() {
    let e = Env::new().await;
    // A run to judge by: it declares no reports, so its findings are clean.
    let path = e.dir.path().join("flightdeck.toml");
    let config = std::fs::read_to_string(&path).unwrap() + "\n[[pipelines.build.stages]]\nname = \"b\"\nrun = \"true\"\n";
    // And a run whose scan found what Trivy calls CRITICAL (the report of tests/fixtures).
    let trivy = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reports/trivy.json");
    let config = config
        + &format!(
            "\n[[pipelines.scanned.stages]]\nname = \"scan\"\nrun = \"mkdir -p out && cp {trivy} out/t.json\"\nreports = [\"out/t.json\"]\n"
        );
    std::fs::write(&path, config).unwrap();
    assert!(e.run(&["run", "build", "--yes", "--follow"]).await.status.success());
    assert!(e.run(&["run", "scanned", "--yes", "--follow"]).await.status.success());
    e.api.put(rollout(
        "shop",
        "web",
        json!({"phase": "Paused", "currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
    ));
    let promote = |extra: &'static [&'static str]| {
        let mut args = vec!["promote", "shop/web", "--context", "prod-eu", "--confirm", "shop/web", "--reason", "release 5"];
        args.extend_from_slice(extra);
        args
    };
    let out = e.run(&promote(&[])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--evidence RUN"), "{}", text(&out));
    assert!(e.api.take_writes().iter().all(|r| r.method != "PATCH"), "fails closed: nothing sent");
    let out = e.run(&promote(&["--evidence", "gh:1"])).await;
    assert_eq!(out.status.code(), Some(3), "an unknown provider is an error: {}", text(&out));
    // The run named is what judges: a critical finding in it refuses the promotion.
    let out = e.run(&promote(&["--evidence", "local:2"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("release gate in prod"), "{}", text(&out));
    assert!(e.api.take_writes().iter().all(|r| r.method != "PATCH"), "refused: nothing sent");
    let out = e.run(&promote(&["--evidence", "1"])).await;
    assert!(out.status.success(), "{}", text(&out));
    // The provider-neutral reference names the same rollout, its context included.
    e.api.modify("rollouts", "shop", "web", |r| {
        r["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
    });
    let out = e.run(&["promote", "argo:prod-eu/shop/web", "--confirm", "shop/web", "--reason", "again", "--evidence", "local:1"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let list = e.run(&["rollouts", "--context", "prod-eu", "--json"]).await;
    let rows: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["ref"], "argo:prod-eu/shop/web");
    let get = e.run(&["rollout", "get", "argo:prod-eu/shop/web", "--json"]).await;
    assert!(get.status.success(), "{}", text(&get));
    // retry takes a run or a rollout, told apart by the reference.
    let out = e.run(&["retry", "nginx:web", "--yes"]).await;
    assert!(text(&out).contains("no rollout provider `nginx` is configured"), "an NGINX canary was meant: {}", text(&out));
    let out = e.run(&["retry", "7", "--yes"]).await;
    assert!(text(&out).contains("run #7 does not exist"), "a run was meant: {}", text(&out));
    assert!(e.api.take_writes().iter().any(|r| r.method == "PATCH"));
    assert!(e.journal().contains("\"evidence_run\":\"local:1\""), "{}", e.journal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_stage_fails_when_the_rollout_is_aborted() {
    let e = Env::new().await;
    with_pipeline(&e);
    e.api.put(deployable());
    let run = e.run(&["run", "release", "--yes", "--follow"]);
    let aborted = json!({"phase": "Degraded", "abort": true, "currentPodHash": "new4",
        "conditions": [{"type": "Progressing", "status": "False", "reason": "RolloutAborted", "message": "metric error-rate assessed Failed"}]});
    let (out, _) = tokio::join!(run, controller(&e.api, aborted));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("shop/web: Aborted: metric error-rate assessed Failed"), "{}", text(&out));
}

/// An action that would change nothing (pause when paused, abort when fully promoted, retry when
/// not aborted, promote at the end) sends nothing and exits 4, so a script can tell it from a
/// failure (1) and from an error or a refusal (3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_that_would_change_nothing_has_its_own_exit_code() {
    let e = Env::new().await;
    let mut paused = rollout("shop", "web", json!({"phase": "Paused", "currentStepIndex": 1, "controllerPause": true}));
    paused["spec"]["paused"] = json!(true);
    e.api.put(paused);
    e.api.put(rollout("shop", "done", json!({"phase": "Healthy", "currentStepIndex": 3, "currentPodHash": "new", "stableRS": "new"})));
    e.api.take_requests();
    for (args, says) in [
        (&["pause", "shop/web"][..], "already paused"),
        (&["retry", "shop/web"][..], "not aborted"),
        (&["abort", "shop/done"][..], "fully promoted"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--context", "staging", "--yes", "--reason", "checking"]);
        let out = e.run(&all).await;
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("nothing to do") && text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    assert!(e.api.take_writes().is_empty(), "nothing was sent");
    // A refusal is still a refusal: an unknown rollout is an error, exit 3.
    let out = e.run(&["pause", "shop/nope", "--context", "staging", "--yes", "--reason", "checking"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}
