//! `flightdeck demo`: the bundled demo project, copied to a scratch directory with its own data
//! directory, so trying flightdeck never touches the user's configuration or history; plus the
//! live parts the canary screen watches (see `lab`).

pub mod children;
pub mod fault;
pub mod http;
pub mod lab;
pub mod service;
pub mod traffic;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cockpit::TuiOptions;
use crate::config::{Config, Locations};

/// The demo project, built into the binary so `demo` works wherever the binary is.
const FILES: &[(&str, &str, bool)] = &[
    ("flightdeck.toml", include_str!("../../assets/demo/flightdeck.toml"), false),
    ("scripts/lint.sh", include_str!("../../assets/demo/scripts/lint.sh"), true),
    ("scripts/test.sh", include_str!("../../assets/demo/scripts/test.sh"), true),
    ("scripts/scan.sh", include_str!("../../assets/demo/scripts/scan.sh"), true),
    ("scripts/build.sh", include_str!("../../assets/demo/scripts/build.sh"), true),
    ("scripts/deploy.sh", include_str!("../../assets/demo/scripts/deploy.sh"), true),
    ("scripts/fuzz.sh", include_str!("../../assets/demo/scripts/fuzz.sh"), true),
    ("reports-src/semgrep.sarif", include_str!("../../assets/demo/reports-src/semgrep.sarif"), false),
    ("reports-src/trivy.json", include_str!("../../assets/demo/reports-src/trivy.json"), false),
];

/// Scratch directory of the demo: `$FLIGHTDECK_DEMO_DIR`, else one per user under the temp dir.
pub fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLIGHTDECK_DEMO_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("flightdeck-demo-{uid}"))
}

/// Writes the demo project under `root/project` and returns its configuration file.
pub fn install(root: &Path) -> anyhow::Result<PathBuf> {
    let project = root.join("project");
    for (name, body, executable) in FILES {
        let path = project.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    write_acceptances(&project.join("risk-acceptances.toml"))?;
    Ok(project.join("flightdeck.toml"))
}

/// The demo's accepted risks, dated from today so they are in force (and one already expired, to
/// show how that looks).
fn write_acceptances(path: &Path) -> anyhow::Result<()> {
    use crate::findings::{Acceptance, Acceptances};
    let _ = std::fs::remove_file(path);
    let today = jiff::Zoned::now().date();
    let in_days = |n: i64| today.checked_add(jiff::Span::new().days(n)).unwrap_or(today);
    let entries = [
        ("CVE-2024-45490", Some("libexpat1"), "XML parsing is not reachable from the API; base image update scheduled", 30),
        ("CVE-2024-2511", Some("openssl"), "TLS 1.3 session tickets disabled at the load balancer", 30),
        ("CVE-2024-29041", Some("express"), "redirects are not built from user input; upgrade in the next release", 14),
        ("javascript.express.security.audit.xss.direct-response-write", None, "was accepted for the previous release only", -3),
    ];
    for (id, package, reason, days) in entries {
        let a = Acceptance {
            id: id.into(),
            package: package.map(str::to_string),
            target: None,
            reason: reason.into(),
            by: "security-team".into(),
            expires: in_days(days),
        };
        Acceptances::append(path, &a).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// What the demo takes from the command line.
pub struct DemoOptions {
    pub data_dir: Option<PathBuf>,
    pub read_only: bool,
    pub color: crate::theme::ColorChoice,
}

pub fn run(cli: &DemoOptions, start: bool) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("the demo opens the cockpit and needs a terminal");
    }
    let root = default_root();
    let config_file = install(&root)?;
    eprintln!("starting the demo's services, traffic and Prometheus on 127.0.0.1 …");
    let exe = std::env::current_exe().context("cannot find the flightdeck binary to start the demo service")?;
    // Stopped when dropped, after the cockpit closes (also on panic and on SIGTERM/SIGHUP, which
    // end the cockpit's loop); the kernel ends them if flightdeck is killed outright.
    let lab = lab::Lab::start(&root, &exe)?;
    if let Some(extra) = lab.config() {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&config_file)
            .with_context(|| format!("cannot write {}", config_file.display()))?;
        f.write_all(extra.as_bytes()).with_context(|| format!("cannot write {}", config_file.display()))?;
    }
    let user = Locations::discover(None);
    let loc = Locations { config_file: Some(config_file), config_dir: user.config_dir };
    let config = Arc::new(Config::load(&loc)?);
    crate::audit::witness::configure(config.audit.clone());
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => root.join("data"),
    };
    let data_dir = crate::paths::data_dir(Some(&data_dir))?;
    let _log = crate::logging::init(&data_dir);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let opts = TuiOptions {
        read_only: cli.read_only,
        color: cli.color,
        config_dir: loc.config_dir.clone(),
        start_pipeline: if start && !cli.read_only { config.default_pipeline.clone() } else { None },
        demo: Some(crate::cockpit::DemoLink { faults: Arc::new(fault::DemoFaults { url: lab.fault_url() }), notices: lab.notices.clone() }),
        ..TuiOptions::default()
    };
    let result = rt.block_on(crate::cockpit::run_tui(config, data_dir.clone(), opts));
    drop(rt);
    // The demo's runs and canary act on its lab, which ends with it: its supervisor stops too,
    // cancelling them (journaled), rather than failing against services that are gone.
    let supervisor = crate::supervisor::Client::new(&data_dir, loc.config_file.as_deref());
    let stopped = supervisor.stop_and_wait("the demo ended", std::time::Duration::from_secs(30));
    if let Err(e) = stopped {
        let _ = writeln!(std::io::stderr(), "flightdeck: {e}");
    }
    drop(lab);
    let signalled = result?;
    // Best effort: after a hangup there is no terminal to print to.
    let _ =
        writeln!(std::io::stderr(), "demo project: {}  ·  demo history and logs: {}", root.join("project").display(), data_dir.display());
    Ok(crate::cockpit::exit_code(signalled))
}
