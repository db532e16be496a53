//! A supervisor shared by several operating-system accounts, as on a jump host: the test (root)
//! owns the data directory and serves it; other accounts act through the shared socket, each as
//! itself. The accounts are Debian's system accounts, so nothing is added to the machine.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cli_env::BIN;
use super::supervision::wait_until;

/// Accounts every Debian system has: two people who decide, and one the supervisor is not shared with.
pub const BOB: &str = "games";
pub const CAROL: &str = "man";
pub const DAVE: &str = "lp";
pub const OUTSIDER: &str = "nobody";

pub struct Shared {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    program: PathBuf,
    supervisor: Child,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.supervisor.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = self.supervisor.wait();
    }
}

impl Shared {
    /// Serves `config` (with a `[supervisor]` section shared with BOB, CAROL and DAVE added).
    pub fn start(config: &str) -> Shared {
        assert!(
            nix::unistd::geteuid().is_root(),
            "acting as several accounts needs root (setuid to Debian's system accounts games, man, lp and nobody): run the tests as root, e.g. `sudo make test`"
        );
        for account in [BOB, CAROL, DAVE, OUTSIDER] {
            assert!(
                matches!(nix::unistd::User::from_name(account), Ok(Some(_))),
                "the account `{account}` is missing (a Debian base system has it; `apt-get install --reinstall base-passwd`)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        // Others may pass through to the socket and the program, and list nothing.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let program = reachable_program(dir.path());
        let socket = dir.path().join("team.sock");
        let text = format!("{config}\n[supervisor]\nshare_socket = \"team.sock\"\nshare_with = [\"{BOB}\", \"{CAROL}\", \"{DAVE}\"]\n");
        let config_path = dir.path().join("flightdeck.toml");
        std::fs::write(&config_path, text).unwrap();
        std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let supervisor = Command::new(&program)
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["supervisor", "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("supervisor.log")).unwrap())
            .spawn()
            .unwrap();
        wait_until(Duration::from_secs(20), "the shared supervisor listening", || socket.exists());
        Shared { dir, socket, program, supervisor }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `flightdeck --connect SOCKET args` as `account`, with the environment saying otherwise.
    pub fn cmd_as(&self, account: &str, args: &[&str]) -> Command {
        let user = nix::unistd::User::from_name(account).unwrap().unwrap();
        let name = std::ffi::CString::new(account).unwrap();
        let mut c = Command::new(&self.program);
        c.arg("--connect").arg(&self.socket).args(args).env("NO_COLOR", "1");
        // Who acts must not be borrowed from the environment.
        c.env("USER", "root").env("LOGNAME", "root").current_dir("/");
        // SAFETY: between fork and exec, only the calls that drop to the account.
        unsafe {
            c.pre_exec(move || {
                nix::unistd::initgroups(&name, user.gid)?;
                nix::unistd::setgid(user.gid)?;
                nix::unistd::setuid(user.uid)?;
                Ok(())
            });
        }
        c
    }

    pub fn run_as(&self, account: &str, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd_as(account, args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("supervisor.log")).unwrap_or_default()
    }
}

/// The flightdeck binary where other accounts can run it: the build's own when every directory
/// above it lets them pass, else a copy in `dir`.
fn reachable_program(dir: &Path) -> PathBuf {
    let bin = Path::new(BIN);
    let passable = bin.ancestors().skip(1).all(|a| std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if passable {
        return bin.to_path_buf();
    }
    let copy = dir.join("flightdeck");
    std::fs::copy(bin, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}
