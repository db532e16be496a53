//! One list of releases: every rollout of every provider, as the providers report them, what needs
//! a human first. Screen 6 lists them; screen 7 shows the selected one in full; the rollout keys
//! act on the selected one through its provider.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::state::State;
use crate::delivery::{Detail, Feed, Registry, Release};
use crate::domain::{RolloutRef, RunRef};

#[derive(Clone, Default)]
pub struct ReleasesView {
    /// The rollout providers. Only their pure `plan` is used here (to show what an action would
    /// send); everything that reads or changes the world runs as an effect.
    pub providers: Registry,
    /// The feeds were asked for (on the first visit of the releases screens).
    pub watching: bool,
    pub rows: BTreeMap<RolloutRef, Release>,
    /// Each provider's connection, by provider name.
    pub feeds: BTreeMap<String, Feed>,
    /// When a feed last reported (the age of the data while one is down).
    pub last_update: Option<Timestamp>,
    /// The selected row's place, when nothing was chosen by reference yet.
    pub cursor: usize,
    /// The selected release, by reference: it stays selected when the list reorders, and finding
    /// it needs no sort of the whole list (the footer asks for it many times a frame).
    pub selected: Option<RolloutRef>,
    /// The opened release's detail (screen 7).
    pub detail: Option<Detail>,
    /// Undo's revision picker: an index into the detail's revisions (or, with `picking_owned`,
    /// into the releases it owns).
    pub picker: Option<usize>,
    pub picking_owned: bool,
}

/// Rows of the selected release's detail under the releases list.
pub const RELEASE_DETAIL_ROWS: u16 = 8;

/// How many rows the releases list holds in a block of `inner_height`.
pub fn releases_capacity(inner_height: u16) -> usize {
    (inner_height.saturating_sub(RELEASE_DETAIL_ROWS + 2) as usize).max(3)
}

impl std::fmt::Debug for ReleasesView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleasesView").field("rows", &self.rows.len()).field("selected", &self.selected).finish_non_exhaustive()
    }
}

impl ReleasesView {
    pub fn enabled(&self) -> bool {
        !self.providers.is_empty()
    }
}

impl State {
    /// Every release in display order: what needs a human first, then by environment and name.
    pub fn releases(&self) -> Vec<&Release> {
        let mut rows: Vec<&Release> = self.releases.rows.values().collect();
        rows.sort_by(|a, b| (a.urgency, &a.environment).cmp(&(b.urgency, &b.environment)));
        rows
    }

    pub fn release(&self, r: &RolloutRef) -> Option<&Release> {
        self.releases.rows.get(r)
    }

    /// The selected row: the one chosen by reference, else the one under the cursor.
    pub fn selected_release(&self) -> Option<&Release> {
        if let Some(chosen) = self.releases.selected.as_ref().and_then(|r| self.release(r)) {
            return Some(chosen);
        }
        self.releases().into_iter().nth(self.releases.cursor)
    }

    /// The selected row's place in `rows` (the list as ordered now).
    pub fn release_cursor(&self, rows: &[&Release]) -> usize {
        match self.releases.selected.as_ref().filter(|r| self.release(r).is_some()) {
            Some(chosen) => rows.iter().position(|row| row.reference == *chosen).unwrap_or(0),
            None => self.releases.cursor.min(rows.len().saturating_sub(1)),
        }
    }

    /// The rows the releases list shows: a window of `capacity` rows that follows the cursor.
    /// The view draws exactly these; the clock asks whether a countdown is among them.
    pub fn release_window(rows: usize, cursor: usize, capacity: usize) -> std::ops::Range<usize> {
        let offset = cursor.saturating_sub(capacity.saturating_sub(1));
        offset.min(rows)..(offset + capacity).min(rows)
    }

    /// Whether a timed pause's countdown (in seconds) is on screen: only then does the cockpit
    /// need its clock for the releases (a thousand rows with one countdown scrolled away cost
    /// a redraw a second otherwise).
    pub fn countdown_on_screen(&self) -> bool {
        let selected = self.selected_release().is_some_and(|r| r.pause_until.is_some());
        if self.screen != super::state::Screen::Overview || selected {
            return selected;
        }
        // Asked on every turn of the event loop: no countdown at all needs no ordering of rows.
        if !self.releases.rows.values().any(|r| r.pause_until.is_some()) {
            return false;
        }
        let rows = self.releases();
        // The list's height at this terminal size (header, footer, borders, the detail below),
        // with a row to spare either side.
        let capacity = releases_capacity(self.size.1.saturating_sub(4)) + 2;
        let cursor = self.release_cursor(&rows);
        rows[State::release_window(rows.len(), cursor.saturating_add(1), capacity)].iter().any(|r| r.pause_until.is_some())
    }

    /// The row of a release another one owns: the reference itself, or an Argo Rollout of that
    /// namespace and name in whichever context the Argo Rollouts provider watches.
    pub fn owned_row(&self, r: &RolloutRef) -> Option<&Release> {
        self.release(r).or_else(|| {
            let (_, namespace) = r.argo_scope()?;
            self.releases
                .rows
                .values()
                .find(|row| row.reference.name == r.name && row.reference.argo_scope().is_some_and(|(_, ns)| ns == namespace))
        })
    }

    /// The opened detail, when it is `release`'s.
    pub fn detail_of(&self, release: &Release) -> Option<&Detail> {
        self.releases.detail.as_ref().filter(|d| d.reference.as_ref() == Some(&release.reference))
    }

    /// The pipeline run behind a release: the one that built it, when this cockpit knows it,
    /// else the latest run that deploys to its environment.
    pub fn release_run(&self, release: &Release) -> Option<RunRef> {
        let built = release.run.clone().filter(|id| self.run(id).is_some());
        built.or_else(|| {
            let env = release.environment.as_deref();
            self.runs
                .iter()
                .map(|r| &r.record)
                .find(|r| env.is_none_or(|e| r.stages.iter().any(|s| s.environment.as_deref() == Some(e))))
                .map(|r| r.id.clone())
        })
    }

    /// How many releases need a person, for the tab's badge: waiting for one, or gone wrong
    /// (aborted, degraded, unreadable).
    pub fn releases_needing_a_human(&self) -> usize {
        self.releases.rows.values().filter(|r| r.urgency <= 1).count()
    }
}
