//! Who may do what, where, when, and how deliberately. The reducer (and the CLI, through the same
//! function) asks `Policy::evaluate` before any change; a refusal names the rule that refused.

mod freeze;

use std::collections::BTreeMap;

pub use freeze::{Freeze, FreezeWindow};

/// Parsers for freeze fields, shared with config validation.
pub struct FreezeWindowParse;

impl FreezeWindowParse {
    pub fn weekday(s: &str) -> Option<jiff::civil::Weekday> {
        freeze::parse_weekday(s)
    }
    pub fn time(s: &str) -> Result<jiff::civil::Time, String> {
        freeze::parse_time(s)
    }
    pub fn bound(s: &str, end: bool) -> Result<jiff::civil::DateTime, String> {
        freeze::parse_bound(s, end)
    }
}
use jiff::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    Trigger,
    Cancel,
    Retry,
    Approve,
    Reject,
    AcceptRisk,
    Promote,
    PromoteFull,
    Pause,
    Resume,
    Abort,
    RolloutRetry,
    Undo,
    Restart,
    TerminateAnalysis,
    /// A GitOps sync (Argo CD): what git says, applied.
    Sync,
    Refresh,
    TerminateOperation,
    AutoSync,
    /// Let a rollout go on past a failed job (a failed verification).
    IgnoreJob,
}

impl ActionKind {
    pub const ALL: [ActionKind; 20] = [
        ActionKind::Trigger,
        ActionKind::Cancel,
        ActionKind::Retry,
        ActionKind::Approve,
        ActionKind::Reject,
        ActionKind::AcceptRisk,
        ActionKind::Promote,
        ActionKind::PromoteFull,
        ActionKind::Pause,
        ActionKind::Resume,
        ActionKind::Abort,
        ActionKind::RolloutRetry,
        ActionKind::Undo,
        ActionKind::Restart,
        ActionKind::TerminateAnalysis,
        ActionKind::Sync,
        ActionKind::Refresh,
        ActionKind::TerminateOperation,
        ActionKind::AutoSync,
        ActionKind::IgnoreJob,
    ];

    /// Name used in `[environments.X.confirm]`.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Trigger => "trigger",
            ActionKind::Cancel => "cancel",
            ActionKind::Retry => "retry",
            ActionKind::Approve => "approve",
            ActionKind::Reject => "reject",
            ActionKind::AcceptRisk => "accept-risk",
            ActionKind::Promote => "promote",
            ActionKind::PromoteFull => "promote-full",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Abort => "abort",
            ActionKind::RolloutRetry => "rollout-retry",
            ActionKind::Undo => "undo",
            ActionKind::Restart => "restart",
            ActionKind::TerminateAnalysis => "terminate-analysis",
            ActionKind::Sync => "sync",
            ActionKind::Refresh => "refresh",
            ActionKind::TerminateOperation => "terminate-operation",
            ActionKind::AutoSync => "auto-sync",
            ActionKind::IgnoreJob => "ignore-job",
        }
    }

    pub fn from_name(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The tier used when the config says nothing.
    pub fn default_tier(self, production: bool) -> Tier {
        use ActionKind::*;
        match (self, production) {
            (Retry | RolloutRetry | Pause | Resume, _) => Tier::YesNo,
            // Reading git again changes nothing deployed.
            (Refresh, _) => Tier::YesNo,
            (Sync | TerminateOperation | AutoSync, false) => Tier::YesNo,
            (Sync | TerminateOperation | AutoSync, true) => Tier::Typed,
            (Trigger | Cancel | Restart | TerminateAnalysis, false) => Tier::YesNo,
            (Approve | Reject | Promote | PromoteFull | Abort | Undo, false) => Tier::Dialog,
            (Trigger | Promote | Restart | TerminateAnalysis, true) => Tier::Dialog,
            (Cancel | Approve | Reject | PromoteFull | Abort | Undo, true) => Tier::Typed,
            (AcceptRisk, _) => Tier::Typed,
            (IgnoreJob, false) => Tier::Dialog,
            (IgnoreJob, true) => Tier::Typed,
        }
    }
}

/// How deliberately an action must be confirmed, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    None,
    /// `y/N`, No focused.
    YesNo,
    /// A dialog stating the exact effect.
    Dialog,
    /// Type the target's name and a mandatory reason.
    Typed,
}

impl Tier {
    pub fn parse(text: &str) -> Option<Tier> {
        match text {
            "none" => Some(Tier::None),
            "yes-no" | "y/n" => Some(Tier::YesNo),
            "dialog" => Some(Tier::Dialog),
            "typed" => Some(Tier::Typed),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Tier::None => "none",
            Tier::YesNo => "yes-no",
            Tier::Dialog => "dialog",
            Tier::Typed => "typed",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct EnvPolicy {
    pub name: String,
    pub production: bool,
    pub read_only: bool,
    pub four_eyes: bool,
    pub approvers: Vec<String>,
    pub break_glass: bool,
    pub tiers: BTreeMap<ActionKind, Tier>,
    pub freezes: Vec<Freeze>,
    /// The release gate approvals and promotions here must pass.
    pub security: crate::findings::GatePolicy,
}

impl EnvPolicy {
    pub fn tier(&self, kind: ActionKind) -> Tier {
        self.tiers.get(&kind).copied().unwrap_or_else(|| kind.default_tier(self.production))
    }
}

#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub environments: BTreeMap<String, EnvPolicy>,
    pub groups: BTreeMap<String, Vec<String>>,
    /// `--read-only`.
    pub read_only: bool,
}

/// One proposed change.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub kind: ActionKind,
    /// Environments the change touches (none: policy has only the defaults to go by).
    pub environments: Vec<String>,
    pub actor: &'a str,
    /// Who triggered the run this concerns (for four-eyes).
    /// Everyone who started an attempt of the run (trigger and retries): four-eyes keeps them all
    /// from approving it.
    pub run_triggered_by: &'a [String],
    pub now: Timestamp,
    /// The user explicitly invoked break-glass.
    pub break_glass: bool,
    /// The security evidence of the run, for approvals and promotions (None: not read yet).
    pub security: Option<&'a crate::findings::Evidence>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed {
        tier: Tier,
        reason_required: bool,
        /// Break-glass was needed and invoked: journal it loudly.
        break_glass_used: bool,
        /// What the policy requires, for the dialog.
        notes: Vec<String>,
    },
    Refused {
        /// The config key of the rule, e.g. `environments.prod.four_eyes`.
        rule: String,
        message: String,
        /// A freeze refused it and break-glass may override.
        break_glass_possible: bool,
    },
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }
}

/// Whether `actor` (e.g. `alice@host`) is named by `entry` (`alice`, `alice@host`, `group:NAME`).
/// Whether an approver entry (`alice`, `alice@host`, `group:NAME`) names the actor. A group is
/// the one under `[groups]`, else the operating-system group of that name.
pub fn matches_actor(entry: &str, actor: &str, groups: &BTreeMap<String, Vec<String>>) -> bool {
    let user = actor.split('@').next().unwrap_or(actor);
    match entry.strip_prefix("group:") {
        Some(g) => match groups.get(g) {
            Some(members) => members.iter().any(|m| m == actor || m == user),
            None => crate::identity::in_os_group(user, g),
        },
        None => entry == actor || entry == user,
    }
}

/// The same person for four-eyes, whatever the host part or the case (`Bob@laptop` is `bob@ci`):
/// when in doubt, it is the same person (a denial errs on the safe side; approver lists do not).
fn same_person(a: &str, b: &str) -> bool {
    let person = |s: &str| s.split('@').next().unwrap_or_default().trim().to_lowercase();
    person(a) == person(b)
}

impl Policy {
    pub fn evaluate(&self, req: &Request<'_>) -> Verdict {
        if self.read_only {
            return Verdict::Refused {
                rule: "--read-only".into(),
                message: format!("read-only mode: `{}` is disabled (flightdeck was started with --read-only)", req.kind.name()),
                break_glass_possible: false,
            };
        }
        let mut tier = if req.environments.is_empty() { req.kind.default_tier(false) } else { Tier::None };
        let mut notes = Vec::new();
        let mut break_glass_used = false;
        for env_name in &req.environments {
            let Some(env) = self.environments.get(env_name) else {
                tier = tier.max(req.kind.default_tier(false));
                continue;
            };
            if env.read_only {
                return Verdict::Refused {
                    rule: format!("environments.{env_name}.read_only"),
                    message: format!("{env_name} is read-only: `{}` is not allowed there", req.kind.name()),
                    break_glass_possible: false,
                };
            }
            if matches!(req.kind, ActionKind::Approve | ActionKind::Reject) && !env.approvers.is_empty() {
                if !env.approvers.iter().any(|a| matches_actor(a, req.actor, &self.groups)) {
                    return Verdict::Refused {
                        rule: format!("environments.{env_name}.approvers"),
                        message: format!("only {} may decide gates in {env_name}; you are {}", env.approvers.join(", "), req.actor),
                        break_glass_possible: false,
                    };
                }
                notes.push(format!("approvers in {env_name}: {}", env.approvers.join(", ")));
            }
            if req.kind == ActionKind::Approve && env.four_eyes {
                if req.run_triggered_by.iter().any(|by| same_person(by, req.actor)) {
                    return Verdict::Refused {
                        rule: format!("environments.{env_name}.four_eyes"),
                        message: format!(
                            "four-eyes: you ({}) started this run or a retry of it, so someone else must approve it in {env_name}",
                            req.actor
                        ),
                        break_glass_possible: false,
                    };
                }
                notes.push(format!("four-eyes applies in {env_name}"));
            }
            if let Some(active) = env.freezes.iter().find_map(|f| f.active_at(req.now)) {
                if !(env.break_glass && req.break_glass) {
                    return Verdict::Refused {
                        rule: format!("environments.{env_name}.freeze"),
                        message: format!("change freeze in {env_name}: {active}"),
                        break_glass_possible: env.break_glass,
                    };
                }
                break_glass_used = true;
                notes.push(format!("BREAK-GLASS: overriding the change freeze in {env_name} ({active})"));
            }
            if matches!(req.kind, ActionKind::Approve | ActionKind::Promote | ActionKind::PromoteFull) && env.security.judges() {
                let failed = match req.security {
                    None => Some("the run's security findings have not been read yet; the gate cannot be judged".to_string()),
                    Some(ev) => {
                        let today = req.now.to_zoned(jiff::tz::TimeZone::UTC).date();
                        let v = ev.judge(&env.security, today);
                        if v.pass {
                            notes.push(format!("release gate in {env_name}: {}", v.summary));
                            None
                        } else {
                            Some(v.summary)
                        }
                    }
                };
                if let Some(summary) = failed {
                    let possible = env.security.break_glass && env.break_glass;
                    if !(possible && req.break_glass) {
                        return Verdict::Refused {
                            rule: format!("environments.{env_name}.security"),
                            message: format!("release gate in {env_name}: {summary}"),
                            break_glass_possible: possible,
                        };
                    }
                    break_glass_used = true;
                    notes.push(format!("BREAK-GLASS: overriding the failed release gate in {env_name} ({summary})"));
                }
            }
            tier = tier.max(env.tier(req.kind));
        }
        if break_glass_used {
            tier = Tier::Typed;
        }
        Verdict::Allowed { tier, reason_required: tier == Tier::Typed, break_glass_used, notes }
    }
}
