//! A run's scan reports, uploaded as artifacts (named per workflow in `report_artifacts`):
//! downloaded as zip archives within size limits and parsed like local reports, so that they feed
//! the findings screen and the release gate of the run's reviews. An artifact that is missing,
//! expired, too large or unreadable is an unreadable report: the gate fails closed.

use super::GithubProvider;
use super::model::Artifacts;
use crate::ci::{CiError, RunEvidence};
use crate::findings::ReportError;

/// The most an artifact's archive may be.
const ARCHIVE_LIMIT: u64 = 256 * 1024 * 1024;

/// The artifact names configured for a workflow file (`*` applies to every workflow).
pub fn wanted(gh: &GithubProvider, workflow: &str) -> Vec<String> {
    let map = &gh.inner.settings.report_artifacts;
    let mut names: Vec<String> = map.get(workflow).into_iter().chain(map.get("*")).flatten().cloned().collect();
    names.sort();
    names.dedup();
    names
}

pub async fn read(gh: &GithubProvider, repo: &str, id: u64, workflow: &str) -> Result<RunEvidence, CiError> {
    let names = wanted(gh, workflow);
    if names.is_empty() {
        return Ok(RunEvidence::default());
    }
    let list: Artifacts = gh.inner.api.get(&format!("/repos/{repo}/actions/runs/{id}/artifacts?per_page=100")).await?;
    let mut out = RunEvidence::default();
    for name in names {
        let errors = &mut out.unreadable;
        let shown = format!("artifact {name}");
        let problem = |p: String| ReportError { path: shown.clone(), problem: p };
        let Some(a) = list.artifacts.iter().find(|a| a.name == name) else {
            errors.push(problem("the run has not uploaded it (yet); the gate cannot be judged without it".into()));
            continue;
        };
        if a.expired {
            errors.push(problem("it has expired on GitHub; its reports can no longer be read".into()));
            continue;
        }
        if a.size_in_bytes > ARCHIVE_LIMIT {
            errors.push(problem(format!("it is {} MiB, over the {} MiB limit", a.size_in_bytes >> 20, ARCHIVE_LIMIT >> 20)));
            continue;
        }
        match gh.inner.api.download(&format!("/repos/{repo}/actions/artifacts/{}/zip", a.id), ARCHIVE_LIMIT).await {
            Err(e) => errors.push(problem(e.to_string())),
            Ok(bytes) => {
                let mut unpacked = tokio::task::spawn_blocking(move || crate::findings::archive::unpack(&bytes, &name))
                    .await
                    .map_err(|e| CiError::Other(e.to_string()))?;
                // The analysis finished with the run: its gate is there to be read, or not at all.
                crate::findings::sonar::resolve_all(&mut unpacked.0, std::time::Duration::from_secs(30)).await;
                crate::findings::registry::read_all(
                    &mut unpacked.0,
                    &crate::findings::registry_auth::Keychain::from_env(),
                    std::time::Duration::from_secs(20),
                )
                .await;
                for r in unpacked.0 {
                    out.add(r);
                }
                out.unreadable.extend(unpacked.1);
            }
        }
    }
    out.findings = crate::findings::group(std::mem::take(&mut out.findings));
    Ok(out)
}
