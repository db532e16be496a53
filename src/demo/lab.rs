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
use crate::util::which;

/// The service every demo component is about.
pub const SERVICE: &str = "payments-api";
/// Requests per second the traffic generator sends to each version.
pub const RPS: u32 = 25;
const INSTALL_PROMETHEUS: &str = "sudo apt-get install -y --no-install-recommends prometheus";
const INSTALL_NGINX: &str = "sudo apt-get install -y --no-install-recommends nginx";

pub struct Lab {
    children: Children,
    /// `host:port` of each version.
    pub stable: String,
    pub canary: String,
    /// Base URL of the demo's Prometheus, when it runs.
    pub prometheus: Option<String>,
    /// NGINX in front of both versions, when it runs.
    pub nginx: Option<NginxLab>,
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
        let mut lab = Lab { children, stable, canary, prometheus: None, nginx: None, notices: Vec::new() };
        match which("nginx") {
            Some(bin) => match lab.start_nginx(&bin, &root.join("nginx"), &logs.join("nginx.log")) {
                Ok(n) => lab.nginx = Some(n),
                Err(e) => lab.notices.push(format!("NGINX did not start: {e:#}; the canary gets traffic directly, without a rollout")),
            },
            None => lab
                .notices
                .push(format!("NGINX is not installed, so production deploys without a canary rollout. Install it with: {INSTALL_NGINX}")),
        }
        // Through NGINX when it runs (the rollout decides the split), else straight to each version.
        let mut traffic = Command::new(exe);
        match &lab.nginx {
            Some(n) => {
                traffic.args(["demo-traffic", "--rps", &(2 * RPS).to_string(), "--target", &format!("http://{}/pay", n.listen)]);
            }
            None => {
                traffic.args(["demo-traffic", "--rps", &RPS.to_string()]);
                for addr in [&lab.stable, &lab.canary] {
                    traffic.args(["--target", &format!("http://{addr}/pay")]);
                }
            }
        }
        lab.children.spawn("traffic", traffic, &logs.join("traffic.log"))?;
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
        while !prometheus_ready(port) {
            if self.children.exited().iter().any(|n| n == "prometheus") {
                anyhow::bail!("it exited (see {})", log.display());
            }
            anyhow::ensure!(Instant::now() < deadline, "not ready after 30s (see {})", log.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(format!("http://127.0.0.1:{port}"))
    }

    fn start_nginx(&mut self, bin: &Path, dir: &Path, log: &Path) -> anyhow::Result<NginxLab> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("tmp")).with_context(|| format!("cannot create {}", dir.display()))?;
        let port = free_port()?;
        let n = NginxLab {
            listen: format!("127.0.0.1:{port}"),
            conf: dir.join("nginx.conf"),
            include: dir.join("payments-upstream.conf"),
            pid_file: dir.join("nginx.pid"),
        };
        // Before any rollout, stable serves everything.
        std::fs::write(
            &n.include,
            format!("upstream payments_api {{\n    server {};\n    server {} down;\n}}\n", self.stable, self.canary),
        )?;
        let proxy = format!("server {{ listen {}; location / {{ proxy_pass http://payments_api; proxy_next_upstream off; }} }}", n.listen);
        std::fs::write(&n.conf, nginx_conf(dir, &n.pid_file, log, &n.include, &proxy))?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c").arg(&n.conf).arg("-e").arg(log);
        self.children.spawn("nginx", cmd, log)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() || !n.pid_file.exists() {
            if self.children.exited().iter().any(|c| c == "nginx") {
                anyhow::bail!("it exited (see {})", log.display());
            }
            anyhow::ensure!(Instant::now() < deadline, "not listening after 10s (see {})", log.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(n)
    }

    /// Where the canary's fault is changed.
    pub fn fault_url(&self) -> String {
        format!("http://{}/fault", self.canary)
    }

    /// The configuration that points the cockpit at the lab's Prometheus and describes the
    /// analysis; `None` when Prometheus is not running.
    pub fn config(&self) -> Option<String> {
        let mut out = String::new();
        if let Some(url) = &self.prometheus {
            out.push_str(&ANALYSIS.replace("{url}", url).replace("{service}", SERVICE));
        }
        if let Some(n) = &self.nginx {
            let steps = if self.prometheus.is_some() { STEPS_ANALYSED } else { STEPS_PLAIN };
            out.push_str(
                &ROLLOUT
                    .replace("{steps}", steps)
                    .replace("{analysis}", if self.prometheus.is_some() { ANALYSED } else { "" })
                    .replace("{include}", &n.include.display().to_string())
                    .replace("{conf}", &n.conf.display().to_string())
                    .replace("{stable}", &self.stable)
                    .replace("{canary}", &self.canary)
                    .replace("{service}", SERVICE),
            );
        }
        (!out.is_empty()).then_some(out)
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
# Short windows (Prometheus scrapes every second here), so that a 30 s analysis step holds the
# three independent windows a relative condition needs.
window = "10s"

[services.{service}.analysis]
interval = "5s"
count = 12
failure_limit = 2
inconclusive_limit = 3
min_requests = 20
# Strict: the demo's rollout aborts on a failed analysis, and both versions are alike until a
# fault is injected.
mann_whitney_alpha = 0.001
alerts = { service = "{service}" }
alerts_gate = true

[[services.{service}.analysis.metrics]]
name = "p99 latency"
query = "latency_p99"
max = 0.3
# A p99 of the hundred-odd requests a 10 s window holds here is nearly their maximum, and two of
# them differ by half as often as not: the relative limit only catches what is far off, and the
# absolute one catches the slow fault (+300 ms).
max_ratio = 2.5

[[services.{service}.analysis.metrics]]
name = "error ratio"
query = "error_ratio"
max = 0.03

[[services.{service}.analysis.metrics]]
name = "request rate"
query = "request_rate"
"#;

const ROLLOUT: &str = r#"
# The production canary of {service}, behind NGINX: the release pipeline's deploy-prod stage
# starts it; the releases screen (6) shows it and promotes, pauses or aborts it.
[rollouts.{service}]
environment = "prod"
{analysis}steps = {steps}

[rollouts.{service}.nginx]
include = "{include}"
upstream = "payments_api"
stable = ["{stable}"]
canary = ["{canary}"]
conf = "{conf}"
"#;

const ANALYSED: &str = r#"service = "{service}"
# Judged on every interval while under way: a failing canary is aborted at once.
background_analysis = true
on_failure = "abort"
"#;

const STEPS_ANALYSED: &str = r#"[
  { set_weight = 20 },
  { analysis = { duration = "30s" } },
  { set_weight = 50 },
  { analysis = { duration = "30s" } },
  { pause = {} },
  { set_weight = 100 },
]"#;

const STEPS_PLAIN: &str = r#"[
  { set_weight = 20 },
  { pause = { duration = "20s" } },
  { set_weight = 50 },
  { pause = {} },
  { set_weight = 100 },
]"#;

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

/// A foreground NGINX configuration with one worker (weighted round-robin is then exact per
/// cycle), everything under `dir`, the rollout's `include`, and `servers` (server blocks).
pub fn nginx_conf(dir: &Path, pid: &Path, log: &Path, include: &Path, servers: &str) -> String {
    let t = dir.join("tmp").display().to_string();
    format!(
        "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {log} warn;\nevents {{ worker_connections 512; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n  include {inc};\n  {servers}\n}}\n",
        pid = pid.display(),
        log = log.display(),
        inc = include.display(),
    )
}

/// The demo's NGINX: where it listens and the files the rollout drives.
pub struct NginxLab {
    pub listen: String,
    pub conf: PathBuf,
    pub include: PathBuf,
    pub pid_file: PathBuf,
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// Whether the Prometheus on `port` answers its readiness check.
pub fn prometheus_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /-/ready HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}
