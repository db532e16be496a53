//! The demo's child processes: each in its own process group, told by the kernel to stop if
//! flightdeck dies (even by SIGKILL), and ended — gently, then firmly — when dropped.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

fn append(log: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("cannot open {}", log.display()))
}

#[derive(Default)]
pub struct Children {
    running: Vec<(String, Child)>,
}

impl Children {
    /// Starts `cmd` with its output appended to `log`.
    pub fn spawn(&mut self, name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<u32> {
        let out = append(log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        self.start(name, cmd)
    }

    /// Starts `cmd` and waits for its first stdout line (`listening ADDR`), returning ADDR; the rest
    /// of its output goes to `log`.
    pub fn spawn_listening(&mut self, name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<String> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(append(log)?);
        self.start(name, cmd)?;
        let Some((_, child)) = self.running.last_mut() else { bail!("{name} did not start") };
        let Some(stdout) = child.stdout.take() else { bail!("{name} has no output") };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| anyhow::anyhow!("{name} did not start listening within 10s"))?;
        match line.trim().strip_prefix("listening ") {
            Some(addr) => Ok(addr.to_string()),
            None => bail!("{name} failed to start (see {})", log.display()),
        }
    }

    fn start(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<u32> {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Own group: the terminal's ^C is flightdeck's to handle, not the children's.
                libc::setpgid(0, 0);
                // If flightdeck dies without cleaning up, the kernel ends the child. This follows
                // the spawning thread, which is why the demo starts its children from main.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
        let pid = child.id();
        self.running.push((name.to_string(), child));
        Ok(pid)
    }

    /// Names of children that have exited.
    pub fn exited(&mut self) -> Vec<String> {
        self.running.iter_mut().filter_map(|(n, c)| (!matches!(c.try_wait(), Ok(None))).then(|| n.clone())).collect()
    }

    /// SIGTERM to every child, up to `grace` for them to leave, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        for (_, c) in &self.running {
            // SAFETY: signalling a child we own; the pid has not been reaped yet.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.running.iter_mut().any(|(_, c)| matches!(c.try_wait(), Ok(None))) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for (_, c) in &mut self.running {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        self.running.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}
