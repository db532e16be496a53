//! A canary that can be made to misbehave on purpose (a lab, a demo, a game day): the faults it
//! offers, walked through by one key, and the way to switch between them. The core only knows
//! this seam; whoever runs such a canary implements it.

use futures::future::BoxFuture;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub name: String,
    /// Other words accepted for it (`:inject off`).
    pub aliases: Vec<String>,
    /// What the canary does under it, for the screen.
    pub description: String,
}

pub trait FaultInjector: Send + Sync {
    /// The faults, in the order the key walks them; the first is the healthy baseline.
    fn faults(&self) -> Vec<Fault>;
    /// Makes the canary behave as `name` says.
    fn inject<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// What the cockpit knows of a canary's injected fault: which is in force, which is on its way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultControl {
    pub faults: Vec<Fault>,
    pub current: usize,
    pub pending: Option<usize>,
}

impl FaultControl {
    pub fn new(faults: Vec<Fault>) -> Option<FaultControl> {
        (!faults.is_empty()).then_some(FaultControl { faults, current: 0, pending: None })
    }

    /// The fault a name or alias means.
    pub fn find(&self, text: &str) -> Option<usize> {
        let t = text.trim().to_ascii_lowercase();
        self.faults.iter().position(|f| f.name == t || f.aliases.contains(&t))
    }

    /// The one after what is pending (or in force): a second press moves on from the first.
    pub fn next(&self) -> usize {
        (self.pending.unwrap_or(self.current) + 1) % self.faults.len().max(1)
    }

    pub fn names(&self) -> Vec<String> {
        self.faults.iter().map(|f| f.name.clone()).collect()
    }

    /// Whether the canary is back to its healthy baseline.
    pub fn is_healthy(&self) -> bool {
        self.current == 0
    }
}
