//! Reading a large report without holding its text beside its findings: the report is copied to
//! a private temporary file, mapped, and the pages already parsed are let go as the parse moves
//! on. Only the findings made so far and the part of the text still ahead are resident.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{ParsedReport, ReportError};

/// Reports from this size on are read through a mapping (smaller ones are simply read).
pub const MAPPED_FROM: u64 = 8 << 20;

/// Parses the report at `path` through a mapped private copy. None when the copy or the mapping
/// cannot be made (a directory that cannot be written, a full disk…): the caller then reads it
/// the plain way.
pub fn mapped(path: &Path, shown_as: &str, max_bytes: u64) -> Option<Result<ParsedReport, ReportError>> {
    let err = |problem: String| ReportError { path: shown_as.to_string(), problem };
    let mut source = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Some(Err(err(format!("cannot read the report: {e}")))),
    };
    // A copy of our own, unlinked at once: nobody else can change or truncate what is mapped (a
    // truncated mapping would kill the process on the next read). Beside the report, on the disk
    // that already holds it: a temporary directory in memory (tmpfs) would only move the report's
    // size from this process to the system.
    let mut copy = tempfile::tempfile_in(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))).ok()?;
    // Never more than the limit, even if the file grows while it is copied.
    let copied = std::io::copy(&mut (&mut source).take(max_bytes + 1), &mut copy).ok()?;
    if copied > max_bytes {
        return Some(Err(err(format!("the report grew over the {} MB limit while it was read", max_bytes / (1024 * 1024)))));
    }
    // SAFETY: the file is our own unlinked copy, which no other process can open, so the mapped
    // bytes never change while they are borrowed.
    let map = unsafe { memmap2::Mmap::map(&copy) }.ok()?;
    let page = page_size();
    let mut released = 0;
    let mut done_with = |upto: usize| {
        let end = upto / page * page;
        // A megabyte at a time: each call is a system call.
        if end >= released + (1 << 20) {
            // SAFETY: the mapping is read-only and shared with a file nobody writes, so dropping
            // its pages changes no byte: a page read again is read back from the file as it was.
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, released, end - released) };
            released = end;
        }
    };
    Some(super::parse_report_releasing(&map, shown_as, &mut done_with))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}
