//! Notifications reach real receivers on loopback, in the formats the services document: a gate
//! waiting and decided, runs failing, retries through 429/5xx/hangs, an outage, a flood, kill -9
//! mid-delivery, and hostile text.

mod support;

use std::time::Duration;

use support::cli_env::Env;
use support::receivers::{Answer, Kind, Receiver};

/// A release with a gate in staging (no four-eyes rule there: the test's one account decides), and a
/// pipeline that fails.
const PIPELINES: &str = r#"
[environments.staging]
[[pipelines.release.stages]]
name = "build"
run = "echo built"
[[pipelines.release.stages]]
name = "approve-staging"
needs = ["build"]
environment = "staging"
gate = true
[[pipelines.release.stages]]
name = "ship"
needs = ["approve-staging"]
run = "echo shipped"
[[pipelines.bad.stages]]
name = "boom"
run = "echo about to fail; exit 4"
"#;

const SECRET: &str = "a shared secret for the receiver";

fn sink(name: &str, kind_and_keys: &str, extra: &str) -> String {
    format!("[notify.{name}]\n{kind_and_keys}\ntimeout = \"1s\"\n{extra}\n")
}

fn webhook(r: &Receiver, extra: &str) -> String {
    sink("hook", &format!("kind = \"webhook\"\nurl = \"{}/hooks/flightdeck\"\nsecret_env = \"FD_TEST_HOOK_SECRET\"", r.url), extra)
}

/// The project's commands, with the sink's secret in their environment (the supervisor they start
/// inherits it).
fn run(e: &Env, args: &[&str]) -> (i32, String, String) {
    let out = e.cmd(args).env("FD_TEST_HOOK_SECRET", SECRET).env("FD_TEST_PD_KEY", "0123456789abcdef0123456789abcdef").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_waiting_gate_and_its_decision_reach_a_signed_webhook() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"\nevents = [\"gate.*\"]")));
    let (code, _, err) = run(&e, &["run", "release"]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(1, Duration::from_secs(30));
    let waiting = &got[0].body;
    assert_eq!(waiting["event"], "gate.waiting", "{waiting}");
    assert_eq!(waiting["environment"], "staging");
    let text = waiting["text"].as_str().unwrap();
    assert!(text.contains("gate `approve-staging` of run local:1 is waiting"), "{text}");
    assert!(text.contains("flightdeck approve local:1 approve-staging"), "says what to run: {text}");
    assert!(text.contains("security gate"), "carries the gate's verdict: {text}");
    let (code, _, err) = run(&e, &["approve", "1", "--confirm", "approve-staging", "--reason", "release checked"]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(2, Duration::from_secs(30));
    let decided = &got[1].body;
    assert_eq!(decided["event"], "gate.decided", "{decided}");
    assert!(decided["text"].as_str().unwrap().contains("approved by") && decided["text"].as_str().unwrap().contains("release checked"), "{decided}");
    assert_ne!(got[0].headers["x-flightdeck-delivery"], got[1].headers["x-flightdeck-delivery"]);
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    // Nothing routed elsewhere arrives (the run's success is no event).
    e.wait_status(1, "success");
    let (code, out, _) = run(&e, &["notify", "outbox"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(r.received().len(), 2, "{:?}", r.received().iter().map(|x| x.body.clone()).collect::<Vec<_>>());
}
