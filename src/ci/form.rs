//! What starting a CI service's workflow asks for besides its name: a ref, and the inputs its file
//! declares (GitHub's `workflow_dispatch` inputs), checked before anything is sent.

use std::collections::BTreeMap;

/// One declared input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowInput {
    pub name: String,
    /// `string`, `choice`, `boolean`, `number` or `environment`.
    pub kind: String,
    pub required: bool,
    pub default: Option<String>,
    /// A choice's options.
    pub options: Vec<String>,
    pub description: String,
}

/// What the cockpit offers to fill in before a workflow is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerForm {
    pub pipeline: String,
    /// The ref it runs on unless another is given (the repository's default branch).
    pub git_ref: String,
    pub inputs: Vec<WorkflowInput>,
}

impl TriggerForm {
    /// The values a person may type for an input (`env=staging`, `dry_run=true`…).
    pub fn choices(&self) -> Vec<String> {
        let mut out = vec![format!("ref={}", self.git_ref)];
        for i in &self.inputs {
            match i.kind.as_str() {
                "choice" => out.extend(i.options.iter().map(|o| format!("{}={o}", i.name))),
                "boolean" => out.extend(["true", "false"].map(|b| format!("{}={b}", i.name))),
                _ => out.push(format!("{}={}", i.name, i.default.clone().unwrap_or_default())),
            }
        }
        out
    }

    /// The command line to start from: the ref and every input at its default.
    pub fn prefilled(&self) -> String {
        let mut line = format!("run {} ref={}", self.pipeline, self.git_ref);
        for i in &self.inputs {
            line.push_str(&format!(" {}={}", i.name, i.default.clone().unwrap_or_default()));
        }
        line
    }
}

/// Checks the given values against the declared inputs; every problem at once.
pub fn check_inputs(declared: &[WorkflowInput], given: &BTreeMap<String, String>) -> Result<(), String> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !declared.iter().any(|i| &i.name == name) {
            let known: Vec<&str> = declared.iter().map(|i| i.name.as_str()).collect();
            problems.push(format!(
                "no input `{name}` (the workflow declares: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            ));
        }
    }
    for i in declared {
        match given.get(&i.name) {
            None if i.required && i.default.is_none() => problems.push(format!("input `{}` is required", i.name)),
            None => {}
            Some(v) => match i.kind.as_str() {
                "choice" if !i.options.contains(v) => {
                    problems.push(format!("input `{}` must be one of {} (got `{v}`)", i.name, i.options.join(", ")))
                }
                "boolean" if v != "true" && v != "false" => problems.push(format!("input `{}` must be true or false (got `{v}`)", i.name)),
                "number" if v.parse::<f64>().is_err() => problems.push(format!("input `{}` must be a number (got `{v}`)", i.name)),
                _ => {}
            },
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}
