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
use super::facts::{CONTAINERD_ENTRY, Facts, SNAPSHOTTER_ENTRY, SOURCE_ENTRY};
use super::flavor::{self, Route};
use super::journal::Entry;
use super::layout::Layout;
use super::nodeadm;
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
    /// disable: a file enable wrote whole, edited since; left as it is.
    Keep,
}

/// The changes, in the order they are applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

/// What `enable` would do on a node with these facts.
pub fn enable(facts: &Facts) -> Result<Plan, Error> {
    let nydus_path = &facts.settings.nydus_config;
    if facts.file(nydus_path).bytes.is_none() {
        return Err(Error::new(format!(
            "{} does not exist: install and configure nydus-snapshotter first (or set nydus_config in {})",
            nydus_path.display(),
            Layout::settings_file().display()
        )));
    }
    let mut changes = containerd_changes(facts)?;
    let nydus_edit = snapshotter::edit(&facts.helper, facts.snapshotter_version());
    changes.extend(switch(
        facts,
        SNAPSHOTTER_ENTRY,
        nydus_path,
        &Desired::Edit(&nydus_edit),
    )?);
    Ok(Plan { changes })
}

/// What enable changes for containerd, where the node's flavor keeps it.
fn containerd_changes(facts: &Facts) -> Result<Vec<Change>, Error> {
    let site = &facts.site;
    let flavor = site.flavor;
    let config = &site.config;
    match flavor.route {
        Route::Refuse(why) => Err(Error::new(format!(
            "{} node: {why}; nothing was changed",
            flavor.name
        ))),
        Route::InConfig | Route::Template(_) => in_config(facts, &site.edited_config()),
        Route::ImportedDropIn => {
            let refuse = |why: String| {
                Error::at(
                    config,
                    format!(
                        "{} ({}) writes this file itself, so a switch made in it would be lost, and {why}; nothing was changed",
                        flavor.name,
                        facts
                            .manager_version
                            .as_deref()
                            .unwrap_or("version unknown")
                    ),
                )
            };
            let Some((_, text)) = decoded(facts, config)? else {
                return Err(refuse(format!(
                    "it has not written it yet: start {0} once, then run enable again \
                     (or, if {0} uses a containerd of its own, name that one's config as containerd_config in {1})",
                    flavor.name,
                    Layout::settings_file().display()
                )));
            };
            if facts.containerd_drop_in.is_none() {
                let written =
                    containerd::ConfigFile::parse(&text).map_err(|e| Error::at(config, e))?;
                let containerd = match written.version {
                    ..=2 => "containerd 1.x",
                    _ => "containerd 2.x",
                };
                return Err(refuse(format!(
                    "its config version {} ({containerd}) imports no directory of drop-ins: \
                     upgrade {} to a release whose config does ({}), or put the nydus settings into its config template yourself",
                    written.version,
                    flavor.name,
                    flavor
                        .releases_that_take_it
                        .unwrap_or("see its release notes")
                )));
            }
            in_config(facts, config)
        }
        Route::NodeConfig(dir) => {
            let current = decoded(facts, config)?;
            let version = match &current {
                Some((_, text)) => {
                    containerd::ConfigFile::parse(text)
                        .map_err(|e| Error::at(config, e))?
                        .version
                }
                None => containerd::rendered_version(facts.containerd_version())
                    .ok_or_else(|| Error::new(unknown_release(facts)))?,
            };
            let inline = containerd::inline_edit(version);
            let toml = inline.apply(None).map_err(Error::new)?;
            let drop_in = Path::new(dir).join(nodeadm::DROP_IN_NAME);
            let mut changes: Vec<Change> = switch(
                facts,
                SOURCE_ENTRY,
                &drop_in,
                &Desired::Whole(nodeadm::node_config(&toml).into_bytes()),
            )?
            .into_iter()
            .collect();
            // Switched now too, where nodeadm has rendered it: the drop-in
            // takes effect at the next boot.
            if current.is_some() {
                changes.extend(switch(
                    facts,
                    CONTAINERD_ENTRY,
                    config,
                    &Desired::Edit(&inline),
                )?);
            }
            Ok(changes)
        }
        Route::CopyToEtc if !config.starts_with("/usr") => in_config(facts, config),
        Route::CopyToEtc => copy_to_etc(facts),
    }
}

/// containerd's switch in the config file `path` (or the drop-in
/// directory it imports), as containerd reads it.
fn containerd_target(facts: &Facts, path: &Path) -> Result<containerd::Target, Error> {
    let config = decoded(facts, path)?;
    target_for_text(facts, path, config.as_ref().map(|(_, text)| text.as_str()))
}

/// The same for the file at `path` holding `text`.
fn target_for_text(
    facts: &Facts,
    path: &Path,
    text: Option<&str>,
) -> Result<containerd::Target, Error> {
    containerd::target(facts.containerd_version(), &facts.drop_ins, path, text).map_err(|refusal| {
        match refusal {
            containerd::Refusal::UnknownRelease => Error::new(unknown_release(facts)),
            containerd::Refusal::Config(why) => Error::at(path, why),
        }
    })
}

/// The switch in the config file at `path` or in a drop-in directory it
/// imports.
fn in_config(facts: &Facts, path: &Path) -> Result<Vec<Change>, Error> {
    let target = containerd_target(facts, path)?;
    // A node enable switched in config.toml itself — before config.toml
    // imported a directory of drop-ins, or by a release that wrote none —
    // stays switched there: the same keys, in the file the journal knows.
    let switched_in_config = facts
        .journal
        .get(CONTAINERD_ENTRY)
        .is_some_and(|prior| facts.file(path).resolved.as_ref() == Ok(&prior.path));
    let target_path = if switched_in_config {
        path.to_path_buf()
    } else {
        target.path
    };
    Ok(switch(
        facts,
        CONTAINERD_ENTRY,
        &target_path,
        &Desired::Edit(&target.edit),
    )?
    .into_iter()
    .collect())
}

/// containerd reads its config under /usr (Flatcar): a switched copy in
/// /etc, and a containerd.service drop-in that points containerd at it.
fn copy_to_etc(facts: &Facts) -> Result<Vec<Change>, Error> {
    let site = &facts.site;
    let config = &site.config;
    let copy = Path::new(flavor::ETC_COPY);
    let Some((_, text)) = decoded(facts, config)? else {
        return Err(Error::at(
            config,
            "containerd is started with this file, which does not exist: fix containerd's unit first",
        ));
    };
    // The copy holds the file's text: switched as that text reads.
    let target = target_for_text(facts, copy, Some(&text))?;
    if target.path != copy {
        // It imports a drop-in directory: that is where the switch goes.
        return in_config(facts, config);
    }
    let ours = facts.journal.contains_key(CONTAINERD_ENTRY);
    if facts.file(copy).bytes.is_some() && !ours {
        return Err(Error::at(
            copy,
            format!(
                "exists, but containerd reads {}: point containerd.service at it with a drop-in, or move it away; nothing was changed",
                config.display()
            ),
        ));
    }
    let variable = site
        .containerd_unit
        .as_ref()
        .and_then(|unit| unit.config_variable())
        .ok_or_else(|| {
            Error::new(format!(
                "containerd.service passes --config {} itself: copy that file to {} and point the unit at the copy, then run enable again; nothing was changed",
                config.display(),
                copy.display()
            ))
        })?;
    let edit = ConfigEdit {
        new_file: text,
        ..target.edit
    };
    let unit_drop_in = flavor::unit_drop_in(&variable, copy);
    let mut changes: Vec<Change> = switch(facts, CONTAINERD_ENTRY, copy, &Desired::Edit(&edit))?
        .into_iter()
        .collect();
    changes.extend(switch(
        facts,
        SOURCE_ENTRY,
        Path::new(flavor::UNIT_DROP_IN),
        &Desired::Whole(unit_drop_in.into_bytes()),
    )?);
    Ok(changes)
}

/// Why containerd's release is needed and unknown, and what to do: on a
/// flavor with a containerd of its own, that one did not say.
fn unknown_release(facts: &Facts) -> String {
    match facts.site.flavor.containerd_programs {
        [] => containerd::Refusal::UnknownRelease.to_string(),
        programs => format!(
            "cannot tell the version of {}'s containerd ({} did not say): pass --containerd-version",
            facts.site.flavor.name,
            programs.join(" or ")
        ),
    }
}

/// What a file should hold once switched.
enum Desired<'a> {
    /// Its text with this edit applied.
    Edit(&'a ConfigEdit),
    /// These bytes, the whole file ours (a drop-in of another syntax).
    Whole(Vec<u8>),
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

/// The change that makes the file at `path` as `desired`, or none when it
/// already is.
fn switch(
    facts: &Facts,
    entry_name: &'static str,
    path: &Path,
    desired: &Desired,
) -> Result<Option<Change>, Error> {
    let file = facts.file(path);
    let resolved = file.resolved.clone().map_err(|e| Error::at(path, e))?;
    let prior = facts.journal.get(entry_name).cloned();
    let (bytes, edit) = match desired {
        Desired::Edit(edit) => {
            let current = decoded(facts, path)?;
            let (form, text) = match &current {
                Some((form, text)) => (*form, Some(text.as_str())),
                None => (TextForm::default(), None),
            };
            let text = edit.apply(text).map_err(|e| Error::at(path, e))?;
            (form.encode(&text), (*edit).clone())
        }
        Desired::Whole(bytes) => {
            let ours = prior
                .as_ref()
                .is_some_and(|p| Some(&p.ours) == file.bytes.as_ref());
            if file.bytes.is_some() && file.bytes.as_ref() != Some(bytes) && !ours {
                return Err(Error::at(
                    path,
                    "exists and is not what nydus-overlayfs-setup wrote: move it away (or run disable), then run enable again",
                ));
            }
            (bytes.clone(), ConfigEdit::default())
        }
    };
    if file.bytes.as_deref() == Some(bytes.as_slice()) {
        return Ok(None);
    }
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
        ours: bytes,
        created_dirs: prior.as_ref().map_or(file.missing_dirs, |p| p.created_dirs),
        edit: match &prior {
            Some(prior) => prior.edit.clone().union(&edit),
            None => edit,
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
            // A file wholly ours, edited since: the edits are the admin's.
            (Some(_), _) if entry.edit == ConfigEdit::default() => Action::Keep,
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
                "would {} {file}{via}{}",
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
            (Action::Keep, true) => {
                format!("left {file} as it is: edited since enable (remove it yourself)")
            }
            (Action::Keep, false) => {
                format!("would leave {file} as it is: edited since enable")
            }
            (Action::Forget, true) => format!("{file} is gone; forgot it"),
            (Action::Forget, false) => format!("would forget {file} (it is gone)"),
        }
    }
}

/// `: set …, import …`; nothing for a file written whole.
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
    let words = imports.chain(keys).collect::<Vec<_>>();
    if words.is_empty() {
        String::new()
    } else {
        format!(": {}", words.join(", "))
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{}", change.describe(false))?;
        }
        Ok(())
    }
}
