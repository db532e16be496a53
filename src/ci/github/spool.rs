//! A finished job's log, downloaded straight to disk in the job log format.

use super::{GithubProvider, api, logs};
use crate::ci::CiError;
use crate::ci::github::api::GhError;
use crate::logstore::RawLine;

/// The start of a log being downloaded's name, beside where it goes when whole.
const PARTIAL: &str = ".partial-";

/// Removes what downloads killed midway (a `kill -9`, a lost machine) left behind: partial files
/// no process holds a lock on. One being written now is locked by its writer and stays.
fn sweep_abandoned(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PARTIAL) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(file) = std::fs::File::open(entry.path()) else { continue };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl GithubProvider {
    /// Downloads a finished job's log straight to `path`, in the job log format, a chunk at a
    /// time: memory does not grow with the log. Written beside it and renamed when whole.
    pub(super) async fn spool_log(&self, repo: &str, job_id: u64, path: &std::path::Path) -> Result<(), CiError> {
        use std::io::Write;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let store_error = |e: std::io::Error| CiError::storage(format!("cannot write {}", path.display()), e);
        std::fs::create_dir_all(dir).map_err(store_error)?;
        sweep_abandoned(dir);
        let tmp = tempfile::Builder::new().prefix(PARTIAL).tempfile_in(dir).map_err(store_error)?;
        // Held while it is written: a download killed midway leaves a file nobody holds.
        tmp.as_file().try_lock().map_err(|e| store_error(std::io::Error::other(e.to_string())))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
        let (mut parser, mut lines, mut encoded) = (logs::Parser::default(), Vec::new(), Vec::new());
        let mut write = |lines: &mut Vec<RawLine>, out: &mut std::io::BufWriter<tempfile::NamedTempFile>| -> std::io::Result<()> {
            encoded.clear();
            for l in lines.drain(..) {
                crate::ci::local::encode_line(&mut encoded, &l);
            }
            out.write_all(&encoded)
        };
        let mut failed = None;
        let url = format!("/repos/{repo}/actions/jobs/{job_id}/logs");
        self.inner
            .api
            .download_into(&url, api::SPOOL_LIMIT, &mut |chunk| {
                parser.feed(chunk, &mut lines);
                write(&mut lines, &mut out).map_err(|e| {
                    let message = e.to_string();
                    failed = Some(e);
                    GhError::Decode(message)
                })
            })
            .await
            .map_err(|e| match failed.take() {
                Some(io) => store_error(io),
                None => e.into(),
            })?;
        parser.finish(&mut lines);
        write(&mut lines, &mut out).map_err(store_error)?;
        let file = out.into_inner().map_err(|e| store_error(e.into_error()))?;
        file.as_file().sync_all().map_err(store_error)?;
        file.persist(path).map_err(|e| store_error(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_nobody_writes_are_swept_and_one_being_written_stays() {
        let dir = tempfile::tempdir().unwrap();
        let abandoned = dir.path().join(format!("{PARTIAL}abc"));
        std::fs::write(&abandoned, b"half a log").unwrap();
        let writing = tempfile::Builder::new().prefix(PARTIAL).tempfile_in(dir.path()).unwrap();
        writing.as_file().try_lock().unwrap();
        let kept = dir.path().join("github-o_r-1.log");
        std::fs::write(&kept, b"a whole log").unwrap();
        sweep_abandoned(dir.path());
        assert!(!abandoned.exists(), "nobody held it");
        assert!(writing.path().exists(), "its writer holds it");
        assert!(kept.exists(), "whole logs stay");
    }
}
