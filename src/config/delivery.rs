//! Delivery as configured: Prometheus sources, analysed services, NGINX rollouts.

use super::*;

/// Prometheus sources, CloudWatch sources, and analysed services (each with its source's name).
pub(super) type Metrics = (
    BTreeMap<String, crate::metrics::Source>,
    BTreeMap<String, crate::metrics::cloudwatch::CloudWatch>,
    BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
);

pub(super) fn build_metrics(rep: &mut Reporter<'_>, raw: &RawConfig, base_dir: &Path) -> Metrics {
    use crate::metrics::analysis::{DEFAULT_REQUESTS_QUERY, builtin, default_metrics, default_metrics_from};
    use crate::metrics::{AnalysisSpec, Auth, MetricSpec, Secret, ServiceSpec, Source};
    let mut sources = BTreeMap::new();
    for (name, p) in &raw.prometheus {
        let key = format!("prometheus.{name}");
        let r = p.get_ref();
        let timeout = r.timeout.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            rep.error(Some(p.span()), format!("{key}.timeout"), e);
            None
        });
        let auth = match (&r.bearer_token_env, &r.bearer_token_file, &r.basic_auth) {
            (Some(v), None, None) => Auth::Bearer(Secret::Env(v.clone())),
            (None, Some(f), None) => Auth::Bearer(Secret::File(base_dir.join(f))),
            (None, None, Some(b)) => match (&b.password_env, &b.password_file) {
                (Some(v), None) => Auth::Basic { username: b.username.clone(), password: Secret::Env(v.clone()) },
                (None, Some(f)) => Auth::Basic { username: b.username.clone(), password: Secret::File(base_dir.join(f)) },
                _ => {
                    rep.error(Some(p.span()), format!("{key}.basic_auth"), "give exactly one of password_env or password_file");
                    Auth::None
                }
            },
            (None, None, None) => Auth::None,
            _ => {
                rep.error(Some(p.span()), &key, "choose one way to authenticate: bearer_token_env, bearer_token_file or basic_auth");
                Auth::None
            }
        };
        if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
            rep.error(Some(p.span()), format!("{key}.url"), format!("`{}` is not an http(s) URL", r.url));
        }
        sources.insert(
            name.clone(),
            Source {
                name: name.clone(),
                url: r.url.clone(),
                timeout: timeout.unwrap_or(std::time::Duration::from_secs(10)),
                auth,
                headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ca_file: r.ca_file.as_ref().map(|f| base_dir.join(f)),
                insecure: r.insecure,
                max_response_bytes: r.max_response_bytes.unwrap_or(crate::metrics::DEFAULT_MAX_RESPONSE_BYTES),
            },
        );
    }
    let cloudwatch = super::cloudwatch::build(rep, &raw.cloudwatch, &sources);
    let mut services = BTreeMap::new();
    for (name, sv) in &raw.services {
        let key = format!("services.{name}");
        let r = sv.get_ref();
        let (source, in_cloudwatch) = match (&r.prometheus, &r.cloudwatch) {
            (Some(_), Some(c)) => {
                rep.error(Some(c.span()), format!("{key}.cloudwatch"), "measure a service in Prometheus or in CloudWatch, not both");
                continue;
            }
            (None, Some(c)) if cloudwatch.contains_key(c.get_ref()) => (c.get_ref().clone(), true),
            (None, Some(c)) => {
                rep.error(Some(c.span()), format!("{key}.cloudwatch"), format!("no [cloudwatch.{}] is declared", c.get_ref()));
                continue;
            }
            (Some(p), None) if sources.contains_key(p.get_ref()) => (p.get_ref().clone(), false),
            (Some(p), None) => {
                rep.error(Some(p.span()), format!("{key}.prometheus"), format!("no [prometheus.{}] is declared", p.get_ref()));
                continue;
            }
            (None, None) if sources.len() == 1 => (sources.keys().next().cloned().unwrap_or_default(), false),
            (None, None) if sources.is_empty() && cloudwatch.len() == 1 => (cloudwatch.keys().next().cloned().unwrap_or_default(), true),
            (None, None) => {
                rep.error(
                    Some(sv.span()),
                    format!("{key}.prometheus"),
                    "name the [prometheus.NAME] or [cloudwatch.NAME] source to ask (there is not exactly one)",
                );
                continue;
            }
        };
        let builtin = |q: &str| if in_cloudwatch { crate::metrics::cloudwatch::builtin(q) } else { builtin(q) };
        let a = &r.analysis;
        let interval = a.interval.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            rep.error(Some(sv.span()), format!("{key}.analysis.interval"), e);
            None
        });
        let mut metrics = Vec::new();
        for m in &a.metrics {
            let (query, unit, worse) = match builtin(&m.query) {
                Some((q, u, w)) => (q.to_string(), u.to_string(), w),
                // A custom metric bounded only from below (a success ratio) is better when higher.
                None => (m.query.clone(), String::new(), !(m.min.is_some() && m.max.is_none())),
            };
            metrics.push(MetricSpec {
                name: m.name.clone(),
                query,
                max: m.max,
                min: m.min,
                max_ratio: m.max_ratio,
                higher_is_worse: m.higher_is_worse.unwrap_or(worse),
                unit: m.unit.clone().unwrap_or(unit),
                weight: m.weight.unwrap_or(1.0),
                critical: m.critical,
                dry_run: m.dry_run,
            });
        }
        if metrics.is_empty() {
            metrics = if in_cloudwatch { default_metrics_from(crate::metrics::cloudwatch::builtin) } else { default_metrics() };
        }
        if !in_cloudwatch && (r.canary.trim().is_empty() || r.stable.trim().is_empty()) {
            rep.error(Some(sv.span()), format!("{key}.canary"), "give the label matchers that select the canary and the stable version");
        }
        let alpha = a.mann_whitney_alpha.unwrap_or(0.05);
        // What Argo Rollouts validates in an AnalysisTemplate, and a little more: a setting that
        // would make the verdict meaningless is an error, not a surprise at 3 a.m.
        // CloudWatch's statistics are per period: the window is the interval.
        let window = match (&r.window, in_cloudwatch) {
            (Some(_), true) => {
                rep.error(Some(sv.span()), format!("{key}.window"), "CloudWatch measures per period: set analysis.interval, not window");
                a.interval.clone().unwrap_or_else(|| "1m".into())
            }
            (None, true) => a.interval.clone().unwrap_or_else(|| "1m".into()),
            (w, false) => w.clone().unwrap_or_else(|| "1m".into()),
        };
        if let Err(e) = parse_duration(&window) {
            rep.error(Some(sv.span()), format!("{key}.window"), format!("`{window}` is not a duration: {e}"));
        }
        if !(0.0..1.0).contains(&alpha) {
            rep.error(Some(sv.span()), format!("{key}.analysis.mann_whitney_alpha"), format!("{alpha} is not between 0 (off) and 1"));
        }
        // A minute's statistic is already independent of the next: ten of them judge as well as
        // forty overlapping 15 s windows of Prometheus.
        let count = a.count.unwrap_or(if in_cloudwatch { 10 } else { crate::metrics::analysis::DEFAULT_COUNT });
        let failure_limit = a.failure_limit.unwrap_or(0);
        if count == 0 {
            rep.error(Some(sv.span()), format!("{key}.analysis.count"), "count must be at least 1");
        } else if count <= failure_limit {
            rep.error(
                Some(sv.span()),
                format!("{key}.analysis.count"),
                format!("count {count} is not above failure_limit {failure_limit}: the analysis could never fail"),
            );
        }
        for m in &a.metrics {
            if let (Some(min), Some(max)) = (m.min, m.max)
                && min > max
            {
                rep.error(Some(sv.span()), format!("{key}.analysis.metrics.{}", m.name), format!("min {min} is above max {max}"));
            }
            if m.weight.is_some_and(|w| !(w > 0.0 && w.is_finite())) {
                let why = "weight must be a positive number (use dry_run = true to mute a metric)";
                rep.error(Some(sv.span()), format!("{key}.analysis.metrics.{}.weight", m.name), why);
            }
            if m.max_ratio.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                rep.error(Some(sv.span()), format!("{key}.analysis.metrics.{}.max_ratio", m.name), "max_ratio must be a positive number");
            }
        }
        let initial_delay = a.initial_delay.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            rep.error(Some(sv.span()), format!("{key}.analysis.initial_delay"), e);
            None
        });
        let (pass_score, marginal_score) = (a.pass_score.unwrap_or(95.0), a.marginal_score.unwrap_or(75.0));
        if !(0.0..=100.0).contains(&pass_score) || !(0.0..=100.0).contains(&marginal_score) || marginal_score > pass_score {
            rep.error(
                Some(sv.span()),
                format!("{key}.analysis.pass_score"),
                format!("scores must satisfy 0 ≤ marginal_score ({marginal_score}) ≤ pass_score ({pass_score}) ≤ 100"),
            );
        }
        let spec = ServiceSpec {
            name: name.clone(),
            namespace: r.namespace.clone(),
            canary: r.canary.clone(),
            stable: r.stable.clone(),
            window,
            requests_query: r.requests_query.clone().unwrap_or_else(|| {
                if in_cloudwatch { crate::metrics::cloudwatch::DEFAULT_REQUESTS.into() } else { DEFAULT_REQUESTS_QUERY.into() }
            }),
            analysis: AnalysisSpec {
                interval: interval.unwrap_or(std::time::Duration::from_secs(if in_cloudwatch { 60 } else { 15 })),
                count: count.max(1),
                failure_limit: a.failure_limit.unwrap_or(0),
                inconclusive_limit: a.inconclusive_limit.unwrap_or(1),
                min_requests: a.min_requests.unwrap_or(1.0),
                alpha: (alpha > 0.0).then_some(alpha),
                metrics,
                alert_matchers: a.alerts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                alerts_gate: a.alerts_gate,
                since: None,
                judge_from: None,
                initial_delay: initial_delay.unwrap_or_default(),
                consecutive_error_limit: a.consecutive_error_limit.unwrap_or(4),
                pass_score,
                marginal_score,
            },
        };
        if in_cloudwatch {
            super::cloudwatch::check_service(rep, Some(sv.span()), &key, &spec, !a.alerts.is_empty() || a.alerts_gate);
        }
        services.insert(name.clone(), (source, spec));
    }
    (sources, cloudwatch, services)
}

/// NGINX canaries: steps, where the upstream lives, how to validate and reload.
pub(super) fn build_rollouts(
    rep: &mut Reporter<'_>,
    raw: &RawConfig,
    base_dir: &Path,
    environments: &BTreeMap<String, Environment>,
    services: &BTreeMap<String, (String, crate::metrics::ServiceSpec)>,
) -> BTreeMap<String, crate::rollout::RolloutSpec> {
    use crate::rollout::{NginxSpec, OnFailure, RolloutSpec, Step};
    let mut out = BTreeMap::new();
    for (name, r) in &raw.rollouts {
        let key = format!("rollouts.{name}");
        let span = Some(r.span());
        let r = r.get_ref();
        if let Some(env) = &r.environment
            && !environments.contains_key(env)
        {
            rep.error(span.clone(), format!("{key}.environment"), format!("no [environments.{env}] is defined"));
        }
        let service = match &r.service {
            Some(s) if !services.contains_key(s) => {
                rep.error(span.clone(), format!("{key}.service"), format!("no [services.{s}] is defined"));
                None
            }
            Some(s) => Some(s.clone()),
            None => services.contains_key(name).then(|| name.clone()),
        };
        let mut steps = Vec::new();
        for (i, st) in r.steps.iter().enumerate() {
            let k = format!("{key}.steps[{i}]");
            let s = st.get_ref();
            let timed = |t: &crate::config::schema::RawTimed, rep: &mut Reporter<'_>| {
                t.duration.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
                    rep.error(Some(st.span()), format!("{k}.duration"), e);
                    None
                })
            };
            match (s.set_weight, &s.pause, &s.analysis) {
                (Some(w), None, None) if w <= 100 => steps.push(Step::SetWeight(w)),
                (Some(w), None, None) => rep.error(Some(st.span()), format!("{k}.set_weight"), format!("{w} is not a percentage (0–100)")),
                (None, Some(p), None) => steps.push(Step::Pause(timed(p, rep))),
                (None, None, Some(a)) => match timed(a, rep) {
                    Some(d) => steps.push(Step::Analysis(d)),
                    None => {
                        rep.error(Some(st.span()), format!("{k}.analysis"), "an analysis step needs a duration, e.g. { duration = \"1m\" }")
                    }
                },
                _ => {
                    rep.error(Some(st.span()), &k, "each step is exactly one of set_weight = N, pause = {…} or analysis = { duration = … }")
                }
            }
        }
        if steps.iter().any(|s| matches!(s, Step::Analysis(_))) && service.is_none() {
            rep.error(span.clone(), format!("{key}.service"), "analysis steps need an analysed service ([services.NAME])");
        }
        let on_failure = match r.on_failure.as_deref() {
            None | Some("abort") => OnFailure::Abort,
            Some("pause") => OnFailure::Pause,
            Some(o) => {
                rep.error(span.clone(), format!("{key}.on_failure"), format!("`{o}`: use abort or pause"));
                OnFailure::Abort
            }
        };
        let n = &r.nginx;
        if n.stable.is_empty() || n.canary.is_empty() {
            rep.error(span.clone(), format!("{key}.nginx"), "give at least one stable and one canary server address");
        }
        if let Some(dup) = n.stable.iter().find(|a| n.canary.contains(a)) {
            rep.error(span.clone(), format!("{key}.nginx"), format!("{dup} is both a stable and a canary server"));
        }
        let conf = n.conf.as_ref().map(|c| base_dir.join(c));
        // A bare name is looked up when it runs (also in the sbin directories): loading the
        // configuration touches nothing outside it.
        let binary = n.binary.clone().unwrap_or_else(|| "nginx".into());
        let with_conf = |mut args: Vec<String>| {
            if let Some(c) = &conf {
                args.extend(["-c".to_string(), c.display().to_string()]);
            }
            args
        };
        let pid_file = n.pid_file.as_ref().map(|p| base_dir.join(p));
        out.insert(
            name.clone(),
            RolloutSpec {
                name: name.clone(),
                environment: r.environment.clone(),
                service,
                steps,
                on_failure,
                background_analysis: r.background_analysis,
                nginx: NginxSpec {
                    include: base_dir.join(&n.include),
                    upstream: n.upstream.clone(),
                    stable: n.stable.clone(),
                    canary: n.canary.clone(),
                    validate: n.validate.clone().unwrap_or_else(|| with_conf(vec![binary.clone(), "-t".into(), "-q".into()])),
                    reload: n.reload.clone().unwrap_or_else(|| with_conf(vec![binary.clone(), "-s".into(), "reload".into()])),
                    pid_file,
                    conf,
                },
            },
        );
    }
    out
}
