//! The releases screen with a thousand rows, measured on the real binary in a pseudo-terminal.

/// What the releases screen cost with a thousand rows on the real binary.
pub struct Measured {
    pub listed: std::time::Duration,
    pub rss_before_kb: u64,
    pub rss_kb: u64,
    pub idle_cpu_percent: f64,
    pub idle_bytes: usize,
}

/// The real binary in a pseudo-terminal, configured by `config` (given the double's kubeconfig):
/// the releases key until `listed` is on screen, resident memory then, and 30 s of idle (CPU
/// time in 10 ms ticks, bytes written); then it quits on its own. `SCALE_SCREEN` prints the
/// screen, `SCALE_SMAPS` the memory map.
pub fn measure_releases(api: &super::apiserver::ApiDouble, config: impl Fn(&std::path::Path) -> String, listed: &str) -> Measured {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig(&[("prod-eu", "")])).expect("kubeconfig");
    let config_path = dir.path().join("flightdeck.toml");
    std::fs::write(&config_path, config(&kubeconfig)).expect("config");
    let (config_path, data) = (config_path.display().to_string(), dir.path().join("data").display().to_string());
    let mut term = super::pty::Term::spawn(&["--config", &config_path, "--data-dir", &data]);
    term.set_size(160, 50);
    term.wait_for("flightdeck", "the cockpit");
    term.settle(Duration::from_millis(300), Duration::from_secs(20), "the first screen");
    let pid = term.pid();
    let rss_before_kb = super::scale::rss_kb(pid);
    // The releases key → the whole list on screen (the watch starts with the screen).
    let pressed = Instant::now();
    term.send("6");
    term.wait_for(listed, "the whole list");
    let listed = pressed.elapsed();
    term.settle(Duration::from_millis(500), Duration::from_secs(20), "the list");
    let rss = super::scale::rss_kb(pid);
    // Idle: nothing changes on the server for 30 s.
    let ticks = super::scale::cpu_ticks(pid);
    let idle = Duration::from_secs(30);
    let before_idle = term.raw.len();
    let idle_bytes = term.bytes_during(idle);
    if idle_bytes > 0 {
        // What an idle cockpit wrote, to find what redrew.
        eprintln!("idle output: {:?}", String::from_utf8_lossy(&term.raw[before_idle..]));
    }
    let idle_cpu_percent = (super::scale::cpu_ticks(pid) - ticks) as f64 / 100.0 / idle.as_secs_f64() * 100.0;
    if std::env::var_os("SCALE_SMAPS").is_some() {
        println!("{}", std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default());
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
    Measured { listed, rss_before_kb, rss_kb: rss, idle_cpu_percent, idle_bytes }
}
