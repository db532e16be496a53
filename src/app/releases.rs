//! One list of releases: every rollout of every provider, what needs a human first. The overview
//! shows it; its keys act on the selected row through that row's provider.

use super::state::State;
use crate::domain::RolloutRef;
use crate::rollout::{Record, RolloutSpec};

/// A row of the releases list.
#[derive(Clone, Copy, Debug)]
pub enum Release<'a> {
    Nginx(&'a RolloutSpec, Option<&'a Record>),
    Argo(&'a crate::argo::Rollout),
}

impl Release<'_> {
    /// What needs a human first (0), then what went wrong, then timed waits, then what is under
    /// way, then what is healthy, then what has not been read yet.
    pub fn urgency(&self, state: &State) -> u8 {
        match self {
            Release::Nginx(spec, _) if state.rollouts.errors.contains_key(&spec.name) => 0,
            Release::Nginx(_, Some(rec)) => match rec.phase.urgency() {
                0 => 0,
                1 => 3,
                _ => 4,
            },
            Release::Nginx(_, None) => 5,
            Release::Argo(r) => crate::argo::status::state(r, state.now).urgency(),
        }
    }

    pub fn reference(&self, state: &State) -> RolloutRef {
        match self {
            Release::Nginx(spec, _) => RolloutRef::nginx(spec.name.clone()),
            Release::Argo(r) => RolloutRef::argo(state.argo.context.clone(), &r.metadata.namespace, &r.metadata.name),
        }
    }

    /// The environment its policy comes from.
    pub fn environment<'s>(&'s self, state: &'s State) -> Option<&'s str> {
        match self {
            Release::Nginx(spec, _) => spec.environment.as_deref(),
            Release::Argo(_) => state.argo.environment(),
        }
    }
}

impl State {
    /// Every rollout of every provider in display order.
    pub fn releases(&self) -> Vec<Release<'_>> {
        let mut rows: Vec<Release<'_>> =
            self.rollouts.specs.iter().map(|s| Release::Nginx(s, self.rollouts.records.get(&s.name))).collect();
        rows.extend(self.argo.rollouts.values().map(Release::Argo));
        rows.sort_by_cached_key(|r| {
            let name = match r {
                Release::Nginx(spec, _) => spec.name.clone(),
                Release::Argo(a) => a.key(),
            };
            (r.urgency(self), r.environment(self).map(str::to_string), name)
        });
        rows
    }

    /// The selected row: the one chosen by reference, else the one under the cursor.
    pub fn selected_release(&self) -> Option<Release<'_>> {
        if let Some(chosen) = &self.rollouts.selected
            && let Some(row) = self.release(chosen)
        {
            return Some(row);
        }
        self.releases().into_iter().nth(self.rollouts.cursor)
    }

    /// The row a reference names, found without ordering the list.
    pub fn release(&self, r: &RolloutRef) -> Option<Release<'_>> {
        match r.argo_scope() {
            Some((_, namespace)) => self.argo.rollouts.get(&format!("{namespace}/{}", r.name)).map(Release::Argo),
            None => {
                let spec = self.rollouts.specs.iter().find(|s| s.name == r.name)?;
                Some(Release::Nginx(spec, self.rollouts.records.get(&spec.name)))
            }
        }
    }

    /// The selected row's place in `rows` (the list as ordered now).
    pub fn release_cursor(&self, rows: &[Release<'_>]) -> usize {
        match self.rollouts.selected.as_ref().filter(|r| self.release(r).is_some()) {
            Some(chosen) => rows.iter().position(|row| row.reference(self) == *chosen).unwrap_or(0),
            None => self.rollouts.cursor.min(rows.len().saturating_sub(1)),
        }
    }

    /// The selected row when it is an NGINX canary.
    pub fn selected_nginx(&self) -> Option<(&RolloutSpec, Option<&Record>)> {
        match self.selected_release()? {
            Release::Nginx(spec, rec) => Some((spec, rec)),
            Release::Argo(_) => None,
        }
    }
}
