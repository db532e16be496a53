//! The policy as configured: environments, approvers, four-eyes, freezes, the release gate.

use super::*;

/// Turns `[environments.*]` and `[groups]` into the policy, reporting every bad value.
pub(super) fn build_policy(rep: &mut Reporter<'_>, raw: &RawConfig, base_dir: &std::path::Path) -> Policy {
    let mut policy = Policy { groups: raw.groups.clone(), ..Policy::default() };
    for (name, env) in &raw.environments {
        let key = format!("environments.{name}");
        let mut tiers = BTreeMap::new();
        for (kind, tier) in &env.confirm {
            let Some(k) = ActionKind::from_name(kind) else {
                let known: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
                rep.error(Some(tier.span()), format!("{key}.confirm.{kind}"), format!("unknown action (known: {})", known.join(", ")));
                continue;
            };
            match Tier::parse(tier.get_ref()) {
                Some(t) => {
                    tiers.insert(k, t);
                }
                None => rep.error(
                    Some(tier.span()),
                    format!("{key}.confirm.{kind}"),
                    format!("`{}` is not a tier (none, yes-no, dialog, typed)", tier.get_ref()),
                ),
            }
        }
        for a in &env.approvers {
            if let Some(g) = a.get_ref().strip_prefix("group:")
                && !raw.groups.contains_key(g)
                && !matches!(nix::unistd::Group::from_name(g), Ok(Some(_)))
            {
                rep.error(
                    Some(a.span()),
                    format!("{key}.approvers"),
                    format!("group `{g}` is neither declared under [groups] nor an operating-system group"),
                );
            }
        }
        let mut freezes = Vec::new();
        for (i, f) in env.freeze.iter().enumerate() {
            let fkey = format!("{key}.freeze[{i}]");
            match build_freeze(f.get_ref()) {
                Ok(fr) => freezes.push(fr),
                Err(e) => rep.error(Some(f.span()), fkey, e),
            }
        }
        let security = {
            let raw_sec = env.security.as_ref();
            let max_allowed = match raw_sec.and_then(|s| s.max_severity.as_ref()) {
                // `none`: nothing above INFO gets through.
                Some(m) if m.get_ref() == "none" => Some(crate::findings::Severity::Info),
                Some(m) => match crate::findings::Severity::parse(m.get_ref()) {
                    Some(s) => Some(s),
                    None => {
                        rep.error(
                            Some(m.span()),
                            format!("{key}.security.max_severity"),
                            format!("`{}` is not a severity (critical, high, medium, low, info, none)", m.get_ref()),
                        );
                        None
                    }
                },
                None if env.production => Some(crate::findings::Severity::Medium),
                None => None,
            };
            let max_licence = raw_sec.and_then(|s| s.max_licence_severity.as_ref()).and_then(|m| {
                let parsed = crate::findings::Severity::parse(m.get_ref());
                if parsed.is_none() {
                    rep.error(
                        Some(m.span()),
                        format!("{key}.security.max_licence_severity"),
                        format!("`{}` is not a severity (critical, high, medium, low, info)", m.get_ref()),
                    );
                }
                parsed
            });
            let tests_must_pass = pass_rule(rep, raw_sec.and_then(|s| s.tests.as_ref()), format!("{key}.security.tests"), "tests rule");
            let min_coverage = percent(rep, raw_sec.and_then(|s| s.min_coverage.as_ref()), format!("{key}.security.min_coverage"));
            let load_must_pass = pass_rule(rep, raw_sec.and_then(|s| s.load.as_ref()), format!("{key}.security.load"), "load rule");
            let mut limit = |field: Option<&toml::Spanned<f64>>, name: &str, max: f64| {
                let m = field?;
                let v = *m.get_ref();
                if !(0.0..=max).contains(&v) {
                    rep.error(Some(m.span()), format!("{key}.security.{name}"), format!("`{v}` is out of range (0 to {max})"));
                    return None;
                }
                Some(v)
            };
            let load_limits = crate::findings::LoadLimits {
                max_p95_ms: limit(raw_sec.and_then(|s| s.load_max_p95_ms.as_ref()), "load_max_p95_ms", 3_600_000.0),
                max_failure_ratio: limit(raw_sec.and_then(|s| s.load_max_failed_percent.as_ref()), "load_max_failed_percent", 100.0)
                    .map(|p| p / 100.0),
                min_rps: limit(raw_sec.and_then(|s| s.load_min_rps.as_ref()), "load_min_rps", 1e9),
            };
            let max_dast = raw_sec.and_then(|s| s.max_dast_risk.as_ref()).and_then(|m| {
                let parsed = crate::findings::Severity::parse(m.get_ref()).filter(|s| *s != crate::findings::Severity::Critical);
                if parsed.is_none() {
                    rep.error(
                        Some(m.span()),
                        format!("{key}.security.max_dast_risk"),
                        format!("`{}` is not a ZAP risk (high, medium, low, info)", m.get_ref()),
                    );
                }
                parsed
            });
            let quality_gate_must_pass =
                pass_rule(rep, raw_sec.and_then(|s| s.quality_gate.as_ref()), format!("{key}.security.quality_gate"), "quality gate rule");
            // The key is read now: a gate that cannot verify must be known before an approval.
            let signed_by = raw_sec.and_then(|s| s.signed_by.as_ref()).and_then(|k| {
                let path = base_dir.join(k.get_ref());
                let read = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    .and_then(|pem| crate::findings::signature::TrustedKey::from_pem(k.get_ref(), &pem));
                read.map_err(|e| rep.error(Some(k.span()), format!("{key}.security.signed_by"), e)).ok()
            });
            let sbom_attested = raw_sec.is_some_and(|s| s.sbom_attested);
            if sbom_attested && signed_by.is_none() {
                rep.error(
                    None,
                    format!("{key}.security.sbom_attested"),
                    "needs `signed_by`: the attestation must be signed by a trusted key",
                );
            }
            let min_changed_coverage =
                percent(rep, raw_sec.and_then(|s| s.min_changed_coverage.as_ref()), format!("{key}.security.min_changed_coverage"));
            crate::findings::GatePolicy {
                min_changed_coverage,
                signed_by,
                sbom_attested,
                quality_gate_must_pass,
                environment: name.clone(),
                load_must_pass,
                load_limits,
                max_dast,
                min_coverage,
                max_allowed,
                fixable_only: raw_sec.is_some_and(|s| s.fixable_only),
                break_glass: raw_sec.is_some_and(|s| s.break_glass),
                max_licence,
                tests_must_pass,
            }
        };
        policy.environments.insert(
            name.clone(),
            EnvPolicy {
                security,
                name: name.clone(),
                production: env.production,
                read_only: env.read_only,
                four_eyes: env.four_eyes.unwrap_or(env.production),
                approvers: env.approvers.iter().map(|a| a.get_ref().clone()).collect(),
                break_glass: env.break_glass.unwrap_or(true),
                tiers,
                freezes,
            },
        );
    }
    policy
}

pub(super) fn build_freeze(f: &schema::RawFreeze) -> Result<Freeze, String> {
    use crate::policy::FreezeWindowParse as P;
    let tz_name = f.timezone.clone().unwrap_or_else(|| "UTC".into());
    let tz =
        jiff::tz::TimeZone::get(&tz_name).map_err(|_| format!("unknown time zone `{tz_name}` (use an IANA name such as Europe/Berlin)"))?;
    let window = match (&f.start, &f.end, f.days.is_empty()) {
        (Some(s), Some(e), true) => {
            let (start, end) = (P::bound(s, false)?, P::bound(e, true)?);
            if end < start {
                return Err(format!("`end` ({e}) is before `start` ({s})"));
            }
            FreezeWindow::Period { start, end }
        }
        (None, None, false) => {
            let days = f
                .days
                .iter()
                .map(|d| P::weekday(d).ok_or_else(|| format!("`{d}` is not a weekday (mon … sun)")))
                .collect::<Result<Vec<_>, _>>()?;
            let from = P::time(f.from.as_deref().unwrap_or("00:00"))?;
            let to = P::time(f.to.as_deref().unwrap_or("24:00"))?;
            FreezeWindow::Weekly { days, from, to }
        }
        _ => return Err("a freeze needs either `days` (with optional `from`/`to`) or both `start` and `end`".into()),
    };
    Ok(Freeze { reason: f.reason.clone(), tz_name, tz, window })
}

/// A rule that is either `"pass"` or not set; anything else is reported.
fn pass_rule(rep: &mut Reporter<'_>, field: Option<&toml::Spanned<String>>, path: String, what: &str) -> bool {
    match field {
        Some(t) if t.get_ref() == "pass" => true,
        Some(t) => {
            rep.error(Some(t.span()), path, format!("`{}` is not a {what} (\"pass\")", t.get_ref()));
            false
        }
        None => false,
    }
}

/// A percentage (0 to 100), kept in hundredths of a percent.
fn percent(rep: &mut Reporter<'_>, field: Option<&toml::Spanned<f64>>, path: String) -> Option<u32> {
    let m = field?;
    let v = *m.get_ref();
    if !(0.0..=100.0).contains(&v) {
        rep.error(Some(m.span()), path, format!("`{v}` is not a percentage (0 to 100)"));
        return None;
    }
    Some((v * 100.0).round() as u32)
}
