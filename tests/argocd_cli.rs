//! `flightdeck apps` and `flightdeck app …` against Argo CD: through the Kubernetes API (the
//! double, with the scripted controller), and through the API server (its double), with the
//! policy, the typed confirmation for production, the journal and the refusals in Argo CD's words.

mod support;

use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use support::apiserver::ApiDouble;
use support::argocd_controller::{HEAD, OLD, ScriptedArgoCd, application};
use support::argocd_server::{ArgoCdServer, TOKEN};

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");
const NS: &str = "argocd";

struct Env {
    api: Arc<ApiDouble>,
    _controller: ScriptedArgoCd,
    server: Option<ArgoCdServer>,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new(through_server: bool) -> Env {
        let api = Arc::new(ApiDouble::start().await);
        api.put(application(NS, "checkout"));
        let mut staging = application(NS, "catalog");
        staging["spec"]["project"] = "web".into();
        staging["status"]["sync"] = serde_json::json!({"status": "Synced", "revision": HEAD});
        api.put(staging);
        let controller = ScriptedArgoCd::start(api.clone(), NS);
        let server = if through_server { Some(ArgoCdServer::start(api.clone(), NS).await) } else { None };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig(&[("double", "shop")])).unwrap();
        let way_in = if through_server { "" } else { "server = \"kubernetes\"\n" };
        let config = format!(
            "[environments.staging]\n[environments.prod]\nproduction = true\n\n[kubernetes]\nkubeconfig = \"kubeconfig\"\ntimeout = \"3s\"\n\n\
             [argocd]\n{way_in}environments = {{ shop = \"prod\", web = \"staging\" }}\n"
        );
        std::fs::write(dir.path().join("flightdeck.toml"), config).unwrap();
        Env { api, _controller: controller, server, dir }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(self.dir.path().join("flightdeck.toml")).arg("--data-dir").arg(self.dir.path().join("data"));
        c.args(args).env("NO_COLOR", "1").env_remove("KUBECONFIG").env("HOME", self.dir.path());
        c.env_remove("ARGOCD_SERVER").env_remove("ARGOCD_AUTH_TOKEN");
        if let Some(s) = &self.server {
            c.env("ARGOCD_SERVER", s.url()).env("ARGOCD_AUTH_TOKEN", TOKEN);
        }
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("data").join("audit.jsonl")).unwrap_or_default()
    }

    async fn until_synced(&self) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let app = self.api.get("applications", NS, "checkout").unwrap();
            if app.pointer("/status/sync/status") == Some(&"Synced".into()) && app.get("operation").is_none_or(Value::is_null) {
                return app;
            }
            assert!(tokio::time::Instant::now() < deadline, "never synced: {app:#}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn scenario(e: &Env) {
    // What needs a human first: production out of sync before staging in sync.
    let out = e.run(&["apps"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert!(lines[0].starts_with("APP") && lines[0].contains("LAST SYNC"), "{lines:?}");
    assert!(lines[1].starts_with("checkout") && lines[1].contains("OutOfSync") && lines[1].contains("1b2c3d4"), "{lines:?}");
    assert!(lines[2].starts_with("catalog") && lines[2].contains("Synced"), "{lines:?}");
    let rows: Value = serde_json::from_slice(&e.run(&["apps", "--json"]).await.stdout).unwrap();
    assert_eq!(rows[0]["environment"], "prod");
    assert_eq!(rows[0]["app"]["auto_sync"], false);
    assert_eq!(rows[0]["app"]["history"][0]["revision"], OLD);

    // Production asks for the app's name typed and a reason.
    let out = e.run(&["app", "sync", "checkout", "--yes"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--confirm"), "{}", text(&out));
    let out = e.run(&["app", "sync", "checkout", "--prune", "--yes", "--confirm", "checkout", "--reason", "release 4.2", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["done"], true, "{done}");
    let app = e.until_synced().await;
    assert_eq!(app["status"]["history"].as_array().unwrap().len(), 2);
    let journal = e.journal();
    assert!(journal.contains("\"app.sync\"") && journal.contains("release 4.2"), "{journal}");

    // Rollback refused with auto-sync on, in Argo CD's words; allowed once it is off.
    let typed = ["--yes", "--confirm", "checkout", "--reason", "drill"];
    let out = e.run(&[&["app", "auto-sync", "checkout"][..], &typed].concat()).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = e.run(&[&["app", "rollback", "checkout", "--id", "0"][..], &typed].concat()).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("auto-sync"), "{}", text(&out));
    let out = e.run(&[&["app", "auto-sync", "checkout", "--off"][..], &typed].concat()).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = e.run(&[&["app", "rollback", "checkout", "--id", "0"][..], &typed].concat()).await;
    assert!(out.status.success(), "{}", text(&out));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while e.api.get("applications", NS, "checkout").unwrap().pointer("/status/history/2").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the rollback never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let out = e.run(&["app", "get", "checkout"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("#2 8f2c1a9"), "the history, newest deployment the rollback: {}", text(&out));

    // Nothing to stop: Argo CD's words; a refresh on staging needs only yes.
    let out = e.run(&[&["app", "terminate", "checkout"][..], &typed].concat()).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("No operation is in progress"), "{}", text(&out));
    let out = e.run(&["app", "refresh", "catalog", "--hard", "--yes"]).await;
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_and_app_verbs_through_the_kubernetes_api() {
    let e = Env::new(false).await;
    scenario(&e).await;
    // The project's deny window, on all day: a sync is refused with it, before anything is sent;
    // `app get` shows it.
    e.api.put(serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"syncWindows": [{"kind": "deny", "schedule": "0 0 * * *", "duration": "24h", "applications": ["cat*"]}]}}));
    let out = e.run(&["app", "sync", "catalog", "--yes"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("blocked by sync window (deny `0 0 * * *` for 24h (UTC))"), "{}", text(&out));
    let out = e.run(&["app", "get", "catalog"]).await;
    assert!(text(&out).contains("Sync windows: deny `0 0 * * *` for 24h (UTC) — active now"), "{}", text(&out));
    assert!(e.journal().contains("blocked by sync window"), "the refusal is journaled");
    // A cluster that does not let this user patch Applications: refused before anything is sent.
    e.api.forbid("patch", "applications");
    let out = e.run(&["app", "refresh", "catalog", "--yes"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("refused"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_and_app_verbs_through_the_api_server() {
    let e = Env::new(true).await;
    scenario(&e).await;
    let server = e.server.as_ref().unwrap();
    // A deny window the server reports: refused before sending, with the window.
    server.deny_window(true);
    let out = e.run(&["app", "sync", "catalog", "--yes"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("blocked by sync window (deny `0 22 * * *` for 1h (UTC))"), "{}", text(&out));
    server.deny_window(false);
    // Argo CD's RBAC, asked beforehand (can-i), refuses this user's sync.
    server.deny("sync");
    let out = e.run(&["app", "sync", "catalog", "--yes"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("RBAC"), "{}", text(&out));
}
