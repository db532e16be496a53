//! Runs from the command line: start, follow, list, cancel, retry, logs, gates, findings. Every
//! run is reached through the CI registry by its provider-neutral reference; only executing a run
//! in this process and following its files are the local runner's own.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::changes::{Caller, Confirmation, change};
use super::printer::{Printer, print_runs};
use crate::ci::local::Tailer;
use crate::ci::{CiProvider, RunEvent, RunQuery};
use crate::config::Config;
use crate::domain::{RunRecord, RunRef, RunStatus};
use crate::logstore::RawLine;
use crate::ops::Operation;
use crate::providers::{Ci, Open};
use crate::util::{elapsed, format_duration};

/// The CI providers for one subcommand, and the channel they report on.
fn providers(who: &Caller<'_>, open: Open) -> anyhow::Result<(Ci, UnboundedReceiver<RunEvent>)> {
    let (tx, rx) = unbounded_channel();
    Ok((crate::providers::ci(who.config, who.data_dir, tx, open)?, rx))
}

/// Completes a run reference typed without its provider (`42`).
pub(super) fn resolve(who: &Caller<'_>, run: RunRef) -> anyhow::Result<RunRef> {
    if run.is_resolved() {
        return Ok(run);
    }
    let (ci, _events) = providers(who, Open::Lazily)?;
    Ok(ci.registry.resolve(run)?)
}

/// Whether some CI provider could have a run with this bare id.
pub(super) fn claimed(who: &Caller<'_>, bare_id: &str) -> bool {
    providers(who, Open::Lazily).map(|(ci, _)| ci.registry.claims(bare_id)).unwrap_or(false)
}

/// Only the local runner's runs have files here to follow.
fn local_only(run: &RunRef, what: &str) -> anyhow::Result<()> {
    if run.local_number().is_none() {
        bail!("{what} works for runs of the local runner; {} is a run of `{}`", run.text(), run.provider);
    }
    Ok(())
}

/// `--ref` and `--input NAME=VALUE` as a trigger takes them.
pub(super) fn trigger_with(git_ref: Option<String>, inputs: &[String]) -> anyhow::Result<crate::ops::TriggerWith> {
    let mut with = crate::ops::TriggerWith { git_ref, ..Default::default() };
    for i in inputs {
        let Some((name, value)) = i.split_once('=').filter(|(n, _)| !n.trim().is_empty()) else {
            bail!("--input `{i}` is not NAME=VALUE");
        };
        with.inputs.insert(name.trim().to_string(), value.to_string());
    }
    Ok(with)
}

/// `run PIPELINE [--follow]`. The supervisor executes the run; following it only reads its files,
/// so Ctrl-C, a closed terminal or a dropped SSH session end the following, never the run.
pub(super) async fn start(
    who: &Caller<'_>,
    pipeline: String,
    with: crate::ops::TriggerWith,
    follow: bool,
    colour: bool,
    confirm: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let (ci, mut events) = providers(who, Open::Recover)?;
    let op = Operation::Trigger { pipeline: pipeline.clone(), with };
    let report = change(&ci.registry, who, op, None, None, confirm).await?;
    let Some(id) = report.new_run.clone() else { bail!("the run was not created") };
    if follow {
        eprintln!("run #{id} of `{pipeline}` started; Ctrl-C stops following, not the run");
        if id.local_number().is_none() {
            return follow_events(&ci, &mut events, id, None, Printer::new(colour)).await;
        }
        follow_files(&ci, id, None, Printer::new(colour), true).await
    } else if confirm.json {
        super::changes::tell(confirm, &report, serde_json::json!({ "run": id.text(), "pipeline": pipeline }), true);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}", id.text());
        eprintln!("run #{id} of `{pipeline}` started in the background; follow it with `flightdeck logs {} --follow`", id.text());
        Ok(ExitCode::SUCCESS)
    }
}

/// `retry RUN [--follow]`.
pub(super) async fn retry(
    who: &Caller<'_>,
    run: RunRef,
    scope: crate::ci::RetryScope,
    follow: bool,
    colour: bool,
    confirm: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let (ci, _events) = providers(who, Open::Recover)?;
    let run = ci.registry.resolve(run)?;
    let rec = ci.registry.run(run.clone()).await?;
    if follow {
        local_only(&run, "retry --follow")?;
    }
    let report = change(&ci.registry, who, Operation::Retry { run: run.clone(), scope }, Some(&rec), None, confirm).await?;
    if confirm.json && !follow {
        super::changes::tell(confirm, &report, serde_json::json!({ "run": run.text() }), true);
        return Ok(ExitCode::SUCCESS);
    }
    if follow {
        eprintln!("retrying run #{run}; Ctrl-C stops following, not the run");
        follow_files(&ci, run, None, Printer::new(colour), true).await
    } else {
        eprintln!("retrying run {} in the background; follow it with `flightdeck logs {} --follow`", run.text(), run.text());
        Ok(ExitCode::SUCCESS)
    }
}

/// `runs [PIPELINE] [--json] [--limit N]`.
pub(super) async fn list(who: &Caller<'_>, query: RunQuery, provider: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let (ci, mut events) = providers(who, Open::Recover)?;
    let page = match provider {
        None => ci.registry.list_runs(query).await?,
        Some(name) => ci.registry.provider(&RunRef::new(name, ""))?.list_runs(query).await?,
    };
    while let Ok(ev) = events.try_recv() {
        if let RunEvent::Problem { message, .. } = ev {
            eprintln!("warning: {}", crate::logstore::sanitize::plain(&message));
        }
    }
    for p in &page.problems {
        eprintln!("warning: not listed: {}", crate::logstore::sanitize::plain(p));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&page.runs)?);
    } else {
        print_runs(&page.runs);
    }
    Ok(ExitCode::SUCCESS)
}

/// `cancel RUN`: asks, then waits until the run has ended.
pub(super) async fn cancel(who: &Caller<'_>, run: RunRef, force: bool, confirm: &Confirmation) -> anyhow::Result<ExitCode> {
    let (ci, _events) = providers(who, Open::Recover)?;
    let run = ci.registry.resolve(run)?;
    let rec = ci.registry.run(run.clone()).await?;
    let report = change(&ci.registry, who, Operation::Cancel { run: run.clone(), force }, Some(&rec), None, confirm).await?;
    let limit = who.config.runner.kill_grace + Duration::from_secs(10);
    // A remote service is asked once a second: each look costs it something.
    let every = if run.local_number().is_some() { Duration::from_millis(100) } else { Duration::from_secs(1) };
    let start = std::time::Instant::now();
    loop {
        let rec = ci.registry.run(run.clone()).await?;
        if rec.status.is_terminal() {
            if confirm.json {
                super::changes::tell(confirm, &report, serde_json::json!({ "run": run.text(), "status": rec.status }), true);
            } else {
                eprintln!("run #{run} is {}", rec.status.label());
            }
            return Ok(ExitCode::SUCCESS);
        }
        if start.elapsed() > limit {
            bail!("asked run #{run} to cancel, but it is still {} after {}s", rec.status.label(), limit.as_secs());
        }
        tokio::time::sleep(every).await;
    }
}

/// `logs RUN [JOB] [--follow]`. With --follow the exit code is the run's: 0 only when it succeeded.
pub(super) async fn logs(
    who: &Caller<'_>,
    run: RunRef,
    job: Option<&str>,
    follow: bool,
    colour: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (ci, mut provider_events) = providers(who, Open::Recover)?;
    let run = ci.registry.resolve(run)?;
    let rec = ci.registry.run(run.clone()).await?;
    let job = job.map(|j| resolve_job(&rec, j)).transpose()?;
    let mut printer = Printer::new(colour);
    printer.json = json;
    if !follow || rec.status.is_terminal() {
        let mut out = std::io::stdout().lock();
        for j in rec.jobs.iter().filter(|j| job.as_ref().is_none_or(|k| &j.key == k)) {
            let mut print = |l: RawLine| writeln!(out, "{}", printer.format(&j.key, &l)).is_ok();
            // A log on disk (a local one, or a remote one spooled there as it downloads) is
            // streamed from its file, so a log of any size takes little memory.
            let read_on = if run.local_number().is_some() {
                ci.local.store().stream_log(&rec, &j.key, &mut print)?
            } else if let Some(path) = ci.registry.log_file(run.clone(), j.key.clone()).await {
                crate::ci::local::stream_log_file(&path, &mut print)?
            } else {
                ci.registry.read_log(run.clone(), j.key.clone()).await?.into_iter().all(&mut print)
            };
            if !read_on {
                return Ok(ExitCode::SUCCESS); // e.g. piped into head
            }
        }
        return Ok(if follow { finish(&rec) } else { ExitCode::SUCCESS });
    }
    if run.local_number().is_none() {
        return follow_events(&ci, &mut provider_events, run, job, printer).await;
    }
    follow_files(&ci, run, job, printer, false).await
}

/// Follows a remote provider's run through what it reports (each job's log as the job completes)
/// until the run ends; its exit code says how it ended.
async fn follow_events(
    ci: &Ci,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<RunEvent>,
    run: RunRef,
    job: Option<String>,
    mut printer: Printer,
) -> anyhow::Result<ExitCode> {
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop_on_return = stop.clone().drop_guard();
    ci.registry.watch(stop);
    while let Some(ev) = events.recv().await {
        if let (RunEvent::Log { job: j, .. }, Some(k)) = (&ev, &job)
            && j != k
        {
            continue;
        }
        if let Some(rec) = printer.event(&run, ev) {
            return Ok(finish(&rec));
        }
    }
    bail!("run #{run}: its provider stopped reporting")
}

/// Follows a local run's files (the supervisor writes them) until it ends; the exit code is the
/// run's: 0 only when it succeeded.
/// `taken`: the supervisor said it executes the run (so a queued record with nobody holding it is
/// an executor that died, not one on its way).
async fn follow_files(ci: &Ci, run: RunRef, job: Option<String>, mut printer: Printer, taken: bool) -> anyhow::Result<ExitCode> {
    let (events, mut tailed) = unbounded_channel();
    let mut tailer = Tailer::new(run.clone());
    let mut looked = std::time::Instant::now();
    loop {
        // A supervisor killed outright says nothing: find out, and say the run was interrupted.
        if looked.elapsed() >= Duration::from_millis(500) {
            looked = std::time::Instant::now();
            ci.local.recover_if_abandoned(&run, !taken)?;
        }
        let done = tailer.poll(ci.local.store(), &events)?;
        while let Ok(ev) = tailed.try_recv() {
            let ev = match (ev, &job) {
                (RunEvent::Log { job: j, .. }, Some(k)) if &j != k => continue,
                (ev, _) => ev,
            };
            if let Some(rec) = printer.event(&run, ev) {
                return Ok(finish(&rec));
            }
        }
        if done {
            return Ok(finish(&ci.registry.run(run.clone()).await?));
        }
        if !tailer.behind() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `approve|reject RUN [--gate NAME]`.
pub(super) async fn decide(
    who: &Caller<'_>,
    run: RunRef,
    gate: Option<String>,
    approve: bool,
    confirm: &Confirmation,
) -> anyhow::Result<ExitCode> {
    let (ci, _events) = providers(who, Open::Recover)?;
    let run = ci.registry.resolve(run)?;
    let rec = ci.registry.run(run.clone()).await?;
    let job = match gate {
        Some(g) => resolve_job(&rec, &g)?,
        None => {
            let waiting: Vec<&str> = rec.waiting_gates().map(|j| j.key.as_str()).collect();
            match waiting.as_slice() {
                [one] => one.to_string(),
                [] => bail!("run #{run} has no gate waiting for a decision (it is {})", rec.status.label()),
                many => bail!("several gates of run #{run} are waiting ({}); choose one with --gate", many.join(", ")),
            }
        }
    };
    let evidence = evidence_of(who.config, &ci.registry, &run).await?;
    let fields = serde_json::json!({ "run": run.text(), "gate": job, "decision": if approve { "approved" } else { "rejected" } });
    let report = change(&ci.registry, who, Operation::Gate { run, job, approve }, Some(&rec), Some(&evidence), confirm).await?;
    super::changes::tell(confirm, &report, fields, false);
    Ok(ExitCode::SUCCESS)
}

/// The evidence of the run that judges a promotion, reached through the registry.
pub(super) async fn judged_by(who: &Caller<'_>, run: &RunRef) -> anyhow::Result<crate::findings::Evidence> {
    let (ci, _events) = providers(who, Open::Lazily)?;
    let run = ci.registry.resolve(run.clone())?;
    evidence_of(who.config, &ci.registry, &run).await
}

/// A run's security evidence as the gate sees it: its findings plus the acceptances in force.
pub async fn evidence_of(config: &Config, ci: &dyn CiProvider, run: &RunRef) -> anyhow::Result<crate::findings::Evidence> {
    let reports = ci.evidence(run.clone()).await?;
    let acceptances = crate::findings::Acceptances::load(&config.findings.acceptances).map_err(anyhow::Error::msg)?;
    Ok(reports.judged_with(acceptances))
}

/// Every waiting gate, and whether the current user may approve it.
pub(super) async fn approvals(who: &Caller<'_>, json: bool) -> anyhow::Result<ExitCode> {
    let (config, identity, read_only) = (who.config, who.identity, who.read_only);
    let (ci, _events) = providers(who, Open::Recover)?;
    let page = ci.registry.list_runs(RunQuery::default()).await?;
    // A provider that could not be asked may have gates waiting: said, and the exit code says the
    // inbox is incomplete (what the others answered is still shown).
    for p in &page.problems {
        eprintln!("warning: not asked: {}", crate::logstore::sanitize::plain(p));
    }
    let incomplete = if page.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(super::exit::ERROR) };
    let runs = page.runs;
    let now = jiff::Timestamp::now();
    let mut policy = config.policy.clone();
    policy.read_only = read_only;
    let mut rows = Vec::new();
    // A broken acceptances file must not hide what waits: no acceptance counts (the gates are
    // stricter, never looser), and the located error is shown with every row.
    let (acceptances, acceptances_error) = match crate::findings::Acceptances::load(&config.findings.acceptances) {
        Ok(a) => (a, None),
        Err(e) => (crate::findings::Acceptances::default(), Some(crate::logstore::sanitize::plain(&e))),
    };
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    for rec in &runs {
        // Read the evidence only for runs that have something waiting.
        if rec.waiting_gates().next().is_none() {
            continue;
        }
        let evidence = ci.registry.evidence(rec.id.clone()).await?.judged_with(acceptances.clone());
        let started_by = rec.started_by();
        for gate in rec.waiting_gates() {
            let env = gate.gate.as_ref().and_then(|g| g.environment.clone());
            let verdict = policy.evaluate(&crate::policy::Request {
                kind: crate::policy::ActionKind::Approve,
                environments: env.clone().into_iter().collect(),
                actor: &identity.actor,
                run_triggered_by: &started_by,
                now,
                break_glass: false,
                security: Some(&evidence),
            });
            let blocked = match verdict {
                crate::policy::Verdict::Allowed { .. } => gate.gate.as_ref().and_then(|g| g.refused_by_service.clone()),
                crate::policy::Verdict::Refused { message, .. } => Some(message),
            };
            let gate_verdict = env.as_deref().and_then(|e| config.policy.environments.get(e)).map(|p| evidence.judge(&p.security, today));
            let jobs: Vec<serde_json::Value> =
                rec.jobs.iter().filter(|j| j.status.is_terminal()).map(|j| serde_json::json!({"job": j.key, "status": j.status})).collect();
            let release_gate = gate_verdict.map(|v| {
                serde_json::json!({
                    "pass": v.pass, "summary": v.summary, "counts": v.counts,
                    "blocking": v.blocking.iter().map(|f| &f.id).collect::<Vec<_>>(),
                    "unreadable": v.unreadable.len(),
                    "tests": v.tests,
                    "coverage": v.coverage,
                    "changed_coverage": v.changed_coverage,
                    "load": v.load,
                    "quality": v.quality,
                    "signature": v.signature,
                    "rules": v.rules,
                })
            });
            rows.push(serde_json::json!({
                "run": rec.id.text(),
                "pipeline": rec.pipeline,
                "gate": gate.key,
                "environment": env,
                "triggered_by": rec.trigger.actor,
                "waiting_since": gate.started_at,
                "deadline": gate.gate.as_ref().and_then(|g| g.deadline),
                "you_may_approve": blocked.is_none(),
                "why_not": blocked,
                "evidence": jobs,
                // `security_gate` is the same verdict under the name it had before the gate judged
                // more than findings; scripts written against it keep working.
                "release_gate": &release_gate,
                "security_gate": &release_gate,
                "acceptances_error": acceptances_error,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(incomplete);
    }
    if rows.is_empty() {
        if incomplete == ExitCode::SUCCESS {
            println!("nothing is waiting for a decision");
        } else {
            println!("nothing is waiting for a decision among the providers that answered");
        }
        return Ok(incomplete);
    }
    println!("{:<6} {:<14} {:<16} {:<8} {:<16} {:>9}  YOU", "RUN", "PIPELINE", "GATE", "ENV", "TRIGGERED BY", "WAITING");
    for r in &rows {
        let since = r["waiting_since"].as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
        let waited = elapsed(since, None, now).map(format_duration).unwrap_or_default();
        let you = match r["why_not"].as_str() {
            None => "may approve".to_string(),
            Some(why) => format!("cannot: {}", crate::logstore::sanitize::plain(why)),
        };
        println!(
            "{:<6} {:<14} {:<16} {:<8} {:<16} {:>9}  {you}",
            r["run"].as_str().unwrap_or(""),
            r["pipeline"].as_str().unwrap_or(""),
            r["gate"].as_str().unwrap_or(""),
            r["environment"].as_str().unwrap_or("-"),
            r["triggered_by"].as_str().unwrap_or(""),
            waited
        );
        if let Some(summary) = r["security_gate"]["summary"].as_str() {
            println!("       release gate: {}", crate::logstore::sanitize::plain(summary));
        }
    }
    if let Some(e) = &acceptances_error {
        eprintln!("warning: the risk acceptances could not be read, so none counts: {e}");
    }
    Ok(incomplete)
}

pub(super) async fn findings(who: &Caller<'_>, run: RunRef, json: bool, gate: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = who.config;
    let (ci, _events) = providers(who, Open::Recover)?;
    let run = ci.registry.resolve(run)?;
    let rec = ci.registry.run(run.clone()).await?;
    let evidence = evidence_of(config, &ci.registry, &run).await?;
    let today = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date();
    let verdict = match gate {
        None => None,
        Some(env) => {
            let Some(p) = config.policy.environments.get(env) else {
                let declared = config.policy.environments.keys().cloned().collect::<Vec<_>>().join(", ");
                bail!("no environment `{env}` (declared: {declared})");
            };
            Some((env, evidence.judge(&p.security, today)))
        }
    };
    // Each finding's standing: exempt by its tool, accepted (until when, by whom), expired, open.
    let standing = |f: &crate::findings::Finding| -> (&'static str, String) {
        match (&f.suppressed, evidence.acceptances.find(f)) {
            (Some(s), _) => ("exempt", s.clone()),
            (None, Some(a)) if a.expired(today) => ("acceptance-expired", format!("acceptance expired {}", a.expires)),
            (None, Some(a)) => ("accepted", format!("accepted until {} by {}", a.expires, a.by)),
            (None, None) => ("open", "open".into()),
        }
    };
    if json {
        // Each finding with its standing, made as it is written: a report of 100,000 findings is
        // never held a second time as a JSON tree.
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            finding: &'a crate::findings::Finding,
            state: &'static str,
            state_detail: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            acceptance: Option<serde_json::Value>,
        }
        struct All<'a, F: Fn(&'a crate::findings::Finding) -> Shown<'a>>(&'a [crate::findings::Finding], F);
        impl<'a, F: Fn(&'a crate::findings::Finding) -> Shown<'a>> serde::Serialize for All<'a, F> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(&self.1))
            }
        }
        let findings = All(&evidence.findings, |f| {
            let (state, state_detail) = standing(f);
            let acceptance =
                evidence.acceptances.find(f).map(|a| serde_json::json!({"by": a.by, "reason": a.reason, "expires": a.expires.to_string()}));
            Shown { finding: f, state, state_detail, acceptance }
        });
        let body = serde_json::json!({
            "run": run.text(),
            "pipeline": rec.pipeline,
            "unreadable": evidence.unreadable,
            "gate": verdict.as_ref().map(|(env, v)| serde_json::json!({
                "environment": env, "pass": v.pass, "summary": v.summary, "counts": v.counts,
                "blocking": v.blocking.iter().map(|f| &f.id).collect::<Vec<_>>(),
            })),
        });
        #[derive(serde::Serialize)]
        #[serde(bound = "")]
        struct Body<'a, F: Fn(&'a crate::findings::Finding) -> Shown<'a>> {
            #[serde(flatten)]
            head: serde_json::Value,
            findings: All<'a, F>,
        }
        let body = Body { head: body, findings };
        // Written as it is serialised, without a second copy of a large report in memory.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &body)?;
        std::io::Write::write_all(&mut out, b"\n")?;
    } else {
        let sanitize = crate::logstore::sanitize::plain;
        println!("{:<9} {:<24} {:<14} {:<44} {:<18} STATE", "SEVERITY", "ID", "TOOL", "LOCATION", "FIX");
        for f in &evidence.findings {
            let (_, state) = standing(f);
            println!(
                "{:<9} {:<24} {:<14} {:<44} {:<18} {}",
                f.severity.label(),
                sanitize(&f.id),
                sanitize(&f.tools.join("+")),
                sanitize(&f.location),
                sanitize(f.fixed.as_deref().unwrap_or("-")),
                sanitize(&state)
            );
        }
        for e in &evidence.unreadable {
            eprintln!("unreadable: {}", sanitize(&e.to_string()));
        }
        let counts = crate::findings::Counts::of(evidence.findings.iter().filter(|f| f.suppressed.is_none()));
        eprintln!("{} findings: {}", evidence.findings.len(), counts.badge());
    }
    match verdict {
        Some((env, v)) if !v.pass => {
            // Ids and locations come from the reports: never raw to the terminal.
            let plain = crate::logstore::sanitize::plain;
            eprintln!("release gate {env}: {}", plain(&v.summary));
            for f in &v.blocking {
                eprintln!("  blocking: {} {} ({})", f.severity.label(), plain(&f.id), plain(&f.location));
            }
            Ok(ExitCode::FAILURE)
        }
        Some((env, v)) => {
            eprintln!("release gate {env}: {}", v.summary);
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn finish(rec: &RunRecord) -> ExitCode {
    let dur = elapsed(rec.started_at, rec.finished_at, jiff::Timestamp::now()).map(format_duration).unwrap_or_default();
    eprintln!("run #{} {} in {dur}", rec.id, rec.status.label());
    if rec.status == RunStatus::Success { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Resolves a job name typed by a person: exact key, else a unique substring.
fn resolve_job(rec: &RunRecord, wanted: &str) -> anyhow::Result<String> {
    if rec.job(wanted).is_some() {
        return Ok(wanted.to_string());
    }
    let hits: Vec<&str> = rec.jobs.iter().filter(|j| j.key.contains(wanted)).map(|j| j.key.as_str()).collect();
    match hits.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!(
            "run #{} has no job `{wanted}` (jobs: {})",
            rec.id,
            rec.jobs.iter().map(|j| j.key.as_str()).collect::<Vec<_>>().join(", ")
        ),
        many => bail!("`{wanted}` matches several jobs of run #{}: {}", rec.id, many.join(", ")),
    }
}
