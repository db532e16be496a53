//! Runs as the CI providers report them: the list, the selection, evidence and logs to fetch.

use super::*;

pub(crate) fn on_run_event(state: &mut State, ev: RunEvent) -> Vec<Effect> {
    match ev {
        RunEvent::Updated(rec) => {
            let rec = *rec;
            let id = rec.id.clone();
            upsert_run(state, rec);
            state.dirty = true;
            let mut fx: Vec<Effect> = Vec::new();
            let wants_evidence =
                state.selected_run == Some(id.clone()) || state.run(&id).is_some_and(|r| r.record.waiting_gates().next().is_some());
            if wants_evidence {
                fx.extend(ensure_evidence(state, id.clone(), false));
            }
            if state.selected_run.is_none() {
                fx.extend(select_run(state, id));
                return fx;
            }
            if state.selected_run == Some(id.clone()) {
                if state.selected_job.is_none() {
                    state.selected_job = default_job(state.run(&id).map(|r| &r.record));
                }
                fx.extend(ensure_log(state));
            }
            fx
        }
        RunEvent::LogSkipped { run, job, lines } => {
            let caps = state.log_caps;
            if let Some(view) = state.run_mut(&run) {
                let entry = view.logs.entry(job).or_insert_with(|| JobLog::new(caps));
                // Only a log not begun yet starts further on: its first lines are read from disk.
                if entry.store.end_seq() == 0 && entry.live_end == 0 && !entry.from_disk {
                    entry.store = LogStore::starting_at(caps.max_lines, caps.max_bytes, lines);
                    entry.file = Some(LogFileView { total: lines, loading: None });
                    entry.live_end = lines;
                }
            }
            state.dirty = true;
            Vec::new()
        }
        RunEvent::Log { run, job, lines } => {
            let caps = state.log_caps;
            let selected = state.selected_run == Some(run.clone()) && state.selected_job.as_deref() == Some(job.as_str());
            let query = state.log.search.as_ref().map(|s| s.query.clone()).filter(|q| !q.is_empty());
            let Some(view) = state.run_mut(&run) else {
                return Vec::new();
            };
            let entry = view.logs.entry(job).or_insert_with(|| JobLog::new(caps));
            if entry.from_disk {
                return Vec::new(); // a finished job's log already read from disk
            }
            // Lines come numbered by their place in the stream; the store takes those that
            // continue it (a window read from disk may already hold some of them).
            let n = lines.len() as u64;
            let start = entry.live_end;
            entry.live_end += n;
            let end = entry.store.end_seq();
            if end < start || end >= start + n {
                // The view holds a window further up a long log: the new lines are counted, and
                // read from disk when the view gets to them.
                if let Some(f) = entry.file.as_mut() {
                    f.total = f.total.max(entry.live_end);
                }
                if selected && !state.log.follow && end < start {
                    state.log.new_lines += n;
                    state.dirty = true;
                }
                return Vec::new();
            }
            let before = end;
            for l in &lines[(end - start) as usize..] {
                entry.push_raw(l.ts_ms, l.stream, &l.bytes);
            }
            // Lines the store let go of are still in the job's log on disk (local runs).
            if entry.store.evicted() > 0 || entry.file.is_some() {
                let total = entry.store.end_seq();
                entry.file.get_or_insert(LogFileView { total, loading: None }).total = total;
            }
            if selected {
                let added = entry.store.end_seq() - before;
                let first = entry.store.first_seq();
                let new_matches: Vec<u64> = match &query {
                    Some(q) => {
                        let m = crate::logstore::store_matcher(q);
                        (before..before + added).filter(|seq| entry.store.get(*seq).is_some_and(|l| m.is_match(&l.text))).collect()
                    }
                    None => Vec::new(),
                };
                let on_disk = entry.file.is_some();
                if let Some(s) = state.log.search.as_mut() {
                    // A search of the store forgets what the store let go of; one of the whole
                    // log on disk keeps every match.
                    if !on_disk {
                        s.matches.retain(|m| *m >= first);
                    }
                    s.matches.extend(new_matches);
                }
                if !state.log.follow {
                    state.log.new_lines += added;
                }
                state.dirty = true;
            }
            Vec::new()
        }
        RunEvent::Problem { run, message } => {
            match run {
                Some(r) => state.toast_error(format!("run #{r}: {message}")),
                None => state.toast_error(message),
            }
            Vec::new()
        }
    }
}

/// Inserts or replaces a run record, keeping the newest-first order and the logs already held.
pub(crate) fn upsert_run(state: &mut State, rec: RunRecord) {
    if let Some(view) = state.run_mut(&rec.id) {
        // Jobs sent back to pending by a retry start a fresh log on screen.
        let reset: Vec<String> = rec
            .jobs
            .iter()
            .filter(|j| j.status == JobStatus::Pending && view.record.job(&j.key).is_some_and(|old| old.status.is_terminal()))
            .map(|j| j.key.clone())
            .collect();
        for k in reset {
            view.logs.remove(&k);
        }
        // A summary without jobs (a remote provider's list) does not erase what was read whole,
        // unless the run moved on.
        if rec.jobs.is_empty() && !view.record.jobs.is_empty() && rec.status == view.record.status {
            return;
        }
        view.record = rec;
    } else {
        let pos = state.runs.iter().position(|r| rec.is_newer_than(&r.record)).unwrap_or(state.runs.len());
        state.runs.insert(pos, RunView::new(rec));
    }
}

/// The job to show first: one that is running, waiting or failed, else the first.
pub(crate) fn default_job(rec: Option<&RunRecord>) -> Option<String> {
    let rec = rec?;
    let pick = |s: &[JobStatus]| rec.jobs.iter().find(|j| s.contains(&j.status)).map(|j| j.key.clone());
    pick(&[JobStatus::Running, JobStatus::Waiting])
        .or_else(|| pick(&[JobStatus::Failed, JobStatus::TimedOut]))
        .or_else(|| rec.jobs.iter().rev().find(|j| j.status != JobStatus::Pending && j.status != JobStatus::Skipped).map(|j| j.key.clone()))
        .or_else(|| rec.jobs.first().map(|j| j.key.clone()))
}

pub(crate) fn select_run(state: &mut State, id: RunRef) -> Vec<Effect> {
    if state.selected_run != Some(id.clone()) {
        state.selected_run = Some(id.clone());
        state.selected_job = default_job(state.run(&id).map(|r| &r.record));
        state.findings_view.cursor = 0;
        reset_log_view(state);
    }
    state.dirty = true;
    // A run listed without its jobs (a remote provider's summary) is read whole once opened.
    let whole = state
        .run(&id)
        .filter(|r| r.record.jobs.is_empty() && r.record.id.local_number().is_none())
        .map(|_| Effect::LoadRun { run: id.clone() });
    whole.into_iter().chain(ensure_log(state)).chain(ensure_evidence(state, id, false)).collect()
}

pub(crate) fn select_job(state: &mut State, key: String) -> Vec<Effect> {
    if state.selected_job.as_deref() != Some(&key) {
        state.selected_job = Some(key);
        reset_log_view(state);
    }
    state.dirty = true;
    ensure_log(state).into_iter().collect()
}

/// Asks for a run's security evidence when it is missing or out of date. `force` rereads it.
pub(crate) fn ensure_evidence(state: &mut State, run: RunRef, force: bool) -> Option<Effect> {
    let acceptances = state.acceptances.clone();
    let view = state.run_mut(&run)?;
    if !view.record.jobs.iter().any(|j| !j.reports.is_empty()) {
        // Nothing declares reports: the evidence is empty, and complete.
        view.evidence = Some(crate::findings::Evidence { acceptances, ..Default::default() });
        return None;
    }
    let sig = view.evidence_signature();
    if !force && view.evidence_of == sig && view.evidence.is_some() {
        return None;
    }
    view.evidence_of = sig;
    Some(Effect::LoadFindings { run })
}

/// Asks for the selected job's log from disk when it finished before we were watching.
pub(crate) fn ensure_log(state: &mut State) -> Option<Effect> {
    let run = state.current_run()?;
    let job = state.current_job()?;
    if run.logs.contains_key(&job.key) || !job.status.is_terminal() || state.pending_log.is_some() {
        return None;
    }
    let (run_id, key) = (run.record.id.clone(), job.key.clone());
    let request = state.request_id();
    state.pending_log = Some(request);
    Some(Effect::LoadLog { request, run: run_id, job: key })
}
