//! Pipelines as configured: stages checked against each other (needs, cycles, environments,
//! rollout hand-overs) and put in an order that runs.

use super::*;

/// More jobs than this in one stage's matrix is a mistake, not a build: each job is a process, a
/// log and a row on screen.
pub const MAX_MATRIX_JOBS: usize = 256;

pub(super) fn validate_pipeline(
    rep: &mut Reporter<'_>,
    name: &str,
    raw: &toml::Spanned<RawPipeline>,
    base_dir: &Path,
    environments: &BTreeMap<String, Environment>,
) -> Option<Pipeline> {
    let errors_before = rep.diagnostics.len();
    let p = raw.get_ref();
    let key = format!("pipelines.{name}");
    if p.stages.is_empty() {
        rep.error(Some(raw.span()), &key, "a pipeline needs at least one stage");
        return None;
    }
    if let Some(e) = &p.environment
        && !environments.contains_key(e.get_ref())
    {
        rep.error(
            Some(e.span()),
            format!("{key}.environment"),
            format!("environment `{}` is not declared under [environments]", e.get_ref()),
        );
    }
    let pipeline_cwd = p.cwd.as_ref().map(|c| base_dir.join(c)).unwrap_or_else(|| base_dir.to_path_buf());

    let mut seen = BTreeSet::new();
    for (i, s) in p.stages.iter().enumerate() {
        if !seen.insert(s.name.get_ref().as_str()) {
            rep.error(Some(s.name.span()), format!("{key}.stages[{i}].name"), format!("duplicate stage name `{}`", s.name.get_ref()));
        }
        if s.name.get_ref().trim().is_empty() {
            rep.error(Some(s.name.span()), format!("{key}.stages[{i}].name"), "stage name is empty");
        }
    }

    let mut stages = Vec::new();
    for (i, s) in p.stages.iter().enumerate() {
        let skey = format!("{key}.stages[{i}]");
        for n in &s.needs {
            if !seen.contains(n.get_ref().as_str()) {
                rep.error(
                    Some(n.span()),
                    format!("{skey}.needs"),
                    format!("stage `{}` needs `{}`, which is not a stage of this pipeline", s.name.get_ref(), n.get_ref()),
                );
            } else if n.get_ref() == s.name.get_ref() {
                rep.error(Some(n.span()), format!("{skey}.needs"), format!("stage `{}` needs itself", s.name.get_ref()));
            }
        }
        let gate = s.gate.as_ref().and_then(|g| match g.get_ref() {
            RawGate::Flag(false) => None,
            RawGate::Flag(true) => Some(Gate { timeout: None, message: String::new() }),
            RawGate::Table(t) => {
                let timeout = match t.timeout.as_deref().map(parse_duration) {
                    Some(Ok(d)) => Some(d),
                    Some(Err(e)) => {
                        rep.error(Some(g.span()), format!("{skey}.gate.timeout"), e);
                        None
                    }
                    None => None,
                };
                Some(Gate { timeout, message: t.message.clone() })
            }
        });
        // A hand-over to an Argo Rollout is a command of flightdeck itself, with the job's
        // environment (FLIGHTDECK, FLIGHTDECK_CONFIG) telling it where it is.
        let handover = s.rollout.as_ref().map(|r| {
            let ok_name =
                |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            let valid = r.get_ref().split_once('/').is_some_and(|(ns, n)| ok_name(ns) && ok_name(n));
            if !valid {
                rep.error(
                    Some(r.span()),
                    format!("{skey}.rollout"),
                    "name the Argo Rollout as NAMESPACE/NAME (lowercase, digits, - and .)",
                );
            }
            if s.run.is_some() || gate.is_some() {
                rep.error(Some(r.span()), &skey, "a stage with `rollout` runs no command and is no gate");
            }
            let mut cmd = format!("\"$FLIGHTDECK\" rollout follow '{}' --yes --reason \"pipeline run #$FLIGHTDECK_RUN_ID\"", r.get_ref());
            if let Some(img) = &s.image {
                let safe = img.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@=".contains(c));
                if !safe || img.get_ref().is_empty() {
                    rep.error(Some(img.span()), format!("{skey}.image"), "an image reference may hold letters, digits and . _ - / : @ =");
                }
                cmd.push_str(&format!(" --image '{}'", img.get_ref()));
            }
            cmd
        });
        if let (Some(img), None) = (&s.image, &s.rollout) {
            rep.error(Some(img.span()), format!("{skey}.image"), "`image` goes with `rollout = \"NAMESPACE/NAME\"`");
        }
        match (&s.run, &gate) {
            (None, None) if handover.is_some() => {}
            (None, None) => {
                rep.error(Some(s.name.span()), &skey, format!("stage `{}` has neither `run`, `gate` nor `rollout`", s.name.get_ref()))
            }
            (Some(r), Some(_)) => {
                rep.error(Some(r.span()), &skey, format!("stage `{}` has both `run` and `gate`; a gate runs no command", s.name.get_ref()))
            }
            (Some(r), None) if r.get_ref().trim().is_empty() => rep.error(Some(r.span()), format!("{skey}.run"), "empty command"),
            _ => {}
        }
        let matrix = s.matrix.as_ref().map(|m| m.get_ref().clone()).unwrap_or_default();
        if let Some(m) = &s.matrix {
            for (axis, values) in m.get_ref() {
                if values.is_empty() {
                    rep.error(Some(m.span()), format!("{skey}.matrix.{axis}"), "a matrix axis needs at least one value");
                }
            }
            if gate.is_some() && !matrix.is_empty() {
                rep.error(Some(m.span()), format!("{skey}.matrix"), "a gate cannot have a matrix");
            }
            // The product is computed without overflow: an absurd matrix is refused, not built.
            let jobs = m.get_ref().values().try_fold(1usize, |n, v| n.checked_mul(v.len().max(1))).unwrap_or(usize::MAX);
            if jobs > MAX_MATRIX_JOBS {
                let size = if jobs == usize::MAX { "more jobs than can be counted".to_string() } else { format!("{jobs} jobs") };
                rep.error(
                    Some(m.span()),
                    format!("{skey}.matrix"),
                    format!("the matrix expands to {size}; at most {MAX_MATRIX_JOBS} per stage (split the stage, or use fewer values)"),
                );
            }
        }
        if s.retries > 10 {
            rep.error(Some(s.name.span()), format!("{skey}.retries"), "at most 10 retries");
        }
        if let Some(e) = &s.environment
            && !environments.contains_key(e.get_ref())
        {
            let known: Vec<&str> = environments.keys().map(String::as_str).collect();
            rep.error(
                Some(e.span()),
                format!("{skey}.environment"),
                format!(
                    "environment `{}` is not declared under [environments] (declared: {})",
                    e.get_ref(),
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
            );
        }
        stages.push(Stage {
            name: s.name.get_ref().clone(),
            run: s.run.as_ref().map(|r| r.get_ref().clone()).or(handover),
            needs: s.needs.iter().map(|n| n.get_ref().clone()).collect(),
            matrix,
            env: p.env.iter().chain(s.env.iter()).map(|(k, v)| (k.clone(), v.clone())).collect(),
            cwd: s.cwd.as_ref().map(|c| pipeline_cwd.join(c)).unwrap_or_else(|| pipeline_cwd.clone()),
            timeout: duration_field(rep, s.timeout.as_ref(), &format!("{skey}.timeout")),
            retries: s.retries,
            allow_failure: s.allow_failure,
            reports: s.reports.clone(),
            reports_may_predate: s.reports_may_predate,
            environment: s.environment.as_ref().map(|e| e.get_ref().clone()),
            gate,
        });
    }

    if rep.diagnostics.len() > errors_before {
        return None;
    }
    match topo_order(&stages) {
        Ok(order) => {
            let environments = match &p.environment {
                Some(e) => vec![e.get_ref().clone()],
                None => {
                    let mut envs: Vec<String> = order.iter().filter_map(|s| s.environment.clone()).collect();
                    envs.sort();
                    envs.dedup();
                    envs
                }
            };
            Some(Pipeline { name: name.to_string(), description: p.description.clone(), environments, stages: order })
        }
        Err(cycle) => {
            let at = p.stages.iter().find(|s| s.name.get_ref() == &cycle[0]).map(|s| s.name.span());
            rep.error(at, format!("{key}.stages"), format!("the stages' needs form a cycle: {}", cycle.join(" → ")));
            None
        }
    }
}

/// Orders stages so that every stage comes after what it needs, keeping the file order otherwise.
/// On a cycle, returns the stages on it.
pub(super) fn topo_order(stages: &[Stage]) -> Result<Vec<Stage>, Vec<String>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(stages.len());
    while order.len() < stages.len() {
        let next = stages.iter().find(|s| !done.contains(s.name.as_str()) && s.needs.iter().all(|n| done.contains(n.as_str())));
        match next {
            Some(s) => {
                done.insert(&s.name);
                order.push(s.clone());
            }
            None => return Err(find_cycle(stages, &done)),
        }
    }
    Ok(order)
}

pub(super) fn find_cycle(stages: &[Stage], done: &BTreeSet<&str>) -> Vec<String> {
    let by_name: BTreeMap<&str, &Stage> = stages.iter().map(|s| (s.name.as_str(), s)).collect();
    let Some(start) = stages.iter().find(|s| !done.contains(s.name.as_str())) else {
        return Vec::new();
    };
    let mut path: Vec<String> = vec![start.name.clone()];
    let mut cur = start;
    loop {
        let Some(next) = cur.needs.iter().find(|n| !done.contains(n.as_str())).and_then(|n| by_name.get(n.as_str())) else {
            return path;
        };
        if let Some(pos) = path.iter().position(|p| p == &next.name) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(next.name.clone());
            return cycle;
        }
        path.push(next.name.clone());
        cur = next;
    }
}
