//! enable and disable as one transaction per node: take the node's lock,
//! gather the facts, plan, then apply the plan through the journal and
//! release the lock. A dry run stops after planning — the same facts, the
//! same plan.
//!
//! enable journals each file's original before touching the file and writes
//! each file atomically; a failed write puts back every file already
//! written and the journal as it was.

use std::io;

use super::error::Error;
use super::facts::{ENTRIES, Facts, GivenReleases};
use super::journal::Journal;
use super::layout::Layout;
use super::lock::{NodeLock, WAIT_LIMIT};
use super::plan::{self, Action, Change, Plan};
use super::probe;
use super::restart::{self, Outcome};
use super::rootfs::{Missing, NodeFs};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    Enable,
    Disable,
}

/// Plans `switch` under the node's lock and, unless `dry_run`, applies it;
/// returns the plan (what was done, or would be).
pub fn run(
    node: &NodeFs,
    layout: &Layout,
    given: GivenReleases,
    switch: Switch,
    dry_run: bool,
) -> Result<Plan, Error> {
    let lock = lock_node(node)?;
    let result = (|| {
        let facts = Facts::gather(node, layout, given)?;
        let plan = match switch {
            Switch::Enable => plan::enable(&facts)?,
            Switch::Disable => plan::disable(&facts)?,
        };
        if !dry_run {
            apply(node, &facts, &plan)?;
        }
        Ok(plan)
    })();
    lock.release();
    result
}

/// The node's lock, taken by every command that changes the node: one run
/// at a time, the next waiting (and saying for whom).
pub fn lock_node(node: &NodeFs) -> Result<NodeLock, Error> {
    NodeLock::acquire(node, &Layout::lock_file(), WAIT_LIMIT, &mut |holder| {
        eprintln!(
            "nydus-overlayfs-setup: waiting for another nydus-overlayfs-setup{} to finish",
            holder.map_or(String::new(), |pid| format!(" (pid {pid})"))
        )
    })
    .map_err(Error::new)
}

fn apply(node: &NodeFs, facts: &Facts, plan: &Plan) -> Result<(), Error> {
    let journal = Journal::new(node, Layout::state_dir());
    clean_up_interrupted_runs(node, facts, &journal)?;
    for (done, change) in plan.changes.iter().enumerate() {
        if let Err(error) = apply_change(node, &journal, change) {
            for written in plan.changes[..done].iter().rev() {
                undo(node, &journal, written);
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Removes the temporary files a killed enable or disable left beside the
/// files it changes and in the journal, so that no half-written file stays.
fn clean_up_interrupted_runs(node: &NodeFs, facts: &Facts, journal: &Journal) -> Result<(), Error> {
    let files = facts
        .site
        .files_enable_may_write()
        .into_iter()
        .chain([facts.settings.nydus_config.clone()])
        .chain(facts.journal.values().map(|entry| entry.path.clone()));
    for path in &files.collect::<Vec<_>>() {
        match node.resolve(path, Missing::Fail) {
            Ok(resolved) => resolved
                .remove_stale_temporaries()
                .map_err(|e| Error::at(path, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::at(path, e)),
        }
    }
    journal
        .remove_interrupted(&ENTRIES)
        .map_err(|e| Error::at(journal.dir(), e))
}

fn apply_change(node: &NodeFs, journal: &Journal, change: &Change) -> Result<(), Error> {
    let file = &change.file;
    let failed = |e: io::Error| Error::at(file, e);
    let journal_failed = |e: io::Error| Error::at(journal.dir(), e);
    match &change.action {
        Action::Switch { entry, .. } => {
            journal
                .put(change.entry_name, entry)
                .map_err(journal_failed)?;
            node.resolve(file, Missing::Create)
                .and_then(|r| r.write_atomically(&entry.ours, 0o644))
                .map_err(failed)?;
        }
        Action::Restore { original } => {
            node.resolve(file, Missing::Fail)
                .and_then(|r| r.write_atomically(original, 0o644))
                .map_err(failed)?;
        }
        Action::Remove { created_dirs } => {
            let resolved = node.resolve(file, Missing::Fail).map_err(failed)?;
            resolved.remove().map_err(failed)?;
            // Only while empty: anything put there since is not ours.
            resolved.remove_empty_dirs(*created_dirs);
        }
        Action::Revert { reverted } => {
            if let Some(bytes) = reverted {
                node.resolve(file, Missing::Fail)
                    .and_then(|r| r.write_atomically(bytes, 0o644))
                    .map_err(failed)?;
            }
        }
        Action::Forget | Action::Keep => {}
    }
    if !matches!(change.action, Action::Switch { .. }) {
        journal.remove(change.entry_name).map_err(journal_failed)?;
    }
    Ok(())
}

/// Puts back what an applied enable change replaced (best effort: this
/// runs only after another write failed).
fn undo(node: &NodeFs, journal: &Journal, change: &Change) {
    let Action::Switch {
        entry,
        before,
        prior,
    } = &change.action
    else {
        return;
    };
    if let Ok(resolved) = node.resolve(&change.file, Missing::Fail) {
        let _ = match before {
            Some(bytes) => resolved.write_atomically(bytes, 0o644),
            None => resolved
                .remove()
                .map(|()| resolved.remove_empty_dirs(entry.created_dirs)),
        };
    }
    let _ = match prior {
        Some(prior) => journal.put(change.entry_name, prior),
        None => journal.remove(change.entry_name),
    };
}

/// Restarts, of the node's units (nydus-snapshotter, then containerd),
/// each that runs and reads a file changed since it started, unless the
/// restart would take running containers' filesystems down and
/// `break_running` is not given (restart.rs). One line per unit for stdout;
/// the refusals, one line each, for stderr.
pub fn restart_services(
    node: &NodeFs,
    facts: &Facts,
    break_running: bool,
) -> Result<(Vec<String>, Vec<String>), Error> {
    if !probe::systemd_runs(node) {
        return Ok((
            vec!["no restart: systemd does not run this node".to_string()],
            Vec::new(),
        ));
    }
    let (mut done, mut refused) = (Vec::new(), Vec::new());
    for (unit, outcome) in restart::restart(node, &restart::node_units(facts), break_running)? {
        match outcome {
            Outcome::Refused(_) => refused.push(outcome.describe(&unit)),
            _ => done.push(outcome.describe(&unit)),
        }
    }
    Ok((done, refused))
}
