//! The cockpit with 1,000 Argo CD Applications (through the Kubernetes API, against the
//! in-process API double), measured on the real binary in a pseudo-terminal: the releases key to
//! the whole list on screen, resident memory once it is in, and what an idle cockpit costs (CPU
//! and bytes written).

#[path = "../tests/support/http1.rs"]
pub mod http1;
/// The API double reads requests with the tests' HTTP/1.1 helper, where it looks for it.
mod support {
    pub use super::http1;
}
#[path = "../tests/support/apiserver.rs"]
#[allow(dead_code)]
mod apiserver;
#[path = "../tests/support/pty.rs"]
#[allow(dead_code)]
mod pty;
#[path = "common/releases_scale.rs"]
mod releases_scale;
#[path = "common/scale.rs"]
#[allow(dead_code)]
mod scale;

use serde_json::json;

const APPS: usize = 1000;

/// An application as Argo CD keeps them: a few resources and a short history each; one in ten out
/// of sync, one in fifty degraded.
fn application(i: usize) -> serde_json::Value {
    let name = format!("app-{i:04}");
    let sync = if i.is_multiple_of(10) { "OutOfSync" } else { "Synced" };
    let health = if i.is_multiple_of(50) { "Degraded" } else { "Healthy" };
    let rev = |n: usize| format!("{:08x}{:032x}", (i * 7919 + n) as u32 ^ 0x9e37_79b9, (i * 31 + n) as u128 * 0x9e37_79b9_7f4a_7c15);
    let resources: Vec<_> = ["Deployment", "Service", "ConfigMap", "Ingress"]
        .iter()
        .map(|k| json!({"group": if *k == "Deployment" { "apps" } else { "" }, "version": "v1", "kind": k, "namespace": format!("team-{}", i % 40), "name": name, "status": sync, "health": {"status": health}}))
        .collect();
    let history: Vec<_> = (0..5)
        .map(|n| json!({"id": n, "revision": rev(n), "deployedAt": "2026-11-28T09:00:00Z", "source": {"repoURL": "https://git.example/platform.git", "path": name, "targetRevision": "main"}, "initiatedBy": {"automated": true}}))
        .collect();
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": format!("team-{}", i % 40), "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("team-{}", i % 40)},
                 "source": {"repoURL": "https://git.example/platform.git", "path": name, "targetRevision": "main"},
                 "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
        "status": {"sync": {"status": sync, "revision": rev(5)}, "health": {"status": health},
                   "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)", "startedAt": "2026-11-28T09:00:00Z", "finishedAt": "2026-11-28T09:00:05Z", "operation": {"sync": {"revision": rev(4)}}},
                   "resources": resources, "history": history, "reconciledAt": "2026-11-29T09:00:00Z"}
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let api = rt.block_on(apiserver::ApiDouble::start());
    for i in 0..APPS {
        api.put(application(i));
    }
    let m = releases_scale::measure_releases(
        &api,
        |kubeconfig| {
            format!(
                "[kubernetes]\nkubeconfig = \"{}\"\n\n[argocd]\nserver = \"kubernetes\"\nenvironments = {{ team-0 = \"prod\" }}\n\n[environments.prod]\nproduction = true\n",
                kubeconfig.display()
            )
        },
        &format!("{APPS} rollouts"),
    );
    println!(
        "{APPS} Argo CD applications (Kubernetes way in): releases key → full list {:.0} ms; resident {:.1} MB ({:.1} MB before the list); idle CPU {:.2} %; idle output {} B in 30 s",
        m.listed.as_secs_f64() * 1000.0,
        m.rss_kb as f64 / 1024.0,
        m.rss_before_kb as f64 / 1024.0,
        m.idle_cpu_percent,
        m.idle_bytes
    );
}
