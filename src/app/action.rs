//! Everything that can happen: user input and worker results.

use crossterm::event::KeyEvent;
use jiff::Timestamp;

use crate::ci::RunEvent;
use crate::domain::{RunRecord, RunRef};
use crate::logstore::RawLine;
use crate::theme::Theme;

#[derive(Debug)]
pub enum Action {
    Key(KeyEvent),
    Paste(String),
    Resize(u16, u16),
    Tick(Timestamp),
    /// SIGTERM / SIGHUP: leave now, cleaning up.
    Terminate,
    // Worker results. Those that answer a request carry its id so stale answers can be dropped.
    RunsLoaded {
        request: u64,
        result: Result<Vec<RunRecord>, String>,
    },
    /// What starting a pipeline asks for (None: only its name).
    TriggerFormLoaded {
        pipeline: String,
        result: Result<Option<crate::ci::form::TriggerForm>, String>,
    },
    /// Another CI provider's runs, after the first answer to the same request.
    MoreRunsLoaded {
        result: Result<Vec<RunRecord>, String>,
    },
    LogLoaded {
        request: u64,
        run: RunRef,
        job: String,
        result: Result<Vec<RawLine>, String>,
    },
    /// Lines of a job's log read from disk: a window starting at `from`, and how many lines the
    /// whole log has. `request` is set when it answers the first load of a finished job's log.
    LogWindowLoaded {
        request: Option<u64>,
        run: RunRef,
        job: String,
        from: u64,
        result: Result<LogWindow, String>,
    },
    /// Text of lines of a log, for the filtered view or the screen (none when they could not be
    /// read: the reason comes on its own).
    LogLinesLoaded {
        run: RunRef,
        job: String,
        lines: Vec<(u64, RawLine)>,
        for_filter: bool,
    },
    /// The sections of a log on disk, with their version (none: not to be had).
    LogSectionsLoaded {
        run: RunRef,
        job: String,
        sections: Option<Box<(u64, crate::logstore::sections::Sections)>>,
    },
    /// Lines read for the clipboard (as shown, without colours), from line `from`.
    LogReadForCopy {
        from: u64,
        result: Result<Vec<String>, String>,
    },
    /// Show this line of the current log (what a time was found at), or say why not.
    LogJump(Result<u64, String>),
    /// Lines of the whole log that a search found, in order, and how far it has got.
    LogSearchFound {
        request: u64,
        hits: Vec<u64>,
        scanned: u64,
        of: u64,
        done: bool,
    },
    /// An operation finished (or could not start); `op` is its in-flight key.
    OpDone {
        op: String,
        result: Result<crate::ops::Report, String>,
    },
    /// A refusal was written to the journal (or could not be).
    Journaled(Result<(), String>),
    FindingsLoaded {
        run: RunRef,
        result: Result<crate::findings::RunReports, String>,
    },
    CanaryLoaded {
        request: u64,
        service: String,
        result: Box<crate::metrics::AnalysisResult>,
    },
    AcceptancesLoaded(Result<crate::findings::Acceptances, String>),
    AuditLoaded {
        request: u64,
        result: Result<(Vec<crate::audit::AuditRecord>, crate::audit::VerifyReport), String>,
    },
    ThemeLoaded(Result<Theme, String>),
    /// Time to look at the notifications' outbox again (on a slow clock of its own).
    NotificationsDue,
    /// How many notifications could not be delivered.
    NotificationsChecked(usize),
    /// What a rollout provider reported: its feed, a release that changed, one that went.
    Release(crate::delivery::ReleaseEvent),
    /// The opened release's detail was read (again).
    ReleaseDetail(Box<crate::delivery::Detail>),
    /// Something asked of a worker failed, with why (shown as an error).
    Failed(String),
    /// The canary's injected fault was changed to the named one (or could not be).
    FaultInjected(Result<String, String>),
    Run(RunEvent),
}

/// Lines of a log on disk, from a window's first line.
#[derive(Debug)]
pub struct LogWindow {
    pub lines: Vec<RawLine>,
    /// Lines in the whole log.
    pub total: u64,
    /// Its sections and their version, when they differ from the version the reader had.
    pub sections: Option<Box<(u64, crate::logstore::sections::Sections)>>,
}
