//! Evidence for auditors: one row per action (intent joined with its outcome), with approvals
//! linked to the runs they gated.

use serde::Serialize;

use super::record::{AuditRecord, Phase};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub time: String,
    pub actor: String,
    pub origin: String,
    pub environment: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub result: String,
    pub error: String,
    pub break_glass: bool,
    /// The run an action concerns (approvals: the run they gated), in its provider-neutral form
    /// (`local:12`); records written before runs had a provider name the local runner's number.
    pub run: Option<crate::domain::RunRef>,
    pub pipeline: String,
    pub gate: String,
    pub finished: String,
    pub intent_seq: u64,
    pub outcome_seq: Option<u64>,
    pub parameters: serde_json::Value,
    /// False for rows after a break in the chain (exported only with --allow-broken).
    pub intact: bool,
}

/// Parses `--since`/`--until`: an RFC 3339 instant, or a date (midnight UTC).
pub fn parse_time_bound(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| format!("`{text}` is not a time (use 2026-11-22 or 2026-11-22T10:00:00Z)"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string())
}

pub fn export_rows(records: &[AuditRecord], since: Option<jiff::Timestamp>, until: Option<jiff::Timestamp>) -> Vec<ExportRow> {
    let in_range = |r: &AuditRecord| {
        let Ok(t) = r.time.parse::<jiff::Timestamp>() else { return true };
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
    };
    let mut rows = Vec::new();
    for r in records.iter().filter(|r| r.phase != Phase::Outcome && in_range(r)) {
        let outcome = records.iter().find(|o| o.phase == Phase::Outcome && o.intent == Some(r.seq));
        let p = &r.parameters;
        let (result, error, finished, outcome_seq) = match (r.phase, outcome) {
            (Phase::Intent, Some(o)) => (o.result.clone(), o.error.clone().unwrap_or_default(), o.time.clone(), Some(o.seq)),
            (Phase::Intent, None) => ("no outcome recorded".to_string(), String::new(), String::new(), None),
            _ => (r.result.clone(), r.error.clone().unwrap_or_default(), r.time.clone(), None),
        };
        rows.push(ExportRow {
            time: r.time.clone(),
            actor: r.actor.clone(),
            origin: r.origin.clone(),
            environment: r.environment.clone().unwrap_or_default(),
            action: r.action.clone(),
            target: r.target.clone(),
            reason: r.reason.clone(),
            result,
            error,
            break_glass: r.break_glass,
            // A trigger learns its run number only at the outcome.
            run: p
                .get("run")
                .or_else(|| outcome.and_then(|o| o.parameters.get("run")))
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            pipeline: p.get("pipeline").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
            gate: p.get("gate").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
            finished,
            intent_seq: r.seq,
            outcome_seq,
            parameters: p.clone(),
            intact: true,
        });
    }
    rows
}

pub fn export_csv(rows: &[ExportRow]) -> String {
    let mut out = String::from(
        "time,actor,origin,environment,action,target,run,pipeline,gate,reason,result,error,break_glass,finished,intent_seq,outcome_seq,intact\n",
    );
    for r in rows {
        let fields = [
            r.time.clone(),
            r.actor.clone(),
            r.origin.clone(),
            r.environment.clone(),
            r.action.clone(),
            r.target.clone(),
            r.run.as_ref().map(crate::domain::RunRef::text).unwrap_or_default(),
            r.pipeline.clone(),
            r.gate.clone(),
            r.reason.clone(),
            r.result.clone(),
            r.error.clone(),
            r.break_glass.to_string(),
            r.finished.clone(),
            r.intent_seq.to_string(),
            r.outcome_seq.map(|n| n.to_string()).unwrap_or_default(),
            r.intact.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting, plus a leading quote for cells a spreadsheet would run as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}
