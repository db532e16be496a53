//! Who is acting: the operating-system account of the process (its real user id), never a name
//! from the environment or the configuration. A session that the shared supervisor runs for another
//! account acts as that account, which the kernel names: the peer credentials of the connection
//! the session was asked for on.

use std::collections::BTreeMap;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Set by the shared supervisor in a session it runs for a client: the descriptor of the client's
/// connection, whose peer credentials say who acts. It only says where to look.
pub const PEER_FD_VAR: &str = "FLIGHTDECK_PEER_FD";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `account@host`: the canonical name recorded with every action.
    pub actor: String,
    /// `ssh from 10.0.0.5` or `local`.
    pub origin: String,
    /// The name shown for the account, from `[people]` (only from a configuration that only the
    /// data directory's owner can write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// How backends that authenticate the user know them (e.g. `kubernetes` → the user the API
    /// server authenticated, `github` → the login), added as those backends connect; recorded with
    /// actions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backends: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot tell who is asking: {0}")]
    Peer(String),
}

impl Identity {
    /// The acting account, with its display name when `people` may be trusted.
    pub fn resolve(people: &BTreeMap<String, String>, people_trusted: bool) -> Result<Identity, IdentityError> {
        let uid = acting_uid()?;
        let account = account_name(uid);
        let ssh = std::env::var("SSH_CONNECTION")
            .ok()
            .and_then(|c| c.split_whitespace().next().map(|ip| format!("ssh from {}", crate::logstore::sanitize::excerpt(ip, 64))));
        // A shared session's address is as its client reported it; the account is the kernel's word.
        let origin = match (ssh, std::env::var_os(PEER_FD_VAR).is_some()) {
            (Some(ssh), true) => format!("{ssh}, shared session"),
            (None, true) => "shared session".into(),
            (Some(ssh), false) => ssh,
            (None, false) => "local".into(),
        };
        let display = if people_trusted { people.get(&account).map(|d| crate::logstore::sanitize::excerpt(d, 64)) } else { None };
        Ok(Identity { actor: format!("{account}@{}", hostname()), origin, display, backends: Default::default() })
    }

    /// How the actor is shown: the display name with the account, or the account.
    pub fn shown(&self) -> String {
        match &self.display {
            Some(d) => format!("{d} ({})", self.actor),
            None => self.actor.clone(),
        }
    }
}

/// The real user id of this process, or of the client a shared-supervisor session serves.
fn acting_uid() -> Result<u32, IdentityError> {
    match std::env::var(PEER_FD_VAR) {
        Err(_) => Ok(nix::unistd::getuid().as_raw()),
        Ok(fd) => {
            let fd: RawFd = fd.trim().parse().map_err(|_| IdentityError::Peer(format!("{PEER_FD_VAR} is not a descriptor")))?;
            peer_uid(fd)
        }
    }
}

/// The account at the other end of a connection the shared supervisor accepted. Only the accepting
/// side of a socket bound to a path qualifies: a connection one opened oneself would name whoever
/// listens, not whoever asks.
fn peer_uid(fd: RawFd) -> Result<u32, IdentityError> {
    use nix::sys::socket::{SockaddrLike, UnixAddr, getsockname, getsockopt, sockopt};
    // SAFETY: the descriptor is only borrowed for these calls; a number that is not an open
    // descriptor makes them fail, which refuses the session.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let bound: UnixAddr = getsockname(fd).map_err(|e| IdentityError::Peer(format!("descriptor {fd} is not a connection: {e}")))?;
    if bound.path().is_none() || bound.family().is_none() {
        return Err(IdentityError::Peer("the connection was not accepted by a supervisor".into()));
    }
    let cred = getsockopt(&borrowed, sockopt::PeerCredentials).map_err(|e| IdentityError::Peer(e.to_string()))?;
    Ok(cred.uid())
}

/// The account name of a user id, from the password database (`uid-N` when it has none).
pub fn account_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid-{uid}"),
    }
}

/// Whether an account belongs to an operating-system group (its primary group or a supplementary
/// one). Unknown accounts and groups belong to nothing.
pub fn in_os_group(account: &str, group: &str) -> bool {
    use nix::unistd::{Group, User};
    let (Ok(Some(user)), Ok(Some(group))) = (User::from_name(account), Group::from_name(group)) else {
        return false;
    };
    if user.gid == group.gid || group.mem.iter().any(|m| m == account) {
        return true;
    }
    let Ok(name) = std::ffi::CString::new(account) else { return false };
    nix::unistd::getgrouplist(&name, user.gid).is_ok_and(|gids| gids.contains(&group.gid))
}

/// Whether a configuration file may name people: only its owner (the data directory's owner, or
/// root) can write it, so nobody else can rename who acts.
pub fn writable_only_by(path: &Path, owner: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| (m.uid() == owner || m.uid() == 0) && m.mode() & 0o022 == 0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The acting identity under a configuration: `[people]` names are used only when the
/// configuration file can be written by nobody but the data directory's owner.
pub fn of(people: &BTreeMap<String, String>, config_file: Option<&Path>, data_dir: &Path) -> Result<Identity, IdentityError> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(data_dir).map(|m| m.uid()).unwrap_or_else(|_| nix::unistd::geteuid().as_raw());
    let trusted = config_file.is_some_and(|p| writable_only_by(p, owner));
    Identity::resolve(people, trusted)
}
