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
    /// Read lines `[from, from + count)` of a job's log on disk (and its sections, when their
    /// version is not `sections`).
    LoadLogWindow {
        run: RunRef,
        job: String,
        from: u64,
        count: usize,
        sections: u64,
    },
    /// Search a job's whole log on disk; results come back in batches.
    SearchLog {
        request: u64,
        run: RunRef,
        job: String,
        query: String,
        regex: bool,
    },
    /// Read these lines of a job's log on disk (the filtered view's, or the screen's).
    LoadLogLines {
        run: RunRef,
        job: String,
        lines: Vec<u64>,
        for_filter: bool,
    },
    /// Read the sections of a job's log on disk.
    LoadLogSections {
        run: RunRef,
        job: String,
    },
    /// Read lines of a job's log on disk for the clipboard.
    ReadLogForCopy {
        run: RunRef,
        job: String,
        from: u64,
        count: usize,
    },
    /// Find the first line of a job's log on disk stamped at or after `ts_ms`.
    FindLogTime {
        run: RunRef,
        job: String,
        ts_ms: i64,
    },
    /// Open a job's log in the user's pager or editor at a line (counted from 1).
    OpenLog {
        run: RunRef,
        job: String,
        line: u64,
        editor: bool,
    },
    /// Hand the terminal to the pager or editor at `line`, then take it back.
    HandOver {
        to: Outside,
        line: u64,
    },
    /// Put text on the user's clipboard (OSC 52, written by the cockpit at the user's request).
    Clipboard(String),
    /// Stop a search under way.
    CancelSearch {
        request: u64,
    },
    /// An authorised, confirmed change: journal intent, act, journal outcome.
    Execute(Box<Approved>),
    /// Record a refused attempt in the journal.
    Journal(Box<Draft>),
    LoadFindings {
        run: RunRef,
    },
    /// What starting a pipeline asks for besides its name (a workflow's ref and inputs).
    LoadTriggerForm {
        pipeline: String,
    },
    /// Read a run whole (a remote provider lists runs without their jobs).
    LoadRun {
        run: RunRef,
    },
    LoadAcceptances,
    /// Analyse a service's canary over the last `window` seconds.
    Analyse {
        request: u64,
        service: String,
        window: i64,
        /// Where the selected release says its sides are measured (CloudWatch dimensions).
        measured_on: Option<crate::delivery::MeasuredOn>,
    },
    LoadAudit {
        request: u64,
    },
    /// Count the notifications that could not be delivered.
    CheckNotifications,
    LoadTheme {
        name: String,
    },
    /// Start every rollout provider's feed.
    WatchReleases,
    /// Point the feeds somewhere else (`context=NAME`, `namespace=NAME|all`).
    Rescope {
        change: String,
    },
    /// Read a release's detail now and whenever it changes (until another is opened); None: stop.
    FollowRelease {
        reference: Option<crate::domain::RolloutRef>,
    },
    /// Where a canary offers faults (a lab, the demo): make it behave as the named one.
    InjectFault(String),
    /// Leave the event loop (the loop cancels local runs and restores the terminal).
    Quit,
}

/// Where a log goes when the terminal is handed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outside {
    /// The user's pager, reading the log's text (sanitised, without colours) from a pipe as it is
    /// written from the job's log file: it shows at once, whatever the log's size.
    Pager { log: std::path::PathBuf },
    /// The user's editor, over `copy`: a sanitised copy of the log, removed afterwards.
    Editor { copy: std::path::PathBuf },
}
