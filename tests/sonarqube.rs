//! SonarQube's quality gate as release evidence, against a Web API double that answers in the
//! shape of SonarQube's own documented examples (checked here, answer by answer): the scanner's
//! report-task.txt among a stage's reports, the analysis awaited, the gate read and judged; a
//! failed gate names its conditions; a wrong token, a failed analysis, a server that is down or
//! hangs all fail the rule closed with the reason.

mod support;

use std::path::Path;
use std::time::Duration;

use flightdeck::findings::sonar::{QualityGate, resolve};
use flightdeck::findings::{judge_quality, parse_report};
use support::python_tools::Server;

const TOKEN: &str = "squ_0123456789abcdef";

fn documented(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract/sonarqube").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `answer` has the documented shape: every key it has is documented with the same JSON type
/// (lists compared by their first element), and it leaves out only what `optional` names.
fn same_shape(answer: &serde_json::Value, example: &serde_json::Value, optional: &[&str], at: &str) {
    use serde_json::Value as V;
    match (answer, example) {
        (V::Object(a), V::Object(e)) => {
            for (k, v) in a {
                if k == "errorMessage" {
                    continue; // documented for failed tasks; the example is a successful one
                }
                let ev = e.get(k).unwrap_or_else(|| panic!("{at}.{k} is not in SonarQube's documented answer"));
                same_shape(v, ev, optional, &format!("{at}.{k}"));
            }
            for k in e.keys() {
                assert!(a.contains_key(k) || optional.contains(&k.as_str()), "{at}.{k} is missing from the answer");
            }
        }
        (V::Array(a), V::Array(e)) => {
            if let Some(ex) = e.first() {
                for item in a {
                    same_shape(item, ex, &["errorThreshold"], &format!("{at}[]"));
                }
            }
        }
        (a, e) => assert_eq!(std::mem::discriminant(a), std::mem::discriminant(e), "{at}: {a} is not of the documented type of {e}"),
    }
}

fn double(script: serde_json::Value) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    (Server::start("json", "sonar_double.py", &[TOKEN, path.to_str().unwrap()]), dir)
}

fn get(port: u16, path: &str) -> (u16, serde_json::Value) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let resp = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}")).basic_auth(TOKEN, Some("")).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    })
}

fn script() -> serde_json::Value {
    serde_json::json!({
        "tasks": {
            "AYok": {"polls_pending": 2, "analysis": "AN-ok"},
            "AYred": {"analysis": "AN-red"},
            "AYfail": {"status": "FAILED", "error": "Unsupported Java version"},
        },
        "gates": {
            "AN-ok": {"status": "OK", "conditions": [{"status": "OK", "metricKey": "new_coverage", "comparator": "LT", "errorThreshold": "80", "actualValue": "91.2"}]},
            "AN-red": {"status": "ERROR", "conditions": [
                {"status": "ERROR", "metricKey": "new_coverage", "comparator": "LT", "errorThreshold": "80", "actualValue": "61.5"},
                {"status": "OK", "metricKey": "new_bugs", "comparator": "GT", "errorThreshold": "0", "actualValue": "0"}]},
        },
    })
}

#[test]
fn the_double_answers_as_sonarqube_documents_and_the_examples_themselves_are_read() {
    let (server, _dir) = double(script());
    let task_example = documented("task-example.json");
    let status_example = documented("project_status-example.json");
    let pending = ["analysisId", "executedAt", "executionTimeMs"];
    for _ in 0..3 {
        let (code, answer) = get(server.port, "/api/ce/task?id=AYok");
        assert_eq!(code, 200);
        same_shape(&answer, &task_example, &pending, "task");
    }
    let (_, failed) = get(server.port, "/api/ce/task?id=AYfail");
    same_shape(&failed, &task_example, &[], "task");
    let (_, status) = get(server.port, "/api/qualitygates/project_status?analysisId=AN-red");
    same_shape(&status, &status_example, &[], "projectStatus");

    // The documented example of a failed gate, as flightdeck words it.
    let gate: QualityGate = QualityGate {
        project_key: "shop".into(),
        status: status_example["projectStatus"]["status"].as_str().unwrap().into(),
        conditions: serde_json::from_value(status_example["projectStatus"]["conditions"].clone()).unwrap(),
        ..QualityGate::default()
    };
    assert!(!gate.passed());
    assert_eq!(
        gate.text(),
        "shop quality gate ERROR: new_coverage 82.50562381034781 (< 85 allowed), new_blocker_violations 14 (> 0 allowed), \
         new_critical_violations 1 (> 0 allowed), open_issues 17 (> ? allowed)"
    );
}

fn task(port: u16, id: &str) -> QualityGate {
    let text = format!(
        "projectKey=shop\nserverUrl=http://127.0.0.1:{port}\nserverVersion=10.7.0\ndashboardUrl=http://127.0.0.1:{port}/dashboard?id=shop\nceTaskId={id}\nceTaskUrl=http://127.0.0.1:{port}/api/ce/task?id={id}\n"
    );
    let report = parse_report(text.as_bytes(), "target/sonar/report-task.txt").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.tool, "sonarqube");
    let gate = report.quality.unwrap();
    assert!(!gate.passed(), "not passed before the server was asked");
    gate
}

fn asked(port: u16, id: &str, token: Option<&str>, wait: Duration) -> QualityGate {
    let mut gate = task(port, id);
    tokio::runtime::Runtime::new().unwrap().block_on(resolve(&mut gate, token, wait, Duration::from_millis(50)));
    gate
}

#[test]
fn an_analysis_is_awaited_and_its_gate_judged() {
    let (server, _dir) = double(script());
    let ok = asked(server.port, "AYok", Some(TOKEN), Duration::from_secs(30));
    assert_eq!((ok.problem.as_deref(), ok.status.as_str(), ok.analysis_id.as_deref()), (None, "OK", Some("AN-ok")));
    let v = judge_quality(std::slice::from_ref(&ok));
    assert!(v.pass, "{}", v.summary);

    let red = asked(server.port, "AYred", Some(TOKEN), Duration::from_secs(30));
    let v = judge_quality(&[ok, red]);
    assert!(!v.pass);
    assert_eq!(v.summary, "shop quality gate ERROR: new_coverage 61.5 (< 80 allowed)");

    // The token went as SonarQube takes it, and never anywhere else.
    let (_, requests) = get(server.port, "/_requests");
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.iter().filter(|r| r["path"] == "/api/ce/task" && r["query"]["id"] == "AYok").count(), 3, "polled until done");
    assert!(requests.iter().all(|r| r["authorization"].as_str().is_some_and(|a| a.starts_with("Basic "))));
}

#[test]
fn whatever_stops_the_gate_from_being_read_fails_the_rule_closed() {
    let (server, _dir) = double(script());
    let cases = [
        (asked(server.port, "AYok", Some("wrong"), Duration::from_secs(5)), "SonarQube refused the token (401)"),
        (asked(server.port, "AYok", None, Duration::from_secs(5)), "set SONAR_TOKEN"),
        (asked(server.port, "AYfail", Some(TOKEN), Duration::from_secs(5)), "the analysis task FAILED: Unsupported Java version"),
        (asked(server.port, "AYgone", Some(TOKEN), Duration::from_secs(5)), "No activity found for task 'AYgone'"),
    ];
    for (gate, why) in cases {
        let v = judge_quality(std::slice::from_ref(&gate));
        assert!(!v.pass && v.summary.contains(why), "{why}: {}", v.summary);
        assert!(!v.summary.contains(TOKEN), "the token is never shown");
    }
    // Down: nothing listens on the port any more.
    let port = server.port;
    drop(server);
    let down = asked(port, "AYok", Some(TOKEN), Duration::from_secs(5));
    assert!(down.problem.as_deref().is_some_and(|p| p.contains("did not answer")), "{down:?}");
    // Hanging: the wait bounds it.
    let (hanging, _dir) = double(serde_json::json!({"tasks": {}, "gates": {}, "hang": true}));
    let hung = asked(hanging.port, "AYok", Some(TOKEN), Duration::from_secs(2));
    assert!(hung.problem.as_deref().is_some_and(|p| p.contains("did not answer")), "{hung:?}");
    assert!(!judge_quality(&[]).pass, "no analysis: fails closed");
}

/// A pipeline whose analysis stage leaves the scanner's report-task.txt for task `id`, and a
/// production gate that requires the quality gate.
fn pipeline(port: u16, id: &str) -> support::cli_env::Env {
    let task = format!(
        "projectKey=shop\\nserverUrl=http://127.0.0.1:{port}\\nceTaskId={id}\\ndashboardUrl=http://127.0.0.1:{port}/dashboard?id=shop\\n"
    );
    support::cli_env::Env::new(&format!(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\nmax_severity = \"high\"\nquality_gate = \"pass\"\n\
         [[pipelines.release.stages]]\nname = \"analyse\"\nrun = \"mkdir -p target/sonar && printf '{task}' > target/sonar/report-task.txt\"\nreports = [\"target/sonar/report-task.txt\"]\n\
         [[pipelines.release.stages]]\nname = \"approve-prod\"\nneeds = [\"analyse\"]\nenvironment = \"prod\"\ngate = true\n"
    ))
}

fn release_gate_after_run(e: &support::cli_env::Env) -> serde_json::Value {
    let out = e.cmd(&["run", "release"]).env("SONAR_TOKEN", TOKEN).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    e.wait_status(1, "waiting");
    let (code, out, err) = e.run(&["approvals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    rows[0]["release_gate"].clone()
}

#[test]
fn a_pipeline_s_analysis_decides_the_production_approval() {
    let (server, _dir) = double(script());
    let red = release_gate_after_run(&pipeline(server.port, "AYred"));
    assert_eq!(red["pass"], false, "{red:#}");
    assert_eq!(red["quality"]["summary"], "shop quality gate ERROR: new_coverage 61.5 (< 80 allowed)", "{red:#}");
    let green = release_gate_after_run(&pipeline(server.port, "AYok"));
    assert_eq!((green["pass"].as_bool(), green["quality"]["pass"].as_bool()), (Some(true), Some(true)), "{green:#}");
}
