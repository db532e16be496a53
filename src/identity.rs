//! Who is acting, resolved once at start: the configured name, else `$USER@host`, plus where an SSH
//! session comes from.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub actor: String,
    /// `ssh from 10.0.0.5` or `local`.
    pub origin: String,
    /// How backends that authenticate the user know them (e.g. `kubernetes` → the kubeconfig
    /// user, `github` → the login), added as those backends connect; recorded with actions.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub backends: std::collections::BTreeMap<String, String>,
}

impl Identity {
    pub fn resolve(configured: Option<&str>) -> Identity {
        let actor = configured.map(str::to_string).filter(|a| !a.trim().is_empty()).unwrap_or_else(|| {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .ok()
                .filter(|u| !u.is_empty())
                .or_else(login_name)
                .unwrap_or_else(|| "unknown".into());
            format!("{user}@{}", hostname())
        });
        let origin = std::env::var("SSH_CONNECTION")
            .ok()
            .and_then(|c| c.split_whitespace().next().map(|ip| format!("ssh from {ip}")))
            .unwrap_or_else(|| "local".into());
        Identity { actor, origin, backends: Default::default() }
    }
}

/// The login name of the real user id, from the password database.
fn login_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy the name out at once
    // and never keep the pointer.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name).to_str().ok().map(str::to_string)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
