//! A real NGINX for tests: one worker (so weighted round-robin is exact per cycle), in the
//! foreground on a free loopback port, proxying to an upstream defined in an include file that the
//! rollout controller owns. Two stand-in backends answer `stable` and `canary`. Stopped when dropped.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flightdeck::rollout::NginxSpec;

pub struct Nginx {
    pub port: u16,
    pub stable: String,
    pub canary: String,
    pub conf: PathBuf,
    pub include: PathBuf,
    pub pid_file: PathBuf,
    pub binary: PathBuf,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master must take its workers down with it.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn binary() -> PathBuf {
    flightdeck::util::which("nginx")
        .unwrap_or_else(|| panic!("`nginx` is not installed; install it with: apt-get install -y --no-install-recommends nginx"))
}

impl Nginx {
    /// Starts NGINX with `initial` as the include file's content (None: a stable-only upstream).
    pub fn start(initial: Option<&str>) -> Nginx {
        Nginx::start_with(initial, None)
    }

    /// Like `start`, with real backends at `stable` and `canary` instead of the stand-ins.
    pub fn start_with(initial: Option<&str>, backends: Option<(&str, &str)>) -> Nginx {
        let binary = binary();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let port = super::prom::free_port();
        let (stable, canary, standins) = match backends {
            Some((s, c)) => (s.to_string(), c.to_string(), String::new()),
            None => {
                let (ps, pc) = (super::prom::free_port(), super::prom::free_port());
                let s = format!("127.0.0.1:{ps}");
                let c = format!("127.0.0.1:{pc}");
                let standins = format!(
                    "  server {{ listen {s}; location / {{ default_type text/plain; return 200 \"stable\\n\"; }} }}\n  server {{ listen {c}; location / {{ default_type text/plain; return 200 \"canary\\n\"; }} }}\n"
                );
                (s, c, standins)
            }
        };
        let include = d.join("upstream.conf");
        let text = initial.map(str::to_string).unwrap_or_else(|| format!("upstream app {{\n    server {stable};\n}}\n"));
        std::fs::write(&include, text).unwrap();
        let pid_file = d.join("nginx.pid");
        let conf = d.join("nginx.conf");
        let servers = format!("server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; }} }}\n{standins}");
        std::fs::write(&conf, flightdeck::demo::lab::nginx_conf(d, &pid_file, &d.join("error.log"), &include, &servers)).unwrap();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(d.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let n = Nginx { port, stable, canary, conf, include, pid_file, binary, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(port).is_none() || !n.pid_file.exists() {
            assert!(
                Instant::now() < deadline,
                "nginx did not come up: {}",
                std::fs::read_to_string(n.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    pub fn spec(&self) -> NginxSpec {
        let b = self.binary.display().to_string();
        let c = self.conf.display().to_string();
        NginxSpec {
            include: self.include.clone(),
            upstream: "app".into(),
            stable: vec![self.stable.clone()],
            canary: vec![self.canary.clone()],
            validate: vec![b.clone(), "-t".into(), "-q".into(), "-c".into(), c.clone()],
            reload: vec![b, "-s".into(), "reload".into(), "-c".into(), c],
            pid_file: Some(self.pid_file.clone()),
            conf: Some(self.conf.clone()),
        }
    }

    /// A `[rollouts.NAME]` table moving this NGINX through `steps` (TOML, e.g.
    /// `{ set_weight = 50 }, { pause = {} }`).
    pub fn rollout_config(&self, name: &str, steps: &str) -> String {
        let spec = self.spec();
        let quote = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        format!(
            "[rollouts.{name}]\nsteps = [{steps}]\n\
             [rollouts.{name}.nginx]\ninclude = {:?}\nupstream = \"app\"\nstable = [{}]\ncanary = [{}]\nconf = {:?}\nvalidate = [{}]\nreload = [{}]\n",
            spec.include.display().to_string(),
            quote(&spec.stable),
            quote(&spec.canary),
            spec.conf.as_ref().map(|c| c.display().to_string()).unwrap_or_default(),
            quote(&spec.validate),
            quote(&spec.reload),
        )
    }

    /// (stable, canary) answers out of `n` sequential requests through the proxy.
    pub fn split(&self, n: usize) -> (usize, usize) {
        let mut s = 0;
        let mut c = 0;
        for _ in 0..n {
            match get(self.port).as_deref().map(str::trim) {
                Some("stable") => s += 1,
                Some("canary") => c += 1,
                other => panic!("unexpected answer through the proxy: {other:?}"),
            }
        }
        (s, c)
    }
}

/// Body of `GET /` on the port, if it answered 200.
/// The body of a 200 answer from the proxy; None for anything else (not ready yet).
pub fn get(port: u16) -> Option<String> {
    answer(port).and_then(|(status, body)| (status == 200).then_some(body))
}

/// Status and body of one request through the proxy, whatever the status.
pub fn answer(port: u16) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}
