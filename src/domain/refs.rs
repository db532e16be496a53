//! Provider-neutral references. A run or a rollout is named by the provider instance that owns it
//! and that provider's own id, with one text form for the command line and the journal:
//! `local:42`, `gh:owner/repo:123`, `nginx:payments-api`, `argo:prod-eu/shop/api`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The built-in local runner's provider name.
pub const LOCAL: &str = "local";

/// A run of some CI provider.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunRef {
    /// The provider instance (`local`, `gh`, …); empty when the user typed a bare id that is not
    /// resolved yet (see `ci::Registry::resolve`).
    pub provider: String,
    /// The provider's own id, opaque to everything but the provider.
    pub id: String,
}

impl RunRef {
    pub fn new(provider: impl Into<String>, id: impl Into<String>) -> RunRef {
        RunRef { provider: provider.into(), id: id.into() }
    }

    /// Run number `n` of the local runner.
    pub fn local(n: u64) -> RunRef {
        RunRef::new(LOCAL, n.to_string())
    }

    /// The local runner's number for this run, when it is one of the local runner's.
    pub fn local_number(&self) -> Option<u64> {
        if self.provider == LOCAL { self.id.parse().ok() } else { None }
    }

    pub fn is_resolved(&self) -> bool {
        !self.provider.is_empty()
    }

    /// At most `max` characters for a list: the text form when it fits, else the provider and the
    /// end of the id (a build's or an execution's id differs at its end; the list shows its
    /// pipeline beside it).
    pub fn label(&self, max: usize) -> String {
        let text = self.to_string();
        let chars = text.chars().count();
        if chars <= max || self.provider.is_empty() {
            return text;
        }
        let keep = max.saturating_sub(self.provider.chars().count() + 2).max(4);
        let tail: String = self.id.chars().skip(self.id.chars().count().saturating_sub(keep)).collect();
        format!("{}:…{tail}", self.provider)
    }

    /// The one text form, as the command line takes it and the journal records it.
    pub fn text(&self) -> String {
        if self.provider.is_empty() { self.id.clone() } else { format!("{}:{}", self.provider, self.id) }
    }
}

/// How people read it: the local runner's runs by their number (as in `run #42`), other
/// providers' runs in the full text form.
impl fmt::Display for RunRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local_number() {
            Some(n) => f.pad(&n.to_string()),
            None => f.pad(&self.text()),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a run: give its number (42), or provider:id (local:42, gh:owner/repo:123)")]
pub struct BadRunRef(pub String);

/// `local:42`, `gh:owner/repo:123`; a bare `42` or `#42` is left for the registry to resolve.
impl FromStr for RunRef {
    type Err = BadRunRef;
    fn from_str(text: &str) -> Result<RunRef, BadRunRef> {
        let t = text.trim();
        let bad = || BadRunRef(text.to_string());
        // A reference can come from outside (an annotation on a cluster object): nothing in it may
        // steer the terminal or reorder what is shown around it.
        if t.is_empty() || t.chars().any(|c| c.is_whitespace() || crate::logstore::sanitize::is_dangerous(c)) {
            return Err(bad());
        }
        match t.split_once(':') {
            Some((provider, id)) => {
                let named = !provider.is_empty() && provider.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !named || id.is_empty() {
                    return Err(bad());
                }
                Ok(RunRef::new(provider, id))
            }
            None => Ok(RunRef::new("", t.trim_start_matches('#'))),
        }
    }
}

impl Serialize for RunRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

/// Accepts the text form, and the bare numbers that the local runner wrote before runs had a
/// provider (run history, rollout records and journal parameters keep working).
impl<'de> Deserialize<'de> for RunRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RunRef, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RunRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a run number or provider:id")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RunRef, E> {
                Ok(RunRef::local(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RunRef, E> {
                u64::try_from(n).map(RunRef::local).map_err(|_| E::custom(format!("{n} is not a run number")))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RunRef, E> {
                let r: RunRef = s.parse().map_err(E::custom)?;
                // Stored references are always complete; a bare number is the local runner's.
                Ok(if r.is_resolved() { r } else { RunRef::new(LOCAL, r.id) })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A progressive delivery of some rollout provider: `nginx:payments-api` (an NGINX canary of
/// the configuration), `argo:prod-eu/shop/api` (an Argo Rollout: kubeconfig context, namespace,
/// name). The scope is whatever the provider needs to find it (empty for NGINX).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RolloutRef {
    pub provider: String,
    pub scope: String,
    pub name: String,
}

/// The NGINX canary provider's name.
pub const NGINX: &str = "nginx";
/// The Argo Rollouts provider's name.
pub const ARGO: &str = "argo";

impl RolloutRef {
    pub fn nginx(name: impl Into<String>) -> RolloutRef {
        RolloutRef { provider: NGINX.into(), scope: String::new(), name: name.into() }
    }

    /// An Argo Rollout; `context` empty means the configured (or current) one.
    pub fn argo(context: impl Into<String>, namespace: &str, name: &str) -> RolloutRef {
        RolloutRef { provider: ARGO.into(), scope: format!("{}/{namespace}", context.into()), name: name.into() }
    }

    /// The Argo Rollout's (context, namespace), when it is one.
    pub fn argo_scope(&self) -> Option<(&str, &str)> {
        if self.provider == ARGO { self.scope.split_once('/') } else { None }
    }

    /// The name people use within its provider: `payments-api`, `shop/api` (an Argo Rollout's
    /// namespace and name). Typed confirmations ask for it.
    pub fn short(&self) -> String {
        match self.scope.rsplit('/').next().filter(|last| !last.is_empty()) {
            Some(last) => format!("{last}/{}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn text(&self) -> String {
        if self.scope.is_empty() {
            format!("{}:{}", self.provider, self.name)
        } else {
            format!("{}:{}/{}", self.provider, self.scope, self.name)
        }
    }
}

impl fmt::Display for RolloutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a rollout: give NAME (an NGINX canary), NAMESPACE/NAME (an Argo Rollout), or nginx:NAME, argo:CONTEXT/NAMESPACE/NAME"
)]
pub struct BadRolloutRef(pub String);

/// The full forms, and the short ones people type: `NAME` is an NGINX canary, `NAMESPACE/NAME`
/// an Argo Rollout in the configured context.
impl FromStr for RolloutRef {
    type Err = BadRolloutRef;
    fn from_str(text: &str) -> Result<RolloutRef, BadRolloutRef> {
        let t = text.trim();
        let bad = || BadRolloutRef(text.to_string());
        // Kubernetes and configuration names: they start with a letter or digit (so never `..`).
        let part_ok = |p: &str| {
            p.starts_with(|c: char| c.is_ascii_alphanumeric()) && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let (provider, rest) = match t.split_once(':') {
            Some((p, rest)) => (Some(p), rest),
            None => (None, t),
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match (provider, parts.as_slice()) {
            (None | Some(NGINX), [name]) if part_ok(name) => Ok(RolloutRef::nginx(*name)),
            (None, [ns, name]) if part_ok(ns) && part_ok(name) => Ok(RolloutRef::argo("", ns, name)),
            (Some(ARGO), [ctx, ns, name]) if part_ok(ctx) && part_ok(ns) && part_ok(name) => Ok(RolloutRef::argo(*ctx, ns, name)),
            (Some(ARGO), [ns, name]) if part_ok(ns) && part_ok(name) => Ok(RolloutRef::argo("", ns, name)),
            // Any other provider: its scope, then the name.
            (Some(p), [scope @ .., name])
                if ![NGINX, ARGO].contains(&p)
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    && !p.is_empty()
                    && scope.iter().chain([name]).all(|s| part_ok(s)) =>
            {
                Ok(RolloutRef { provider: p.to_string(), scope: scope.join("/"), name: name.to_string() })
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reference_keeps_its_provider_and_the_end_of_its_id_in_a_list() {
        assert_eq!(RunRef::local(42).label(18), "42");
        assert_eq!(RunRef::new("gh", "o/r:123").label(18), "gh:o/r:123");
        let build = RunRef::new("gcb", "us-central1/888d91be-36ce-4ee2-9db2-32a2cc8c42af");
        assert_eq!(build.label(18), "gcb:…-32a2cc8c42af");
        assert_eq!(build.label(18).chars().count(), 18);
    }

    #[test]
    fn text_forms_round_trip() {
        for text in ["local:42", "gh:owner/repo:123", "cloudbuild:proj/us-central1:abc-1"] {
            let r: RunRef = text.parse().unwrap();
            assert_eq!(r.text(), text);
            assert_eq!(serde_json::from_str::<RunRef>(&serde_json::to_string(&r).unwrap()).unwrap(), r);
        }
        let gh: RunRef = "gh:owner/repo:123".parse().unwrap();
        assert_eq!((gh.provider.as_str(), gh.id.as_str()), ("gh", "owner/repo:123"));
        assert_eq!(gh.to_string(), "gh:owner/repo:123");
        assert_eq!(RunRef::local(42).to_string(), "42");
        assert_eq!(format!("{:<4}|", RunRef::local(7)), "7   |");
    }

    #[test]
    fn bare_numbers_wait_for_resolution_and_old_records_read_as_local() {
        let r: RunRef = "#42".parse().unwrap();
        assert!(!r.is_resolved());
        assert_eq!(r.id, "42");
        assert_eq!(serde_json::from_str::<RunRef>("42").unwrap(), RunRef::local(42));
        assert_eq!(serde_json::from_str::<RunRef>("\"42\"").unwrap(), RunRef::local(42));
        assert!(serde_json::from_str::<RunRef>("-1").is_err());
    }

    #[test]
    fn rollout_references_in_full_and_short() {
        let a: RolloutRef = "argo:prod-eu/shop/api".parse().unwrap();
        assert_eq!((a.argo_scope(), a.name.as_str()), (Some(("prod-eu", "shop")), "api"));
        assert_eq!(a.text(), "argo:prod-eu/shop/api");
        let short: RolloutRef = "shop/api".parse().unwrap();
        assert_eq!(short.argo_scope(), Some(("", "shop")));
        assert_eq!("payments-api".parse::<RolloutRef>().unwrap(), RolloutRef::nginx("payments-api"));
        assert_eq!("nginx:payments-api".parse::<RolloutRef>().unwrap().text(), "nginx:payments-api");
        let other: RolloutRef = "ecs:prod/payments".parse().unwrap();
        assert_eq!((other.provider.as_str(), other.scope.as_str(), other.name.as_str()), ("ecs", "prod", "payments"));
        assert_eq!((other.text(), other.short()), ("ecs:prod/payments".to_string(), "prod/payments".to_string()));
        assert_eq!(a.short(), "shop/api");
        for bad in ["", "gh:", "g h:x", "ecs:a/../b", "argo:a/b/c/d", "nginx:a/b", "a b", "../etc", "argo:ctx//x"] {
            assert!(bad.parse::<RolloutRef>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", ":42", "local:", "lo cal:1", "a\u{1b}[2J:1", "gh/x:1", "gh:acme/shop:1\u{202e}", "local:4\u{9b}2"] {
            assert!(bad.parse::<RunRef>().is_err(), "{bad:?}");
        }
    }
}
