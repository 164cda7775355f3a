//! `enable` and `disable`: switching the node's two config files and back.
//!
//! enable plans every file first (nothing is written if any file cannot be
//! switched), journals each original before touching it, and writes each
//! file atomically; a failed write rolls back the files already written.
//! disable restores each file byte for byte when it is still as enable left
//! it; a file edited since gets only our keys reverted, keeping the edits.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::journal::{self, Entry, Journal};
use super::layout::Layout;
use super::probe::{self, Version};
use super::toml_keys::TomlSwitch;
use super::{containerd, snapshotter};
use crate::error::Error;

pub const CONTAINERD_ENTRY: &str = "containerd-config";
pub const SNAPSHOTTER_ENTRY: &str = "nydus-config";

/// The versions the switch depends on; found on the node unless given.
#[derive(Clone, Copy, Debug, Default)]
pub struct Versions {
    pub containerd: Option<Version>,
    pub snapshotter: Option<Version>,
}

impl Versions {
    pub fn detect(
        layout: &Layout,
        containerd: Option<Version>,
        snapshotter: Option<Version>,
    ) -> Versions {
        Versions {
            containerd: containerd.or_else(|| probe::program_version(layout, "containerd")),
            snapshotter: snapshotter
                .or_else(|| probe::program_version(layout, "containerd-nydus-grpc")),
        }
    }
}

/// One file the switch changes.
#[derive(Clone, Debug)]
pub struct Target {
    pub entry: &'static str,
    pub path: PathBuf,
    pub switch: TomlSwitch,
}

/// What was done to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    Switched(PathBuf),
    Restored(PathBuf),
    /// Edited since enable: only our keys were reverted.
    Reverted(PathBuf),
    Removed(PathBuf),
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done::Switched(p) => write!(f, "switched {}", p.display()),
            Done::Restored(p) => write!(f, "restored {}", p.display()),
            Done::Reverted(p) => write!(
                f,
                "removed our settings from {} (edited since enable; your edits kept)",
                p.display()
            ),
            Done::Removed(p) => write!(f, "removed {} (enable had created it)", p.display()),
        }
    }
}

pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn failed(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::usage(format!("{}: {what}", path.display()))
}

/// The files switching this node changes, and how.
pub fn targets(layout: &Layout, versions: Versions) -> Result<Vec<Target>, Error> {
    let settings = layout.settings();
    let containerd_config = &settings.containerd_config;
    let current =
        read_optional(&layout.host(containerd_config)).map_err(|e| failed(containerd_config, e))?;
    let version = versions.containerd.ok_or_else(|| {
        Error::usage(
            "cannot tell containerd's version: containerd is not installed (or not on systemd's PATH); install it, or pass --containerd-version",
        )
    })?;
    let containerd_switch = containerd::switch(version, current.as_deref())
        .map_err(|e| failed(containerd_config, e))?;

    let nydus_config = &settings.nydus_config;
    if !layout.host(nydus_config).exists() {
        return Err(Error::usage(format!(
            "{} does not exist: install and configure nydus-snapshotter first (or set nydus_config in {})",
            nydus_config.display(),
            Layout::settings_file().display()
        )));
    }
    Ok(vec![
        Target {
            entry: CONTAINERD_ENTRY,
            path: containerd_config.clone(),
            switch: containerd_switch,
        },
        Target {
            entry: SNAPSHOTTER_ENTRY,
            path: nydus_config.clone(),
            switch: snapshotter::switch(layout.helper(), versions.snapshotter),
        },
    ])
}

pub fn journal(layout: &Layout) -> Journal {
    Journal::new(layout.host(Layout::state_dir()))
}

/// Removes the temporary files a killed enable or disable left beside the
/// config files and in the journal, so that no half-written file stays.
fn clean_up_interrupted_runs(layout: &Layout, journal: &Journal) -> Result<(), Error> {
    let settings = layout.settings();
    for path in [&settings.containerd_config, &settings.nydus_config] {
        let host = layout.host(path);
        let dir = host.parent().expect("a config file is in a directory");
        journal::remove_stale_temporaries(dir, &host).map_err(|e| failed(path, e))?;
    }
    journal
        .remove_interrupted(&[CONTAINERD_ENTRY, SNAPSHOTTER_ENTRY])
        .map_err(|e| failed(journal.dir(), e))
}

/// Applies `targets`; returns what changed (nothing when already switched).
pub fn enable(layout: &Layout, targets: &[Target]) -> Result<Vec<Done>, Error> {
    let journal = journal(layout);
    clean_up_interrupted_runs(layout, &journal)?;
    let mut planned = Vec::new();
    for target in targets {
        let host = layout.host(&target.path);
        let current = read_optional(&host).map_err(|e| failed(&target.path, e))?;
        let desired = target
            .switch
            .apply(current.as_deref())
            .map_err(|e| failed(&target.path, e))?;
        if current.as_deref() != Some(desired.as_str()) {
            let prior = journal
                .get(target.entry)
                .map_err(|e| failed(journal.dir(), e))?;
            if let Some(prior) = &prior {
                if prior.path != target.path {
                    return Err(Error::usage(format!(
                        "enable switched {} before, not {}; run disable first",
                        prior.path.display(),
                        target.path.display()
                    )));
                }
            }
            let entry = Entry {
                path: target.path.clone(),
                original: match &prior {
                    Some(prior) => prior.original.clone(),
                    None => current.map(String::into_bytes),
                },
                ours: desired.into_bytes(),
                created_parent: match &prior {
                    Some(prior) => prior.created_parent,
                    None => host.parent().is_some_and(|dir| !dir.exists()),
                },
                switch: match prior {
                    Some(prior) => prior.switch.union(&target.switch),
                    None => target.switch.clone(),
                },
            };
            planned.push((target.entry, entry));
        }
    }
    let mut done = Vec::new();
    for (name, entry) in &planned {
        let written = journal
            .put(name, entry)
            .map_err(|e| failed(journal.dir(), e))
            .and_then(|()| {
                let host = layout.host(&entry.path);
                let parent = host.parent().expect("a config file is in a directory");
                std::fs::create_dir_all(parent)
                    .and_then(|()| journal::write_atomically(&host, &entry.ours, 0o644))
                    .map_err(|e| failed(&entry.path, e))
            });
        if let Err(error) = written {
            for (name, _) in &planned[..done.len()] {
                let _ = disable_entry(layout, &journal, name);
            }
            return Err(error);
        }
        done.push(Done::Switched(entry.path.clone()));
    }
    Ok(done)
}

/// Undoes every file enable changed.
pub fn disable(layout: &Layout) -> Result<Vec<Done>, Error> {
    let journal = journal(layout);
    clean_up_interrupted_runs(layout, &journal)?;
    let mut done = Vec::new();
    for name in [CONTAINERD_ENTRY, SNAPSHOTTER_ENTRY] {
        done.extend(disable_entry(layout, &journal, name)?);
    }
    Ok(done)
}

fn disable_entry(layout: &Layout, journal: &Journal, name: &str) -> Result<Option<Done>, Error> {
    let Some(entry) = journal.get(name).map_err(|e| failed(journal.dir(), e))? else {
        return Ok(None);
    };
    let host = layout.host(&entry.path);
    let current = read_optional(&host).map_err(|e| failed(&entry.path, e))?;
    let done = match (current, &entry.original) {
        (None, _) => None,
        (Some(current), original) if current.as_bytes() == entry.ours => Some(match original {
            Some(original) => {
                journal::write_atomically(&host, original, 0o644)
                    .map_err(|e| failed(&entry.path, e))?;
                Done::Restored(entry.path.clone())
            }
            None => {
                journal::remove_file(&host).map_err(|e| failed(&entry.path, e))?;
                if entry.created_parent {
                    // Only if still empty: anything put there since is not ours.
                    let _ = std::fs::remove_dir(
                        host.parent().expect("a config file is in a directory"),
                    );
                }
                Done::Removed(entry.path.clone())
            }
        }),
        (Some(current), original) => {
            let original = original.as_deref().map(String::from_utf8_lossy);
            let reverted = entry
                .switch
                .revert(&current, original.as_deref())
                .map_err(|e| failed(&entry.path, e))?;
            if reverted != current {
                journal::write_atomically(&host, reverted.as_bytes(), 0o644)
                    .map_err(|e| failed(&entry.path, e))?;
            }
            Some(Done::Reverted(entry.path.clone()))
        }
    };
    journal.remove(name).map_err(|e| failed(journal.dir(), e))?;
    Ok(done)
}

/// Restarts nydus-snapshotter, then containerd, where they run under
/// systemd on this machine; returns what it did, or why not.
pub fn restart_services(layout: &Layout) -> Result<String, Error> {
    if !layout.is_host_root() || !Path::new("/run/systemd/system").exists() {
        return Ok("no restart: systemd does not run this node".to_string());
    }
    for unit in ["nydus-snapshotter.service", "containerd.service"] {
        let status = Command::new("systemctl")
            .args(["try-restart", unit])
            .status()
            .map_err(|e| Error::usage(format!("cannot run systemctl: {e}")))?;
        if !status.success() {
            return Err(Error::usage(format!(
                "systemctl try-restart {unit} failed; see journalctl -u {unit}"
            )));
        }
    }
    Ok("restarted nydus-snapshotter and containerd (where running)".to_string())
}
