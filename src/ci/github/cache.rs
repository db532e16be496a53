//! The last runs GitHub listed, kept on disk (private to the user) so that the cockpit's first
//! frame shows them at once, marked as the last known state, while GitHub is asked again.

use std::path::Path;

use crate::domain::RunRecord;

/// What a cached run says until GitHub answers.
const STALE: &str = "last known state; asking GitHub";

/// Keeps `runs` (best effort: a cache that cannot be written only costs the next first frame).
pub fn save(file: Option<&Path>, runs: &[RunRecord]) {
    let Some(file) = file else { return };
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(text) = serde_json::to_vec(runs) else { return };
    // Written whole or not at all: a reader never sees half a file.
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        if tmp.write_all(&text).is_ok() {
            let _ = tmp.persist(file);
        }
    }
}

/// The runs kept by the last list, each marked as the last known state.
pub fn load(file: Option<&Path>) -> Vec<RunRecord> {
    let Some(text) = file.and_then(|f| std::fs::read(f).ok()) else { return Vec::new() };
    let mut runs: Vec<RunRecord> = serde_json::from_slice(&text).unwrap_or_default();
    for r in &mut runs {
        r.note = Some(match r.note.take() {
            Some(n) => format!("{STALE} · {n}"),
            None => STALE.to_string(),
        });
    }
    runs
}
