//! What enable and disable will do, computed from the facts alone: which
//! file gets which bytes, and what the journal records for it. A plan is
//! plain data: `--dry-run` prints it, the real run applies it, and they are
//! the same plan.
//!
//! enable plans every file first, so nothing is written if any file cannot
//! be switched. disable gives each file its original bytes back when it is
//! still as enable left it; a file edited since gets only our keys reverted,
//! keeping the edits.

use std::fmt;
use std::path::{Path, PathBuf};

use super::config_edit::ConfigEdit;
use super::containerd;
use super::error::Error;
use super::facts::{CONTAINERD_ENTRY, Facts, SNAPSHOTTER_ENTRY};
use super::journal::Entry;
use super::layout::Layout;
use super::snapshotter;
use super::text_form::TextForm;

/// One file's change.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The journal entry it is recorded under.
    pub entry_name: &'static str,
    /// The file changed: where the configured path leads.
    pub file: PathBuf,
    /// The configured path, when it is a link to `file`.
    pub via_link: Option<PathBuf>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// enable: write `entry.ours`, after recording `entry`. `before` and
    /// `prior` are what a failed run puts back.
    Switch {
        entry: Box<Entry>,
        before: Option<Vec<u8>>,
        prior: Option<Box<Entry>>,
    },
    /// disable: the file is as enable left it; write its original back.
    Restore { original: Vec<u8> },
    /// disable: enable created the file; remove it and the directories it
    /// made for it (while empty).
    Remove { created_dirs: usize },
    /// disable: the file was edited since; these bytes have only our keys
    /// reverted (`None`: nothing of ours is left in it).
    Revert { reverted: Option<Vec<u8>> },
    /// disable: the file is gone; only the record goes.
    Forget,
}

/// The changes, in the order they are applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

/// What `enable` would do on a node with these facts.
pub fn enable(facts: &Facts) -> Result<Plan, Error> {
    let settings = &facts.settings;
    let config_path = &settings.containerd_config;
    let config = decoded(facts, config_path)?;
    let target = containerd::target(
        facts.containerd_version(),
        config_path,
        config.as_ref().map(|(_, text)| text.as_str()),
    )
    .map_err(|refusal| match refusal {
        containerd::Refusal::UnknownRelease => Error::new(refusal.to_string()),
        containerd::Refusal::Config(why) => Error::at(config_path, why),
    })?;

    // A node enable switched in config.toml itself — before config.toml
    // imported a directory of drop-ins, or by a release that wrote none —
    // stays switched there: the same keys, in the file the journal knows.
    let switched_in_config = facts
        .journal
        .get(CONTAINERD_ENTRY)
        .is_some_and(|prior| facts.file(config_path).resolved.as_ref() == Ok(&prior.path));
    let target_path = if switched_in_config {
        config_path.clone()
    } else {
        target.path
    };

    let nydus_path = &settings.nydus_config;
    if facts.file(nydus_path).bytes.is_none() {
        return Err(Error::new(format!(
            "{} does not exist: install and configure nydus-snapshotter first (or set nydus_config in {})",
            nydus_path.display(),
            Layout::settings_file().display()
        )));
    }
    let nydus_edit = snapshotter::edit(&facts.helper, facts.snapshotter_version());

    let mut changes = Vec::new();
    changes.extend(switch(facts, CONTAINERD_ENTRY, &target_path, &target.edit)?);
    changes.extend(switch(facts, SNAPSHOTTER_ENTRY, nydus_path, &nydus_edit)?);
    Ok(Plan { changes })
}

/// The file at `path` decoded for editing; `None` when there is none.
fn decoded(facts: &Facts, path: &Path) -> Result<Option<(TextForm, String)>, Error> {
    let file = facts.file(path);
    if let Err(e) = &file.resolved {
        return Err(Error::at(path, e));
    }
    file.bytes
        .as_deref()
        .map(TextForm::decode)
        .transpose()
        .map_err(|e| Error::at(path, e))
}

/// The change `edit` makes to the file at `path`, or none when the file
/// already has it.
fn switch(
    facts: &Facts,
    entry_name: &'static str,
    path: &Path,
    edit: &ConfigEdit,
) -> Result<Option<Change>, Error> {
    let file = facts.file(path);
    let resolved = file.resolved.clone().map_err(|e| Error::at(path, e))?;
    let current = decoded(facts, path)?;
    let (form, text) = match &current {
        Some((form, text)) => (*form, Some(text.as_str())),
        None => (TextForm::default(), None),
    };
    let desired = form.encode(&edit.apply(text).map_err(|e| Error::at(path, e))?);
    if file.bytes.as_deref() == Some(desired.as_slice()) {
        return Ok(None);
    }
    let prior = facts.journal.get(entry_name).cloned();
    if let Some(prior) = &prior {
        if prior.path != resolved {
            return Err(Error::new(format!(
                "enable switched {} before, not {}; run 'nydus-overlayfs-setup disable' first",
                prior.path.display(),
                resolved.display()
            )));
        }
    }
    let entry = Entry {
        path: resolved.clone(),
        original: match &prior {
            Some(prior) => prior.original.clone(),
            None => file.bytes.clone(),
        },
        ours: desired,
        created_dirs: prior.as_ref().map_or(file.missing_dirs, |p| p.created_dirs),
        edit: match &prior {
            Some(prior) => prior.edit.clone().union(edit),
            None => edit.clone(),
        },
    };
    Ok(Some(Change {
        entry_name,
        via_link: (resolved != path).then(|| path.to_path_buf()),
        file: resolved,
        action: Action::Switch {
            entry: Box::new(entry),
            before: file.bytes.clone(),
            prior: prior.map(Box::new),
        },
    }))
}

/// What `disable` would do: undo every file the journal records (in the
/// journal's order, containerd's first, as enable wrote them).
pub fn disable(facts: &Facts) -> Result<Plan, Error> {
    let mut changes = Vec::new();
    for (&entry_name, entry) in &facts.journal {
        let current = &facts.file(&entry.path).bytes;
        let action = match (current, &entry.original) {
            (None, _) => Action::Forget,
            (Some(current), Some(original)) if *current == entry.ours => Action::Restore {
                original: original.clone(),
            },
            (Some(current), None) if *current == entry.ours => Action::Remove {
                created_dirs: entry.created_dirs,
            },
            (Some(current), original) => {
                let (form, text) =
                    TextForm::decode(current).map_err(|e| Error::at(&entry.path, e))?;
                let original = original
                    .as_deref()
                    .map(|o| TextForm::decode(o).map(|(_, text)| text))
                    .transpose()
                    .map_err(|e| Error::at(&entry.path, format!("journal's original: {e}")))?;
                let reverted = entry
                    .edit
                    .revert(&text, original.as_deref())
                    .map_err(|e| Error::at(&entry.path, e))?;
                Action::Revert {
                    reverted: (reverted != text).then(|| form.encode(&reverted)),
                }
            }
        };
        changes.push(Change {
            entry_name,
            file: entry.path.clone(),
            via_link: None,
            action,
        });
    }
    Ok(Plan { changes })
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl Change {
    /// What the change did, or (`done` false, for a dry run) would do.
    pub fn describe(&self, done: bool) -> String {
        let file = self.file.display();
        let via = self.via_link.as_ref().map_or(String::new(), |link| {
            format!(" (where {} leads)", link.display())
        });
        match (&self.action, done) {
            (Action::Switch { .. }, true) => format!("switched {file}{via}"),
            (Action::Switch { entry, before, .. }, false) => format!(
                "would {} {file}{via}: {}",
                if before.is_some() { "switch" } else { "create" },
                describe_edit(&entry.edit)
            ),
            (Action::Restore { .. }, true) => format!("restored {file}"),
            (Action::Restore { .. }, false) => {
                format!("would restore {file} as it was before enable")
            }
            (Action::Remove { .. }, true) => format!("removed {file} (enable had created it)"),
            (Action::Remove { .. }, false) => format!("would remove {file} (enable created it)"),
            (Action::Revert { .. }, true) => {
                format!("removed our settings from {file} (edited since enable; your edits kept)")
            }
            (Action::Revert { .. }, false) => format!(
                "would remove our settings from {file} (edited since enable; your edits kept)"
            ),
            (Action::Forget, true) => format!("{file} is gone; forgot it"),
            (Action::Forget, false) => format!("would forget {file} (it is gone)"),
        }
    }
}

fn describe_edit(edit: &ConfigEdit) -> String {
    let imports = edit.imports.iter().map(|i| format!("import {i}"));
    let keys = edit.keys.iter().map(|k| {
        format!(
            "set {} = {}",
            k.path
                .iter()
                .map(|p| if p.contains('.') {
                    format!("'{p}'")
                } else {
                    p.clone()
                })
                .collect::<Vec<_>>()
                .join("."),
            k.value.clone().decorated("", "")
        )
    });
    imports.chain(keys).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{}", change.describe(false))?;
        }
        Ok(())
    }
}
