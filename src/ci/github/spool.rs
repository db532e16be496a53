//! A finished job's log, downloaded straight to disk in the job log format.

use super::{GithubProvider, api, logs};
use crate::ci::CiError;
use crate::ci::github::api::GhError;
use crate::logstore::RawLine;

impl GithubProvider {
    /// Downloads a finished job's log straight to `path`, in the job log format, a chunk at a
    /// time: memory does not grow with the log. Written beside it and renamed when whole.
    pub(super) async fn spool_log(&self, repo: &str, job_id: u64, path: &std::path::Path) -> Result<(), CiError> {
        use std::io::Write;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let store_error = |e: std::io::Error| CiError::storage(format!("cannot write {}", path.display()), e);
        std::fs::create_dir_all(dir).map_err(store_error)?;
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(store_error)?;
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
