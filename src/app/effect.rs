//! Effects are plain values describing I/O. The runtime (`cockpit::effects`) executes each on its
//! own tokio task with a timeout and sends the result back as an `Action`; the UI task never waits
//! for them.

use crate::audit::Draft;
use crate::domain::RunRef;
use crate::ops::Approved;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    LoadRuns {
        request: u64,
    },
    LoadLog {
        request: u64,
        run: RunRef,
        job: String,
    },
    /// An authorised, confirmed change: journal intent, act, journal outcome.
    Execute(Box<Approved>),
    /// Record a refused attempt in the journal.
    Journal(Box<Draft>),
    LoadFindings {
        run: RunRef,
    },
    LoadAcceptances,
    /// Analyse a service's canary over the last `window` seconds.
    Analyse {
        request: u64,
        service: String,
        window: i64,
    },
    LoadAudit {
        request: u64,
    },
    LoadTheme {
        name: String,
    },
    /// Watch Argo Rollouts in a context (None: the configured or current one) and namespace
    /// (None: all), replacing any watch under way.
    ArgoWatch {
        context: Option<String>,
        namespace: Option<String>,
    },
    /// Read an Argo Rollout's revisions, analysis runs, events and what the user may do, and read
    /// them again whenever they change (until another rollout is opened); None: stop following.
    ArgoDetail {
        key: Option<String>,
    },
    /// Where a canary offers faults (a lab, the demo): make it behave as the named one.
    InjectFault(String),
    /// Leave the event loop (the loop cancels local runs and restores the terminal).
    Quit,
}
