//! Exit codes, the same for every subcommand: what was judged or done is told apart from a
//! command that could not judge or do anything.

/// Done; the run succeeded; the gate passes; the canary is Successful.
pub const OK: u8 = 0;
/// A negative outcome: the run failed, the gate fails, the canary is Failed, the rollout was
/// aborted, the journal is not intact, the configuration has problems.
pub const NEGATIVE: u8 = 1;
/// No outcome yet: the canary is Inconclusive, still Running, or its data is in error.
pub const UNDECIDED: u8 = 2;
/// Nothing was judged or done: a bad command line, an unknown run, pipeline, service or
/// environment, a refusal by the policy, an unreachable backend.
pub const ERROR: u8 = 3;
/// Nothing to do: the action would change nothing (promote at the end of the steps, pause
/// when paused, abort when healthy, retry when not aborted). Nothing was sent.
pub const NOTHING_TO_DO: u8 = 4;

/// An action that would change nothing; the process exits with `NOTHING_TO_DO`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NothingToDo(pub String);

/// What `--help` says about them.
pub const EXIT_CODES: &str = "Exit codes: 0 done, or the outcome is good (run succeeded, gate passes, canary Successful); \
1 the outcome is bad (run failed, gate fails, canary Failed, rollout aborted, journal not intact); \
2 no outcome yet (canary Inconclusive, Running or Error); \
3 nothing was judged or done (bad command line, unknown name, refused by policy, backend unreachable); \
4 nothing to do (the rollout action would change nothing: promote at the end, pause when paused, abort when healthy, retry when not aborted).";
