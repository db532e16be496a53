//! What the notification tests share: a project with a gate and a failing pipeline, sinks
//! pointed at the receivers, the journal written as flightdeck writes it, and the supervisor told.

use super::cli_env::Env;
use super::receivers::Receiver;

/// A release with a gate in staging (no four-eyes rule there: the test's one account decides), and a
/// pipeline that fails.
pub const PIPELINES: &str = r#"
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
[[pipelines.slow.stages]]
name = "wait"
run = "echo waiting; sleep 600"
"#;

pub const SECRET: &str = "a shared secret for the receiver";

pub fn sink(name: &str, kind_and_keys: &str, extra: &str) -> String {
    format!("[notify.{name}]\n{kind_and_keys}\ntimeout = \"1s\"\n{extra}\n")
}

pub fn webhook(r: &Receiver, extra: &str) -> String {
    sink("hook", &format!("kind = \"webhook\"\nurl = \"{}/hooks/flightdeck\"\nsecret_env = \"FD_TEST_HOOK_SECRET\"", r.url), extra)
}

/// The project's commands, with the sink's secret in their environment (the supervisor they start
/// inherits it).
pub fn run(e: &Env, args: &[&str]) -> (i32, String, String) {
    let out = e.cmd(args).env("FD_TEST_HOOK_SECRET", SECRET).env("FD_TEST_PD_KEY", "0123456789abcdef0123456789abcdef").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The supervisor of a test's data directory: its pid, and its peak memory (kB).
pub fn supervisor_peak_kb(e: &Env) -> Option<u64> {
    let pid = super::supervision::supervisor_pid(&e.dir.path().join("data"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// Appends records to the project's journal as the runner writes them when a run fails: a flood
/// of failures without starting a thousand processes.
pub fn journal_failures(e: &Env, count: usize, environment: Option<&str>) {
    std::fs::create_dir_all(e.dir.path().join("data")).unwrap();
    let journal = flightdeck::audit::Journal::in_data_dir(&e.dir.path().join("data"));
    for n in 0..count {
        journal
            .append(flightdeck::audit::Draft {
                actor: "flightdeck".into(),
                origin: "local".into(),
                environment: environment.map(str::to_string),
                target: format!("local:{}", 1000 + n),
                action: "run.failed".into(),
                parameters: serde_json::json!({ "run": format!("local:{}", 1000 + n), "pipeline": "bad" }),
                reason: "`boom` failed".into(),
                phase: Some(flightdeck::audit::Phase::Event),
                result: "recorded".into(),
                ..Default::default()
            })
            .unwrap();
    }
}

/// Tells the supervisor the journal grew (starting it, with the sink's secret in its environment).
pub fn poke(e: &Env) {
    // SAFETY: set before the supervisor this starts reads its environment; no other thread of
    // this test reads it.
    unsafe { std::env::set_var("FD_TEST_HOOK_SECRET", SECRET) };
    let config = std::fs::canonicalize(e.config()).unwrap();
    let client = flightdeck::supervisor::Client::new(&e.dir.path().join("data"), Some(&config)).with_program(super::cli_env::BIN.as_ref());
    let reply = client.call(&flightdeck::supervisor::Request::Notify { config: Some(config) }).unwrap();
    assert!(reply.ok, "{}", reply.message);
}

/// Text from outside (a reason typed by a user, a pipeline's output) cannot steer a terminal,
/// page a whole channel or hide a link in any format.
pub const HOSTILE: &str = "ship it <!channel> <https://evil.example|docs> & \u{1b}]52;c;cm0gLXJmIH4=\u{7} \u{202e}reversed";

/// Journals what a person did to a rollout, as `flightdeck promote|pause|abort` records it.
pub fn journal_rollout_action(e: &Env, rollout: &str, action: &str, n: usize) {
    std::fs::create_dir_all(e.dir.path().join("data")).unwrap();
    let journal = flightdeck::audit::Journal::in_data_dir(&e.dir.path().join("data"));
    journal
        .append(flightdeck::audit::Draft {
            actor: "alice".into(),
            origin: "cli".into(),
            environment: Some("staging".into()),
            target: rollout.into(),
            action: action.into(),
            parameters: serde_json::json!({ "step": n }),
            reason: format!("change {n}"),
            phase: Some(flightdeck::audit::Phase::Outcome),
            result: "success".into(),
            ..Default::default()
        })
        .unwrap();
}

/// The order each rollout's notices arrived in: the `change N` numbers, per rollout.
pub fn order_per_rollout(got: &[super::receivers::Received]) -> std::collections::BTreeMap<String, Vec<usize>> {
    let mut order: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for g in got {
        let n = g.body["title"].as_str().unwrap().rsplit("change ").next().unwrap().parse().unwrap();
        order.entry(g.body["subject"].as_str().unwrap().to_string()).or_default().push(n);
    }
    order
}
