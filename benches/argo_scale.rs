//! The cockpit at scale, measured on the real binary in a pseudo-terminal against the in-process
//! Kubernetes API double holding 1,000 Argo Rollouts in 100 namespaces: the releases key (`6`,
//! which starts the watch) to the full list, resident memory once the list is in, and
//! what an idle cockpit costs (CPU and bytes written).
//!
//! Targets: resident memory ≤ 25 MB, key → full list ≤ 200 ms, idle CPU < 0.1 %, idle output
//! 0 bytes.

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
mod scale;

use scale::{NAMESPACES, ROLLOUTS, object};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let api = rt.block_on(apiserver::ApiDouble::start());
    for i in 0..ROLLOUTS {
        api.put(object(i));
    }
    let m = releases_scale::measure_releases(
        &api,
        |kubeconfig| {
            format!(
                "[kubernetes]\nkubeconfig = \"{}\"\nenvironments = {{ prod-eu = \"prod\" }}\n\n[environments.prod]\n",
                kubeconfig.display()
            )
        },
        &format!("{ROLLOUTS} rollouts"),
    );
    println!(
        "{ROLLOUTS} Argo Rollouts in {NAMESPACES} namespaces: releases key → full list {:.0} ms; resident {:.1} MB ({:.1} MB before the list); idle CPU {:.2} %; idle output {} B in 30 s",
        m.listed.as_secs_f64() * 1000.0,
        m.rss_kb as f64 / 1024.0,
        m.rss_before_kb as f64 / 1024.0,
        m.idle_cpu_percent,
        m.idle_bytes
    );
}
