//! Writing a weight split to NGINX without ever leaving it broken: render the upstream include,
//! replace it atomically, validate, reload; on any failure put the previous file back (and reload
//! it). After a reload, wait for the old workers to leave so the new split is really in effect.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{NginxSpec, RolloutError};

/// How long old workers may take to drain before the change is reported with a warning.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Per-server weights that give each pool its percentage whatever the number of servers in each:
/// a server's weight is its pool's percentage times the other pool's size, reduced.
fn weights(spec: &NginxSpec, canary_pct: u8) -> (u64, u64) {
    let pct = u64::from(canary_pct.min(100));
    let (s, c) = ((100 - pct) * spec.canary.len() as u64, pct * spec.stable.len() as u64);
    let g = gcd(s, c).max(1);
    (s / g, c / g)
}

/// The include file for a split. 0 % is `down` (NGINX refuses `weight=0`).
pub fn render(spec: &NginxSpec, canary_pct: u8, note: &str) -> String {
    let (ws, wc) = weights(spec, canary_pct);
    let mut out = format!(
        "# Managed by flightdeck: {note}. Edits here are overwritten; change the split with flightdeck.\n# canary {canary_pct}%\nupstream {} {{\n",
        spec.upstream
    );
    for (pool, w) in [(&spec.stable, ws), (&spec.canary, wc)] {
        for addr in pool {
            if w == 0 {
                out.push_str(&format!("    server {addr} down;\n"));
            } else {
                out.push_str(&format!("    server {addr} weight={w};\n"));
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The canary percentage an include file actually configures, read back from its server lines.
pub fn parse(spec: &NginxSpec, text: &str) -> Result<u8, String> {
    let mut inside = false;
    let (mut stable, mut canary) = (0u64, 0u64);
    let mut seen = 0;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with("upstream ") && line.split_whitespace().nth(1) == Some(spec.upstream.as_str()) {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line.starts_with('}') {
            break;
        }
        let Some(rest) = line.strip_prefix("server ") else { continue };
        let rest = rest.trim_end_matches(';');
        let mut words = rest.split_whitespace();
        let Some(addr) = words.next() else { continue };
        let mut weight = 1u64;
        let mut down = false;
        for w in words {
            if let Some(v) = w.strip_prefix("weight=") {
                weight = v.parse().map_err(|_| format!("bad weight `{w}` for {addr}"))?;
            } else if w == "down" {
                down = true;
            }
        }
        let w = if down { 0 } else { weight };
        if spec.stable.iter().any(|a| a == addr) {
            stable += w;
        } else if spec.canary.iter().any(|a| a == addr) {
            canary += w;
        } else {
            return Err(format!("server {addr} is neither a stable nor a canary address of this rollout"));
        }
        seen += 1;
    }
    if seen == 0 {
        return Err(format!("no `upstream {}` with servers in the include file", spec.upstream));
    }
    if stable + canary == 0 {
        return Err("every server is down".into());
    }
    Ok(((canary as f64 * 100.0) / (stable + canary) as f64).round() as u8)
}

/// Reads the split the include file configures now.
pub fn current(spec: &NginxSpec) -> Result<u8, RolloutError> {
    let text = std::fs::read_to_string(&spec.include)
        .map_err(|e| RolloutError::Io(format!("cannot read the upstream include {}: {e}", spec.include.display())))?;
    parse(spec, &text).map_err(|e| RolloutError::Nginx(format!("{}: {e}", spec.include.display())))
}

/// Writes `text` to `path` atomically.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    crate::util::replace_file(path, text.as_bytes())
}

fn run(cmd: &[String], what: &str) -> Result<(), String> {
    let (bin, args) = cmd.split_first().ok_or_else(|| format!("no {what} command configured"))?;
    let program = if bin.contains('/') { bin.into() } else { crate::util::which(bin).unwrap_or_else(|| bin.into()) };
    let out = Command::new(program).args(args).output().map_err(|e| format!("cannot run `{}`: {e}", cmd.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let text = crate::logstore::sanitize::plain(text.trim());
    Err(format!("`{}` failed ({}): {}", cmd.join(" "), out.status, if text.is_empty() { "no output".into() } else { text }))
}

/// The `pid` directive of an NGINX main configuration file.
fn pid_directive(conf: &Path) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(conf).ok()?;
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).find_map(|l| {
        let rest = l.strip_prefix("pid")?;
        rest.starts_with(char::is_whitespace).then(|| rest.trim().trim_end_matches(';').trim().into())
    })
}

/// Worker processes of the master whose pid is in `pid_file`.
fn workers(pid_file: &Path) -> Option<Vec<i32>> {
    let master: i32 = std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    Some(crate::util::children_of(master))
}

/// What happened when a split was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Set when the change is in place but could not be confirmed in full.
    pub warning: Option<String>,
}

/// Applies a split: write, validate, reload, wait for old workers; restores the previous file on
/// any failure. Blocking (runs processes); call it off the async threads.
pub fn apply(spec: &NginxSpec, canary_pct: u8, note: &str) -> Result<Applied, RolloutError> {
    let previous = std::fs::read_to_string(&spec.include).ok();
    let text = render(spec, canary_pct, note);
    if previous.as_deref() == Some(text.as_str()) {
        return Ok(Applied { warning: None });
    }
    let restore = |why: String| -> RolloutError {
        let back = match &previous {
            Some(old) => replace(&spec.include, old),
            None => std::fs::remove_file(&spec.include),
        };
        match back {
            Ok(()) => RolloutError::Nginx(format!("{why}; the previous upstream file is back in place and NGINX keeps its split")),
            Err(e) => RolloutError::Nginx(format!("{why}; and restoring the previous file {} failed: {e}", spec.include.display())),
        }
    };
    replace(&spec.include, &text).map_err(|e| RolloutError::Io(format!("cannot write {}: {e}", spec.include.display())))?;
    if let Err(e) = run(&spec.validate, "validate") {
        return Err(restore(format!("NGINX rejected the new split: {e}")));
    }
    let pid_file = spec.pid_file.clone().or_else(|| spec.conf.as_deref().and_then(pid_directive));
    let before = pid_file.as_deref().and_then(workers);
    if let Err(e) = run(&spec.reload, "reload") {
        let err = restore(format!("NGINX did not reload: {e}"));
        // The old file is back; make sure NGINX runs it (best effort, it may be down).
        let _ = run(&spec.reload, "reload");
        return Err(err);
    }
    // Old workers keep serving the old split until they exit.
    let Some(old) = before else {
        return Ok(Applied { warning: Some("reloaded; could not watch the old workers drain (no NGINX pid file)".into()) });
    };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while old.iter().any(|p| crate::util::is_running(*p)) {
        if Instant::now() > deadline {
            return Ok(Applied { warning: Some(format!("reloaded; old workers still draining after {}s", DRAIN_TIMEOUT.as_secs())) });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Applied { warning: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(stable: &[&str], canary: &[&str]) -> NginxSpec {
        NginxSpec {
            include: "/nonexistent".into(),
            upstream: "app".into(),
            stable: stable.iter().map(|s| s.to_string()).collect(),
            canary: canary.iter().map(|s| s.to_string()).collect(),
            validate: vec![],
            reload: vec![],
            pid_file: None,
            conf: None,
        }
    }

    #[test]
    fn renders_and_reads_back_every_split() {
        for s in [spec(&["a:1"], &["b:1"]), spec(&["a:1", "a:2"], &["b:1"]), spec(&["a:1"], &["b:1", "b:2", "b:3"])] {
            for pct in [0u8, 1, 10, 20, 25, 33, 50, 75, 90, 99, 100] {
                let text = render(&s, pct, "test");
                assert_eq!(parse(&s, &text), Ok(pct), "{text}");
                assert!(!text.contains("weight=0"), "{text}");
            }
        }
        let text = render(&spec(&["a:1"], &["b:1"]), 0, "t");
        assert!(text.contains("server b:1 down;"), "{text}");
        assert!(text.contains("server a:1 weight=1;"), "{text}");
    }

    #[test]
    fn the_pid_directive_is_found() {
        let dir = std::env::temp_dir().join(format!("fd-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, "# pid /wrong;\nworker_processes 1;\npid   /run/x.pid; # here\npidfoo 1;\n").unwrap();
        assert_eq!(pid_directive(&conf), Some("/run/x.pid".into()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn foreign_servers_and_missing_upstreams_are_errors() {
        let s = spec(&["a:1"], &["b:1"]);
        assert!(parse(&s, "upstream app {\n server c:1;\n}\n").unwrap_err().contains("neither"));
        assert!(parse(&s, "upstream other {\n server a:1;\n}\n").unwrap_err().contains("no `upstream app`"));
    }
}
