//! Expands a configured pipeline into the jobs of one run: one job per stage, or one per matrix
//! combination.

use std::collections::BTreeMap;

use crate::config::{Pipeline, Stage};
use crate::domain::{GateInfo, JobRecord, JobStatus, StageRecord};

pub fn plan(pipeline: &Pipeline) -> (Vec<StageRecord>, Vec<JobRecord>) {
    let stages = pipeline
        .stages
        .iter()
        .map(|s| StageRecord { name: s.name.clone(), needs: s.needs.clone(), gate: s.gate.is_some(), environment: s.environment.clone() })
        .collect();
    let mut jobs = Vec::new();
    for stage in &pipeline.stages {
        for combo in combinations(&stage.matrix) {
            let reports = stage.reports.iter().map(|r| fill_matrix(r, &combo)).collect();
            jobs.push(JobRecord {
                key: job_key(&stage.name, &combo),
                stage: stage.name.clone(),
                matrix: combo,
                status: JobStatus::Pending,
                exit_code: None,
                started_at: None,
                finished_at: None,
                attempts: 0,
                error: None,
                reports,
                gate: stage.gate.as_ref().map(|_| GateInfo {
                    environment: stage.environment.clone(),
                    deadline: None,
                    decision: None,
                    refused_by_service: None,
                }),
                findings: None,
                steps: Vec::new(),
                url: None,
            });
        }
    }
    (stages, jobs)
}

/// `test[20]`, `build[linux,arm64]` or plain `lint`.
pub fn job_key(stage: &str, combo: &BTreeMap<String, String>) -> String {
    if combo.is_empty() {
        stage.to_string()
    } else {
        let vals: Vec<&str> = combo.values().map(String::as_str).collect();
        format!("{stage}[{}]", vals.join(","))
    }
}

/// Cartesian product of the matrix axes (a single empty combination without a matrix).
pub fn combinations(matrix: &BTreeMap<String, Vec<String>>) -> Vec<BTreeMap<String, String>> {
    let mut out = vec![BTreeMap::new()];
    for (axis, values) in matrix {
        let mut next = Vec::with_capacity(out.len() * values.len());
        for partial in &out {
            for v in values {
                let mut c = partial.clone();
                c.insert(axis.clone(), v.clone());
                next.push(c);
            }
        }
        out = next;
    }
    out
}

/// The command with `${{ matrix.AXIS }}` placeholders filled in.
pub fn expand_command(stage: &Stage, combo: &BTreeMap<String, String>) -> String {
    fill_matrix(stage.run.as_deref().unwrap_or_default(), combo)
}

/// `text` with `${{ matrix.AXIS }}` placeholders filled in: a command, or a report path (each
/// matrix job writes its own report).
fn fill_matrix(text: &str, combo: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (axis, value) in combo {
        for pattern in [format!("${{{{ matrix.{axis} }}}}"), format!("${{{{matrix.{axis}}}}}")] {
            out = out.replace(&pattern, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_expands_to_the_product() {
        let mut m = BTreeMap::new();
        m.insert("node".to_string(), vec!["18".to_string(), "20".to_string(), "22".to_string()]);
        m.insert("os".to_string(), vec!["linux".to_string(), "mac".to_string()]);
        let c = combinations(&m);
        assert_eq!(c.len(), 6);
        assert_eq!(job_key("test", &c[0]), "test[18,linux]");
        assert!(combinations(&BTreeMap::new()).len() == 1);
        assert_eq!(fill_matrix("reports/junit-${{ matrix.node }}-${{matrix.os}}.xml", &c[0]), "reports/junit-18-linux.xml");
    }
}
