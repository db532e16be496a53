//! A zip archive of scan reports (a CI's artifact), unpacked within limits and each file parsed
//! like a local report.

use std::io::Read;

use super::{ParsedReport, ReportError};

/// The most one report inside may be once unpacked (a small archive may unpack to much more).
const ENTRY_LIMIT: u64 = 256 * 1024 * 1024;

/// Every report in an artifact's archive, parsed.
pub fn unpack(archive: &[u8], artifact: &str) -> (Vec<ParsedReport>, Vec<ReportError>) {
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    let mut zip = match zip::ZipArchive::new(std::io::Cursor::new(archive)) {
        Ok(z) => z,
        Err(e) => {
            return (
                findings,
                vec![ReportError { path: format!("artifact {artifact}"), problem: format!("not a readable zip archive: {e}") }],
            );
        }
    };
    let mut reports = 0;
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                errors.push(ReportError { path: format!("artifact {artifact}"), problem: format!("entry {i}: {e}") });
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entry {i}"));
        let shown = format!("{artifact}/{}", crate::logstore::sanitize::excerpt(&name, 200));
        reports += 1;
        if entry.size() > ENTRY_LIMIT {
            errors.push(ReportError {
                path: shown,
                problem: format!("unpacks to {} MiB, over the {} MiB limit", entry.size() >> 20, ENTRY_LIMIT >> 20),
            });
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        // Never more than the limit, whatever the archive claims.
        if let Err(e) = (&mut entry).take(ENTRY_LIMIT + 1).read_to_end(&mut bytes) {
            errors.push(ReportError { path: shown, problem: format!("cannot unpack it: {e}") });
            continue;
        }
        if bytes.len() as u64 > ENTRY_LIMIT {
            errors.push(ReportError { path: shown, problem: format!("unpacks to more than {} MiB", ENTRY_LIMIT >> 20) });
            continue;
        }
        match super::parse_report(&bytes, &shown) {
            Ok(parsed) => findings.push(parsed),
            Err(e) => errors.push(e),
        }
    }
    if reports == 0 {
        errors.push(ReportError { path: format!("artifact {artifact}"), problem: "it holds no file".into() });
    }
    (findings, errors)
}
