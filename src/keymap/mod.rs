//! Key bindings as data: every command has a name, a context, default keys and a description. The
//! help screen and the footer hints are generated from here, and the config can rebind or unbind
//! any of them.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crossterm::event::KeyEvent;

mod chord;
pub use chord::Chord;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Global,
    Runs,
    Jobs,
    Log,
    Approvals,
    Findings,
    Audit,
    Canary,
    Rollouts,
    /// A confirmation dialog (modal: only its own keys count).
    Dialog,
    /// A picker over a list, such as the revision picker of undo (modal; moves with up and down).
    Picker,
}

impl Context {
    /// Every context, in the order help and the README list them.
    pub const ALL: [Context; 11] = [
        Context::Global,
        Context::Runs,
        Context::Jobs,
        Context::Log,
        Context::Approvals,
        Context::Findings,
        Context::Audit,
        Context::Canary,
        Context::Rollouts,
        Context::Dialog,
        Context::Picker,
    ];

    /// A modal context takes every key: the screen's and the global keys do not apply in it, and
    /// its keys may reuse theirs.
    pub fn is_modal(self) -> bool {
        matches!(self, Context::Dialog | Context::Picker)
    }

    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Runs => "Runs list",
            Context::Jobs => "Stages and jobs",
            Context::Log => "Log view",
            Context::Approvals => "Approvals inbox",
            Context::Findings => "Findings",
            Context::Canary => "Canary analysis",
            Context::Audit => "Audit journal",
            Context::Rollouts => "Releases (rollouts)",
            Context::Dialog => "Confirmation dialogs (letters typed into a text field are text)",
            Context::Picker => "Pickers (revision to undo to; up and down move)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    Quit,
    Help,
    CommandLine,
    Filter,
    Back,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    Open,
    Trigger,
    Cancel,
    Retry,
    Approve,
    Reject,
    LogFollow,
    LogWrap,
    LogTimestamps,
    LogNextMatch,
    LogPrevMatch,
    LogFirstError,
    LogCopy,
    LogPager,
    LogEditor,
    LogFilter,
    LogFold,
    LogFoldAll,
    LogMark,
    ScreenPipelines,
    ScreenApprovals,
    ScreenAudit,
    ScreenFindings,
    ScreenCanary,
    AcceptRisk,
    /// Except the first failing rule of the release gate (reason and expiry; journaled).
    ExceptRule,
    /// Switch the findings screen's list between findings and failed tests.
    FailedTests,
    BreakGlass,
    InjectFault,
    ScreenOverview,
    /// The opened release: steps, revisions, analysis, timeline.
    ScreenRelease,
    /// The security findings of the run behind the selected rollout.
    ReleaseFindings,
    /// The approval waiting for the selected rollout's environment.
    ReleaseApproval,
    /// The release the opened one owns (an Argo CD app's Argo Rollout).
    ReleaseOwned,
    /// An action on the selected rollout.
    Rollout(RolloutKey),
    DialogYes,
    DialogNo,
    DialogSubmit,
    DialogCancel,
    DialogNextField,
    DialogPrevField,
    DialogToggle,
    PickerChoose,
    PickerClose,
}

/// What a rollout key asks for; the reducer turns it into a `delivery::RolloutAction` for the
/// selected release (undo asks which revision, terminate names the running analysis).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RolloutKey {
    Promote,
    PromoteFull,
    Pause,
    Resume,
    Abort,
    Retry,
    Restart,
    Undo,
    TerminateAnalysis,
    /// GitOps applications (Argo CD).
    Sync,
    Refresh,
    HardRefresh,
    TerminateOperation,
    AutoSync,
    /// A rollout waiting for a person (Cloud Deploy): reached by the global approve, reject and
    /// cancel keys on the releases screens, so that `a` approves whatever is selected.
    Approve,
    Reject,
    Cancel,
    IgnoreJob,
}

pub struct CommandDef {
    pub command: Command,
    /// Name used in the `[keys]` table of the config.
    pub name: &'static str,
    pub context: Context,
    pub defaults: &'static [&'static str],
    /// Short label for the footer.
    pub hint: &'static str,
    /// Full description for the help screen.
    pub desc: &'static str,
    /// Changes something outside flightdeck (disabled in read-only mode).
    pub mutating: bool,
}

const fn def(
    command: Command,
    name: &'static str,
    context: Context,
    defaults: &'static [&'static str],
    hint: &'static str,
    desc: &'static str,
    mutating: bool,
) -> CommandDef {
    CommandDef { command, name, context, defaults, hint, desc, mutating }
}

/// The global commands the footer offers after the focused pane's own keys, per context (the
/// navigation keys are in the help screen). On the inbox the decisions come first.
pub fn footer_extras(context: Context) -> &'static [Command] {
    match context {
        Context::Approvals => &[Command::Approve, Command::Reject, Command::Open, Command::ScreenPipelines, Command::Help, Command::Quit],
        Context::Audit => &[Command::Filter, Command::ScreenPipelines, Command::ScreenApprovals, Command::Help, Command::Quit],
        Context::Findings => &[Command::Filter, Command::ScreenPipelines, Command::Help, Command::Quit],
        _ => &[
            Command::Trigger,
            Command::Cancel,
            Command::Retry,
            Command::Approve,
            Command::Filter,
            Command::CommandLine,
            Command::Help,
            Command::Quit,
        ],
    }
}

use Command as C;
use Context::{Global, Log};
use RolloutKey as RA;

/// Every command, in help-screen order.
pub const COMMANDS: &[CommandDef] = &[
    def(C::Help, "help", Global, &["?"], "help", "show this help (generated from the key map)", false),
    def(
        C::CommandLine,
        "command",
        Global,
        &[":"],
        "command",
        "open the command line (:run, :open, :cancel, :theme …; Tab completes)",
        false,
    ),
    def(C::Filter, "filter", Global, &["/"], "filter/search", "filter the runs list, or search in the log view", false),
    def(C::Back, "back", Global, &["esc"], "back", "close a dialog, dismiss an error, or go back one pane", false),
    def(C::FocusNext, "focus_next", Global, &["tab"], "next pane", "move focus to the next pane", false),
    def(C::FocusPrev, "focus_prev", Global, &["shift-tab"], "prev pane", "move focus to the previous pane", false),
    def(C::Up, "up", Global, &["up", "k"], "up", "move up / scroll up", false),
    def(C::Down, "down", Global, &["down", "j"], "down", "move down / scroll down", false),
    def(C::PageUp, "page_up", Global, &["pgup", "ctrl-b"], "page up", "one page up", false),
    def(C::PageDown, "page_down", Global, &["pgdn", "ctrl-f"], "page down", "one page down", false),
    def(C::Top, "top", Global, &["home", "g"], "top", "go to the first item / first log line", false),
    def(C::Bottom, "bottom", Global, &["end", "G"], "bottom", "go to the last item; in the log, follow new lines again", false),
    def(C::Left, "left", Global, &["left", "h"], "left", "previous stage / scroll the log left / a shorter canary window", false),
    def(C::Right, "right", Global, &["right", "l"], "right", "next stage / scroll the log right / a longer canary window", false),
    def(C::Open, "open", Global, &["enter"], "open", "open the selected run, job or log", false),
    def(C::Trigger, "trigger", Global, &["r"], "run", "start a new run of the selected run's pipeline", true),
    def(
        C::Cancel,
        "cancel",
        Global,
        &["c"],
        "cancel",
        "cancel the selected run; on the releases screens, the selected rollout (asks first)",
        true,
    ),
    def(C::Retry, "retry", Global, &["R"], "retry", "retry the failed, cancelled or skipped jobs of the selected run", true),
    def(
        C::Approve,
        "approve",
        Global,
        &["a"],
        "approve",
        "pass the waiting gate of the selected run; on the releases screens, approve the selected rollout (asks first)",
        true,
    ),
    def(
        C::Reject,
        "reject",
        Global,
        &["x"],
        "reject",
        "reject the waiting gate of the selected run; on the releases screens, the selected rollout (asks first)",
        true,
    ),
    def(C::ScreenPipelines, "screen.pipelines", Global, &["1"], "pipelines", "show the pipelines screen", false),
    def(
        C::ScreenApprovals,
        "screen.approvals",
        Global,
        &["2"],
        "approvals",
        "show the approvals inbox: gates waiting for a decision",
        false,
    ),
    def(
        C::ScreenFindings,
        "screen.findings",
        Global,
        &["3"],
        "findings",
        "show the selected run's security findings and gate verdict",
        false,
    ),
    def(C::ScreenAudit, "screen.audit", Global, &["4"], "audit", "show the audit journal and its verification", false),
    def(
        C::ScreenCanary,
        "screen.canary",
        Global,
        &["5"],
        "canary",
        "show canary vs stable from Prometheus, with charts and the verdict",
        false,
    ),
    def(
        C::ScreenOverview,
        "screen.releases",
        Global,
        &["6"],
        "releases",
        "show the release overview: every rollout, what needs a human first",
        false,
    ),
    def(
        C::ScreenRelease,
        "screen.release",
        Global,
        &["7"],
        "release",
        "show the selected release in full: steps, revisions, analysis runs, timeline (:ctx and :ns switch Kubernetes)",
        false,
    ),
    def(
        C::Rollout(RA::Restart),
        "rollout.restart",
        Context::Rollouts,
        &["S"],
        "restart",
        "restart the rollout's pods (Argo Rollouts)",
        true,
    ),
    def(
        C::Rollout(RA::TerminateAnalysis),
        "rollout.terminate_analysis",
        Context::Rollouts,
        &["K"],
        "terminate analysis",
        "stop the running analysis of the selected rollout (Argo Rollouts)",
        true,
    ),
    def(
        C::ReleaseFindings,
        "release.findings",
        Context::Rollouts,
        &["f"],
        "findings",
        "open the security findings of the run behind the selected rollout (enter opens the run)",
        false,
    ),
    def(
        C::ReleaseOwned,
        "release.owned",
        Context::Rollouts,
        &["L"],
        "owned rollout",
        "open the Argo Rollout the selected Argo CD application owns (asks which when it owns several)",
        false,
    ),
    def(
        C::ReleaseApproval,
        "release.approval",
        Context::Rollouts,
        &["w"],
        "approval",
        "open the approval waiting for the selected rollout's environment",
        false,
    ),
    def(
        C::Rollout(RA::Promote),
        "rollout.promote",
        Context::Rollouts,
        &["p"],
        "promote",
        "go on to the rollout's next step (asks first)",
        true,
    ),
    def(
        C::Rollout(RA::PromoteFull),
        "rollout.promote_full",
        Context::Rollouts,
        &["P"],
        "full promote",
        "send 100 % to the canary now, skipping the remaining steps",
        true,
    ),
    def(C::Rollout(RA::Pause), "rollout.pause", Context::Rollouts, &["z"], "pause", "pause the rollout at its current weight", true),
    def(C::Rollout(RA::Resume), "rollout.resume", Context::Rollouts, &["Z"], "resume", "lift a manual pause (does not skip a step)", true),
    def(C::Rollout(RA::Abort), "rollout.abort", Context::Rollouts, &["X"], "abort", "send all traffic back to stable", true),
    def(
        C::Rollout(RA::Retry),
        "rollout.retry",
        Context::Rollouts,
        &["T"],
        "retry",
        "start an aborted rollout's steps again (Cloud Deploy: run the failed job again)",
        true,
    ),
    def(
        C::Rollout(RA::IgnoreJob),
        "rollout.ignore_job",
        Context::Rollouts,
        &["I"],
        "ignore job",
        "let a Cloud Deploy rollout go on past its failed job (a failed verification), as if it had passed",
        true,
    ),
    def(
        C::Rollout(RA::Undo),
        "rollout.undo",
        Context::Rollouts,
        &["U"],
        "undo",
        "go back: NGINX gives stable all traffic back; Argo asks which revision",
        true,
    ),
    def(
        C::Rollout(RA::Sync),
        "app.sync",
        Context::Rollouts,
        &["s"],
        "sync",
        "sync the Argo CD application with git (asks first); :sync takes prune, dry-run, force, out-of-sync-only, revision=R and KIND/NAME",
        true,
    ),
    def(
        C::Rollout(RA::Refresh),
        "app.refresh",
        Context::Rollouts,
        &["o"],
        "refresh",
        "compare the Argo CD application with git again",
        true,
    ),
    def(
        C::Rollout(RA::HardRefresh),
        "app.hard_refresh",
        Context::Rollouts,
        &["O"],
        "hard refresh",
        "generate the Argo CD application's manifests again, then compare",
        true,
    ),
    def(
        C::Rollout(RA::TerminateOperation),
        "app.terminate",
        Context::Rollouts,
        &["C"],
        "stop sync",
        "stop the sync (or rollback) running on the Argo CD application",
        true,
    ),
    def(
        C::Rollout(RA::AutoSync),
        "app.auto_sync",
        Context::Rollouts,
        &["A"],
        "auto-sync",
        "turn the Argo CD application's automatic sync on or off",
        true,
    ),
    def(
        C::AcceptRisk,
        "findings.accept_risk",
        Context::Findings,
        &["A"],
        "accept risk",
        "accept the selected finding's risk (reason and expiry required; journaled)",
        true,
    ),
    def(
        C::ExceptRule,
        "findings.except_rule",
        Context::Findings,
        &["E"],
        "except rule",
        "except the release gate's failing rule (tests, coverage, changed_coverage, load, quality, signature) in this environment: reason and expiry required; journaled (:except RULE ENV picks another)",
        true,
    ),
    def(
        C::FailedTests,
        "findings.failed_tests",
        Context::Findings,
        &["T"],
        "failed tests",
        "switch the list between findings and the run's failed tests, each with its message, where it failed and its output",
        true,
    ),
    def(
        C::InjectFault,
        "canary.inject",
        Context::Canary,
        &["i"],
        "inject fault",
        "where the canary offers faults (the demo): the next one, e.g. slow, erroring, healthy (or :inject NAME)",
        false,
    ),
    def(
        C::BreakGlass,
        "break_glass",
        Context::Dialog,
        &["B"],
        "break-glass",
        "in a change-freeze dialog: override the freeze (reason required, journaled)",
        true,
    ),
    def(C::DialogYes, "dialog.yes", Context::Dialog, &["y", "Y"], "yes", "answer yes to a y/N question", false),
    def(C::DialogNo, "dialog.no", Context::Dialog, &["n", "N"], "no", "answer no to a y/N question (closes it)", false),
    def(
        C::DialogSubmit,
        "dialog.submit",
        Context::Dialog,
        &["enter"],
        "submit",
        "press the focused button; in a field, go to the next one",
        false,
    ),
    def(C::DialogCancel, "dialog.cancel", Context::Dialog, &["esc", "ctrl-c"], "cancel", "close the dialog; nothing is done", false),
    def(C::DialogNextField, "dialog.next_field", Context::Dialog, &["tab"], "next field", "next field or button", false),
    def(C::DialogPrevField, "dialog.prev_field", Context::Dialog, &["shift-tab"], "prev field", "previous field or button", false),
    def(C::DialogToggle, "dialog.toggle", Context::Dialog, &["left", "right", "h", "l"], "yes/no", "move between the buttons", false),
    def(C::PickerChoose, "picker.choose", Context::Picker, &["enter"], "choose", "choose the selected entry", false),
    def(C::PickerClose, "picker.close", Context::Picker, &["esc"], "close", "close the picker; nothing is done", false),
    def(C::Quit, "quit", Global, &["q", "ctrl-c"], "quit", "quit flightdeck", false),
    def(C::LogFollow, "log.follow", Log, &["f"], "follow", "toggle following new lines", false),
    def(C::LogWrap, "log.wrap", Log, &["w"], "wrap", "toggle line wrapping", false),
    def(C::LogTimestamps, "log.timestamps", Log, &["t"], "timestamps", "toggle timestamps", false),
    def(C::LogNextMatch, "log.next_match", Log, &["n"], "next match", "jump to the next search match", false),
    def(C::LogPrevMatch, "log.prev_match", Log, &["N"], "prev match", "jump to the previous search match", false),
    def(C::LogFirstError, "log.first_error", Log, &["e"], "first error", "jump to the first line that looks like an error", false),
    def(
        C::LogFilter,
        "log.filter",
        Log,
        &["F"],
        "only matches",
        "show only the lines the search matches, with their numbers; enter shows one in context",
        false,
    ),
    def(C::LogPager, "log.pager", Log, &["v"], "pager", "open the log in $PAGER (less) at the current line", false),
    def(C::LogEditor, "log.editor", Log, &["V"], "editor", "open the log in $EDITOR (vi) at the current line", false),
    def(
        C::LogCopy,
        "log.copy",
        Log,
        &["y"],
        "copy",
        "copy the current line (the current match, else the top one), or from the mark to it, to your clipboard (OSC 52)",
        false,
    ),
    def(C::LogMark, "log.mark", Log, &["m"], "mark", "mark the current line: y then copies from the mark to the current line", false),
    def(
        C::LogFold,
        "log.fold",
        Log,
        &["z"],
        "fold",
        "fold or unfold the section (##[group], section_start:…) the current line is in",
        false,
    ),
    def(C::LogFoldAll, "log.fold_all", Log, &["Z"], "fold all", "fold every section, or unfold them all", false),
];

pub fn def_of(command: Command) -> &'static CommandDef {
    COMMANDS.iter().find(|d| d.command == command).unwrap_or(&COMMANDS[0])
}

#[derive(Clone, Debug)]
pub struct KeyProblem {
    pub command: String,
    pub span: Option<Range<usize>>,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: BTreeMap<Command, Vec<Chord>>,
    lookup: HashMap<(Context, Chord), Command>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::with_overrides(&BTreeMap::new()).unwrap_or_else(|_| Keymap { bindings: BTreeMap::new(), lookup: HashMap::new() })
    }
}

impl Keymap {
    /// Builds the key map from the defaults and the config's `[keys]` overrides, reporting unknown
    /// commands, unparsable keys and conflicts.
    pub fn with_overrides(overrides: &BTreeMap<String, (Range<usize>, Vec<String>)>) -> Result<Keymap, Vec<KeyProblem>> {
        let mut problems = Vec::new();
        let mut bindings: BTreeMap<Command, Vec<Chord>> = BTreeMap::new();
        for d in COMMANDS {
            let chords = d.defaults.iter().filter_map(|k| Chord::parse(k).ok()).collect();
            bindings.insert(d.command, chords);
        }
        for (name, (span, keys)) in overrides {
            let Some(d) = COMMANDS.iter().find(|d| d.name == name) else {
                let known: Vec<&str> = COMMANDS.iter().map(|d| d.name).collect();
                problems.push(KeyProblem {
                    command: name.clone(),
                    span: Some(span.clone()),
                    message: format!("unknown command (known: {})", known.join(", ")),
                });
                continue;
            };
            let mut chords = Vec::new();
            for k in keys {
                match Chord::parse(k) {
                    Ok(c) => chords.push(c),
                    Err(e) => problems.push(KeyProblem { command: name.clone(), span: Some(span.clone()), message: e }),
                }
            }
            bindings.insert(d.command, chords);
        }

        let mut lookup: HashMap<(Context, Chord), Command> = HashMap::new();
        for d in COMMANDS {
            for chord in &bindings[&d.command] {
                let clash = lookup.get(&(d.context, *chord)).copied().or_else(|| {
                    // A key of a pane context must not hide a global key, and vice versa; modal
                    // contexts take every key, so they hide nothing.
                    if d.context.is_modal() {
                        None
                    } else if d.context == Context::Global {
                        lookup.iter().find(|((ctx, c), _)| c == chord && !ctx.is_modal()).map(|(_, cmd)| *cmd)
                    } else {
                        lookup.get(&(Context::Global, *chord)).copied()
                    }
                });
                if let Some(other) = clash {
                    let span = overrides.get(d.name).or_else(|| overrides.get(def_of(other).name)).map(|(s, _)| s.clone());
                    problems.push(KeyProblem {
                        command: d.name.to_string(),
                        span,
                        message: format!("key `{chord}` is bound to both `{}` and `{}`", def_of(other).name, d.name),
                    });
                    continue;
                }
                lookup.insert((d.context, *chord), d.command);
            }
        }
        if problems.is_empty() { Ok(Keymap { bindings, lookup }) } else { Err(problems) }
    }

    /// The command for a key press in a pane (its own keys first, then the global ones; a modal
    /// context has only its own).
    pub fn resolve(&self, context: Context, ev: &KeyEvent) -> Option<Command> {
        let chord = Chord::from_event(ev);
        let own = self.lookup.get(&(context, chord)).copied();
        if context.is_modal() { own } else { own.or_else(|| self.lookup.get(&(Context::Global, chord)).copied()) }
    }

    /// The key map in force as a Markdown table, one section per context (the README's key table
    /// is this, for the defaults).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for ctx in Context::ALL {
            let defs: Vec<&CommandDef> = COMMANDS.iter().filter(|d| d.context == ctx).collect();
            if defs.is_empty() {
                continue;
            }
            out.push_str(&format!("\n**{}**\n\n| key | name in `[keys]` | what it does |\n| --- | --- | --- |\n", ctx.title()));
            for d in defs {
                let keys = self.keys_of(d.command).iter().map(|k| format!("`{}`", k.to_string().replace('|', "\\|"))).collect::<Vec<_>>();
                let keys = if keys.is_empty() { "(unbound)".to_string() } else { keys.join(" ") };
                out.push_str(&format!("| {keys} | `{}` | {} |\n", d.name, d.desc.replace('|', "\\|")));
            }
        }
        out
    }

    pub fn keys_of(&self, command: Command) -> &[Chord] {
        self.bindings.get(&command).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first key of a command, for compact hints; `(unbound)` when it has none.
    pub fn first(&self, command: Command) -> String {
        self.keys_of(command).first().map(|k| k.to_string()).unwrap_or_else(|| "(unbound)".into())
    }

    /// `q/ctrl-c`, or None when the command is unbound.
    pub fn label(&self, command: Command) -> Option<String> {
        let keys = self.keys_of(command);
        if keys.is_empty() { None } else { Some(keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join("/")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn ov(pairs: &[(&str, &[&str])]) -> BTreeMap<String, (Range<usize>, Vec<String>)> {
        pairs.iter().map(|(k, v)| (k.to_string(), (0..1, v.iter().map(|s| s.to_string()).collect()))).collect()
    }

    #[test]
    fn defaults_have_no_conflicts() {
        let k = Keymap::with_overrides(&BTreeMap::new()).expect("defaults are consistent");
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(k.resolve(Context::Log, &ev), Some(Command::Bottom));
        let ev = KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE);
        assert_eq!(k.resolve(Context::Log, &ev), Some(Command::LogWrap));
        assert_eq!(k.resolve(Context::Runs, &ev), None);
    }

    #[test]
    fn rebind_and_unbind() {
        let k = Keymap::with_overrides(&ov(&[("trigger", &["ctrl-r"]), ("cancel", &[])])).unwrap();
        assert_eq!(k.resolve(Context::Runs, &KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)), Some(Command::Trigger));
        assert_eq!(k.resolve(Context::Runs, &KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)), None);
        assert_eq!(k.label(Command::Cancel), None);
    }

    #[test]
    fn conflicts_and_unknowns_are_reported() {
        let err = Keymap::with_overrides(&ov(&[("trigger", &["q"])])).unwrap_err();
        assert!(err[0].message.contains("bound to both"), "{:?}", err);
        let err = Keymap::with_overrides(&ov(&[("log.wrap", &["a"])])).unwrap_err();
        assert!(err[0].message.contains("`approve`"), "{:?}", err);
        let err = Keymap::with_overrides(&ov(&[("launch", &["z"])])).unwrap_err();
        assert!(err[0].message.contains("unknown command"));
        let err = Keymap::with_overrides(&ov(&[("quit", &["hyper-q"])])).unwrap_err();
        assert!(err[0].message.contains("not a key"));
    }

    #[test]
    fn chord_parsing() {
        assert_eq!(Chord::parse("shift-tab").unwrap().code, KeyCode::BackTab);
        assert_eq!(Chord::parse("G").unwrap().code, KeyCode::Char('G'));
        assert_eq!(Chord::parse("shift-g").unwrap().code, KeyCode::Char('G'));
        assert!(Chord::parse("ctrl-c").unwrap().ctrl);
    }
}
