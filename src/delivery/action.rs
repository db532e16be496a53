//! What a person (or a pipeline stage) can do to a rollout, whichever provider runs it. Each
//! provider says which of these make sense for a rollout in its current state.

use crate::domain::RunRef;
use crate::policy::ActionKind;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum RolloutAction {
    /// On to the next step.
    Promote,
    /// Skip every remaining step: the new version gets all traffic now.
    PromoteFull,
    Pause,
    /// Lift a manual pause; never skips a step.
    Resume,
    /// All traffic back to stable.
    Abort,
    /// Start an aborted rollout's steps again.
    Retry,
    /// Replace the pods without changing the version.
    Restart,
    /// Back to an earlier revision (the previous one when None).
    Undo {
        to_revision: Option<i64>,
    },
    /// Let a rollout that waits for a person's approval go ahead.
    Approve,
    /// Refuse a rollout that waits for approval: it never starts.
    Reject,
    /// Stop a rollout under way where it is (traffic stays as it is; undo takes it back).
    Cancel,
    /// Let a rollout go on past a failed job (a verification), as if it had passed.
    IgnoreJob,
    /// Stop an analysis run.
    TerminateAnalysis {
        run: String,
    },
    /// Apply what git says (a GitOps application): the whole app or some resources.
    Sync {
        #[serde(default)]
        prune: bool,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        force: bool,
        #[serde(default)]
        out_of_sync_only: bool,
        /// A revision other than the app's target.
        #[serde(default)]
        revision: Option<String>,
        /// Only these resources (`KIND/NAME` or `GROUP/KIND/NAMESPACE/NAME`); none: all.
        #[serde(default)]
        resources: Vec<String>,
    },
    /// Compare with git again (hard: generate the manifests again too).
    Refresh {
        hard: bool,
    },
    /// Stop the operation (a sync) under way.
    TerminateOperation,
    /// Let the GitOps controller sync by itself, or not (a rollback needs it off).
    AutoSync {
        on: bool,
    },
    /// Roll out a new version. `container` picks which containers get it where a rollout has
    /// several; `run` is the pipeline run that built it, recorded with the rollout so that its
    /// promotions are judged by that run's evidence.
    Deploy {
        version: String,
        container: Option<String>,
        stable_version: Option<String>,
        run: Option<RunRef>,
    },
}

impl RolloutAction {
    /// A sync of the whole application, with Argo CD's defaults (no prune, no dry run).
    pub fn whole_sync() -> RolloutAction {
        RolloutAction::Sync { prune: false, dry_run: false, force: false, out_of_sync_only: false, revision: None, resources: Vec::new() }
    }

    /// The command-line verb, and the key of `Permissions`.
    pub fn verb(&self) -> &'static str {
        match self {
            RolloutAction::Promote => "promote",
            RolloutAction::PromoteFull => "promote-full",
            RolloutAction::Pause => "pause",
            RolloutAction::Resume => "resume",
            RolloutAction::Abort => "abort",
            RolloutAction::Retry => "retry",
            RolloutAction::Restart => "restart",
            RolloutAction::Undo { .. } => "undo",
            RolloutAction::Approve => "approve",
            RolloutAction::Reject => "reject",
            RolloutAction::Cancel => "cancel",
            RolloutAction::IgnoreJob => "ignore-job",
            RolloutAction::TerminateAnalysis { .. } => "terminate-analysis",
            RolloutAction::Deploy { .. } => "deploy",
            RolloutAction::Sync { .. } => "sync",
            RolloutAction::Refresh { .. } => "refresh",
            RolloutAction::TerminateOperation => "terminate-operation",
            RolloutAction::AutoSync { .. } => "auto-sync",
        }
    }

    /// The journal's name for it, the same for every provider (the target says which).
    pub fn audit_action(&self) -> &'static str {
        match self {
            RolloutAction::Promote => "rollout.promote",
            RolloutAction::PromoteFull => "rollout.promote-full",
            RolloutAction::Pause => "rollout.pause",
            RolloutAction::Resume => "rollout.resume",
            RolloutAction::Abort => "rollout.abort",
            RolloutAction::Retry => "rollout.retry",
            RolloutAction::Restart => "rollout.restart",
            RolloutAction::Undo { .. } => "rollout.undo",
            RolloutAction::Approve => "rollout.approve",
            RolloutAction::Reject => "rollout.reject",
            RolloutAction::Cancel => "rollout.cancel",
            RolloutAction::IgnoreJob => "rollout.ignore-job",
            RolloutAction::TerminateAnalysis { .. } => "rollout.terminate-analysis",
            RolloutAction::Deploy { .. } => "rollout.deploy",
            RolloutAction::Sync { .. } => "app.sync",
            RolloutAction::Refresh { .. } => "app.refresh",
            RolloutAction::TerminateOperation => "app.terminate-operation",
            RolloutAction::AutoSync { .. } => "app.auto-sync",
        }
    }

    pub fn policy_kind(&self) -> ActionKind {
        match self {
            RolloutAction::Promote => ActionKind::Promote,
            RolloutAction::PromoteFull => ActionKind::PromoteFull,
            RolloutAction::Pause => ActionKind::Pause,
            RolloutAction::Resume => ActionKind::Resume,
            RolloutAction::Abort => ActionKind::Abort,
            RolloutAction::Retry => ActionKind::RolloutRetry,
            RolloutAction::Restart => ActionKind::Restart,
            RolloutAction::Undo { .. } => ActionKind::Undo,
            RolloutAction::Approve => ActionKind::Approve,
            RolloutAction::Reject => ActionKind::Reject,
            RolloutAction::Cancel => ActionKind::Cancel,
            RolloutAction::IgnoreJob => ActionKind::IgnoreJob,
            RolloutAction::TerminateAnalysis { .. } => ActionKind::TerminateAnalysis,
            // A new version going out, as when a pipeline starts it.
            RolloutAction::Deploy { .. } => ActionKind::Trigger,
            RolloutAction::Sync { .. } => ActionKind::Sync,
            RolloutAction::Refresh { .. } => ActionKind::Refresh,
            RolloutAction::TerminateOperation => ActionKind::TerminateOperation,
            RolloutAction::AutoSync { .. } => ActionKind::AutoSync,
        }
    }

    /// Whether the release gate judges it: promotions (and an approval, which lets the new version
    /// out) send the new version to more users.
    pub fn is_promotion(&self) -> bool {
        matches!(self, RolloutAction::Promote | RolloutAction::PromoteFull | RolloutAction::Approve)
    }

    /// The verbs that need nothing but the rollout, for permissions and help.
    pub const SIMPLE: [RolloutAction; 11] = [
        RolloutAction::Promote,
        RolloutAction::PromoteFull,
        RolloutAction::Pause,
        RolloutAction::Resume,
        RolloutAction::Abort,
        RolloutAction::Retry,
        RolloutAction::Restart,
        RolloutAction::Approve,
        RolloutAction::Reject,
        RolloutAction::Cancel,
        RolloutAction::IgnoreJob,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_names_and_wire_form() {
        assert_eq!(RolloutAction::PromoteFull.audit_action(), "rollout.promote-full");
        let undo = RolloutAction::Undo { to_revision: Some(3) };
        assert_eq!(serde_json::to_value(&undo).unwrap(), serde_json::json!({"action": "undo", "to_revision": 3}));
        assert_eq!(serde_json::from_value::<RolloutAction>(serde_json::json!({"action": "abort"})).unwrap(), RolloutAction::Abort);
    }
}
