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
#[path = "common/scale.rs"]
mod scale;

use std::time::{Duration, Instant};

use scale::{NAMESPACES, ROLLOUTS, cpu_ticks, object, rss_kb};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let api = rt.block_on(apiserver::ApiDouble::start());
    for i in 0..ROLLOUTS {
        api.put(object(i));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig(&[("prod-eu", "")])).expect("kubeconfig");
    let config = dir.path().join("flightdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[kubernetes]\nkubeconfig = \"{}\"\nenvironments = {{ prod-eu = \"prod\" }}\n\n[environments.prod]\n",
            kubeconfig.display()
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let (config, data) = (config.display().to_string(), data.display().to_string());
    let mut term = pty::Term::spawn(&["--config", &config, "--data-dir", &data]);
    term.wait_for("flightdeck", "the cockpit");
    term.settle(Duration::from_millis(300), Duration::from_secs(20), "the first screen");

    let before = rss_kb(term.pid());
    // The releases key → the whole list on screen (the watch starts with the screen).
    let pressed = Instant::now();
    term.send("6");
    term.wait_for("1000 rollouts", "the whole list");
    let listed = pressed.elapsed();
    term.settle(Duration::from_millis(500), Duration::from_secs(20), "the list");
    let pid = term.pid();
    let rss = rss_kb(pid);

    // Idle: nothing changes on the server for 30 s (CPU time is counted in 10 ms ticks).
    let ticks = cpu_ticks(pid);
    let idle = Duration::from_secs(30);
    let before_idle = term.raw.len();
    let bytes = term.bytes_during(idle);
    if bytes > 0 {
        // What an idle cockpit wrote, to find what redrew.
        eprintln!("idle output: {:?}", String::from_utf8_lossy(&term.raw[before_idle..]));
    }
    let cpu = (cpu_ticks(pid) - ticks) as f64 / 100.0 / idle.as_secs_f64() * 100.0;
    println!(
        "{ROLLOUTS} Argo Rollouts in {NAMESPACES} namespaces: releases key → full list {:.0} ms; resident {:.1} MB ({:.1} MB before the list); idle CPU {cpu:.2} %; idle output {bytes} B in 30 s",
        listed.as_secs_f64() * 1000.0,
        rss as f64 / 1024.0,
        before as f64 / 1024.0
    );
    if std::env::var_os("SCALE_SMAPS").is_some() {
        println!("{}", std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default());
        println!("{}", std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default());
    }
    if std::env::var_os("SCALE_SCREEN").is_some() {
        println!("{}", term.screen());
    }
    term.send("q");
    // Let it leave on its own (restoring the terminal) before the pseudo-terminal closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        term.pump();
        std::thread::sleep(Duration::from_millis(20));
    }
}
