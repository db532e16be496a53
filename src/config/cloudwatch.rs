//! `[cloudwatch.NAME]`: CloudWatch as a source of canary measurements, for services whose latency
//! and errors are in CloudWatch (behind an Application Load Balancer, say) rather than Prometheus.

use serde::Deserialize;

use super::*;
use crate::metrics::cloudwatch::CloudWatch;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloudWatch {
    /// None: `AWS_REGION`, as the AWS CLI.
    pub region: Option<String>,
    /// A profile of the shared AWS config and credentials files.
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// One deadline for all of an analysis' requests (default 20s).
    pub timeout: Option<String>,
}

pub(super) fn build(
    rep: &mut Reporter<'_>,
    raw: &BTreeMap<String, toml::Spanned<RawCloudWatch>>,
    prometheus: &BTreeMap<String, crate::metrics::Source>,
) -> BTreeMap<String, CloudWatch> {
    let mut out = BTreeMap::new();
    for (name, spanned) in raw {
        let key = format!("cloudwatch.{name}");
        let r = spanned.get_ref();
        if prometheus.contains_key(name) {
            rep.error(
                Some(spanned.span()),
                &key,
                format!("`{name}` names both a [prometheus.{name}] and a [cloudwatch.{name}]; give them different names"),
            );
        }
        let timeout = r.timeout.as_deref().map(parse_duration).transpose().unwrap_or_else(|e| {
            rep.error(Some(spanned.span()), format!("{key}.timeout"), e);
            None
        });
        if let Some(url) = &r.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            rep.error(Some(spanned.span()), format!("{key}.endpoint_url"), format!("`{url}` is not an http(s) URL"));
        }
        let timeout = timeout.unwrap_or(Duration::from_secs(20));
        out.insert(name.clone(), CloudWatch::new(name, r.region.clone(), r.profile.clone(), r.endpoint_url.clone(), timeout));
    }
    out
}

/// What is wrong with a service measured in CloudWatch, if anything: its period must be one
/// CloudWatch keeps (a multiple of a minute), and its metrics must be formulas it can fetch.
pub(super) fn check_service(
    rep: &mut Reporter<'_>,
    span: Option<std::ops::Range<usize>>,
    key: &str,
    spec: &crate::metrics::ServiceSpec,
    alerts: bool,
) {
    use crate::metrics::cloudwatch::{dimensions, parse};
    let every = spec.analysis.interval.as_secs();
    if every == 0 || !every.is_multiple_of(60) {
        let why = format!("{every}s is not a whole number of minutes: CloudWatch keeps standard metrics per minute (use 1m, 5m…)");
        rep.error(span.clone(), format!("{key}.analysis.interval"), why);
    }
    if let Err(e) = parse(&spec.requests_query) {
        rep.error(span.clone(), format!("{key}.requests_query"), e);
    }
    for m in &spec.analysis.metrics {
        if let Err(e) = parse(&m.query) {
            rep.error(span.clone(), format!("{key}.analysis.metrics.{}", m.name), e);
        }
    }
    // Empty sides are given by the ECS deployment that is judged by this service.
    for (side, selector) in [("canary", &spec.canary), ("stable", &spec.stable)] {
        if !selector.trim().is_empty()
            && let Err(e) = dimensions(selector)
        {
            rep.error(span.clone(), format!("{key}.{side}"), e);
        }
    }
    if alerts {
        let why = "alerts are Prometheus' (CloudWatch alarms that guard an ECS deployment are shown with it, from [ecs])";
        rep.error(span, format!("{key}.analysis.alerts"), why);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::metrics::Backend;

    fn problems(text: &str) -> String {
        match Config::parse(text, Some(std::path::Path::new("test.toml")), None) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    const SOURCE: &str = "[cloudwatch.prod]\nregion = \"eu-west-1\"\n";

    #[test]
    fn a_service_measured_in_cloudwatch_gets_the_load_balancer_metrics_by_default() {
        let config = Config::parse(&format!("{SOURCE}[services.pay]\n"), None, None).unwrap();
        let (source, spec) = config.canary_services().remove("pay").unwrap();
        assert!(matches!(source, Backend::CloudWatch(ref c) if c.region.as_deref() == Some("eu-west-1")));
        assert_eq!(spec.analysis.interval.as_secs(), 60);
        assert_eq!((spec.analysis.count, spec.window.as_str()), (10, "1m"));
        let queries: Vec<&str> = spec.analysis.metrics.iter().map(|m| m.query.as_str()).collect();
        assert_eq!(
            queries,
            [
                "AWS/ApplicationELB TargetResponseTime p99",
                "AWS/ApplicationELB HTTPCode_Target_5XX_Count Sum / AWS/ApplicationELB RequestCount Sum",
                "AWS/ApplicationELB RequestCount Sum per second"
            ]
        );
        assert_eq!(spec.requests_query, "AWS/ApplicationELB RequestCount Sum");
    }

    #[test]
    fn what_cloudwatch_cannot_measure_is_refused_with_why() {
        let seconds = problems(&format!("{SOURCE}[services.pay]\n[services.pay.analysis]\ninterval = \"15s\"\n"));
        assert!(seconds.contains("15s is not a whole number of minutes"), "{seconds}");
        let alerts = problems(&format!("{SOURCE}[services.pay]\n[services.pay.analysis]\nalerts = {{ service = \"pay\" }}\n"));
        assert!(alerts.contains("alerts are Prometheus'"), "{alerts}");
        let formula = problems(&format!(
            "{SOURCE}[services.pay]\n[[services.pay.analysis.metrics]]\nname = \"cpu\"\nquery = \"AWS/ECS CPUUtilization Median\"\n"
        ));
        assert!(formula.contains("`Median` is not a CloudWatch statistic"), "{formula}");
        let sides = problems(&format!("{SOURCE}[services.pay]\ncanary = \"green\"\n"));
        assert!(sides.contains("`green` is not `Name=Value`"), "{sides}");
        let both =
            problems(&format!("{SOURCE}[prometheus.prod]\nurl = \"http://127.0.0.1:9090\"\n[services.pay]\ncloudwatch = \"prod\"\n"));
        assert!(both.contains("names both a [prometheus.prod] and a [cloudwatch.prod]"), "{both}");
        let unlabelled = problems("[prometheus.p]\nurl = \"http://127.0.0.1:9090\"\n[services.pay]\n");
        assert!(unlabelled.contains("give the label matchers"), "{unlabelled}");
    }
}
