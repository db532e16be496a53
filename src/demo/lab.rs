//! Everything the demo runs besides the cockpit, on 127.0.0.1: the stable and canary versions of
//! the demo service, a traffic generator, and a real Prometheus scraping both every second. What
//! is not installed is reported with how to install it, and the rest still runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::children::Children;

/// The service every demo component is about.
pub const SERVICE: &str = "payments-api";
/// Requests per second the traffic generator sends to each version.
pub const RPS: u32 = 25;
const INSTALL_PROMETHEUS: &str = "sudo apt-get install -y --no-install-recommends prometheus";

pub struct Lab {
    children: Children,
    /// `host:port` of each version.
    pub stable: String,
    pub canary: String,
    /// Base URL of the demo's Prometheus, when it runs.
    pub prometheus: Option<String>,
    /// What could not be started, and how to fix it.
    pub notices: Vec<String>,
}

impl Lab {
    /// Starts the lab's processes from `exe` (the flightdeck binary), with files under `root`.
    /// Call it from the main thread: children are tied to the thread that starts them.
    pub fn start(root: &Path, exe: &Path) -> anyhow::Result<Lab> {
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
        let mut children = Children::default();
        let mut service = |track: &str, version: &str| -> anyhow::Result<String> {
            let mut cmd = Command::new(exe);
            cmd.args(["demo-service", "--listen", "127.0.0.1:0", "--version", version]);
            children.spawn_listening(&format!("{SERVICE} {track}"), cmd, &logs.join(format!("{track}.log")))
        };
        let stable = service("stable", "2.3.1")?;
        let canary = service("canary", "2.4.0")?;
        let mut traffic = Command::new(exe);
        traffic.args(["demo-traffic", "--rps", &RPS.to_string()]);
        for addr in [&stable, &canary] {
            traffic.args(["--target", &format!("http://{addr}/pay")]);
        }
        children.spawn("traffic", traffic, &logs.join("traffic.log"))?;
        let mut lab = Lab { children, stable, canary, prometheus: None, notices: Vec::new() };
        match which("prometheus") {
            Some(bin) => match lab.start_prometheus(&bin, &root.join("prometheus"), &logs.join("prometheus.log")) {
                Ok(url) => lab.prometheus = Some(url),
                Err(e) => lab.notices.push(format!("Prometheus did not start: {e:#}; the canary screen has no data")),
            },
            None => lab
                .notices
                .push(format!("Prometheus is not installed, so the canary screen has no data. Install it with: {INSTALL_PROMETHEUS}")),
        }
        Ok(lab)
    }

    fn start_prometheus(&mut self, bin: &Path, dir: &Path, log: &Path) -> anyhow::Result<String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(dir.join("prometheus.yml"), prometheus_config(&self.stable, &self.canary))?;
        std::fs::write(dir.join("rules.yml"), RULES)?;
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        self.children.spawn("prometheus", cmd, log)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(port) {
            if self.children.exited().iter().any(|n| n == "prometheus") {
                anyhow::bail!("it exited (see {})", log.display());
            }
            anyhow::ensure!(Instant::now() < deadline, "not ready after 30s (see {})", log.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// Where the canary's fault is changed.
    pub fn fault_url(&self) -> String {
        format!("http://{}/fault", self.canary)
    }

    /// Process ids of everything the lab started.
    pub fn pids(&self) -> Vec<u32> {
        self.children.pids()
    }

    /// The configuration that points the cockpit at the lab's Prometheus and describes the
    /// analysis; `None` when Prometheus is not running.
    pub fn config(&self) -> Option<String> {
        let url = self.prometheus.as_ref()?;
        Some(ANALYSIS.replace("{url}", url).replace("{service}", SERVICE))
    }
}

const ANALYSIS: &str = r#"
# Written by `flightdeck demo` for the Prometheus it started.
[prometheus.demo]
url = "{url}"
timeout = "5s"

[services.{service}]
prometheus = "demo"
canary = 'track="canary",service="{service}"'
stable = 'track="stable",service="{service}"'
window = "30s"

[services.{service}.analysis]
interval = "5s"
count = 12
failure_limit = 2
inconclusive_limit = 3
min_requests = 20
mann_whitney_alpha = 0.01
alerts = { service = "{service}" }
alerts_gate = true

[[services.{service}.analysis.metrics]]
name = "p99 latency"
query = "latency_p99"
max = 0.3
max_ratio = 1.5

[[services.{service}.analysis.metrics]]
name = "error ratio"
query = "error_ratio"
max = 0.03

[[services.{service}.analysis.metrics]]
name = "request rate"
query = "request_rate"
"#;

const RULES: &str = r#"groups:
  - name: payments-api
    rules:
      - alert: CanaryErrorRateHigh
        expr: |
          sum(rate(http_requests_total{service="payments-api",track="canary",code=~"5.."}[30s]))
            / sum(rate(http_requests_total{service="payments-api",track="canary"}[30s])) > 0.05
        for: 10s
        labels:
          severity: page
          service: payments-api
        annotations:
          summary: more than 5% of the canary's requests fail
"#;

fn prometheus_config(stable: &str, canary: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: {SERVICE}
    static_configs:
      - targets: ["{stable}"]
        labels: {{ service: {SERVICE}, track: stable }}
      - targets: ["{canary}"]
        labels: {{ service: {SERVICE}, track: canary }}
"#
    )
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// The executable `name` on PATH.
/// Also looks in the sbin directories, which are not on a normal user's PATH on Debian but are
/// where `nginx` lives.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(extra).map(|d| d.join(name)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}
