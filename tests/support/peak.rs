//! Peak memory of processes a test or benchmark starts.

use std::process::{Command, Stdio};

/// Runs `cmd` to its end; its exit code and peak resident memory in kB. (A forked child's peak
/// counts the parent's memory at the fork: keep the measuring process small.)
// wait4 reaps the child (std's `wait` does not report its peak memory).
#[allow(clippy::zombie_processes)]
pub fn peak_of(mut cmd: Command) -> (i32, u64) {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the program starts");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for the child just started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are valid for the call.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64)
}

/// The high-water mark of a running process's resident memory, in kB.
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}
