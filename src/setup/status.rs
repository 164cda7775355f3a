//! `status`: what is switched, what is missing, and which nydus-overlayfs
//! containerd would run. A stable JSON form (`--json`, schema 1) and exit
//! codes let configuration management act on it without parsing prose.

use std::path::PathBuf;

use serde_json::json;

use super::journal::Entry;
use super::layout::{HELPER_NAME, Layout, MOUNT_HELPER_LINK};
use super::probe::{self, Version};
use super::switch::{self, CONTAINERD_ENTRY, SNAPSHOTTER_ENTRY, Versions};
use super::{containerd, snapshotter};

/// The node's state as a whole, with its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Every part in place: containerd mounts Nydus snapshots with our helper.
    Switched,
    /// Neither config file switched.
    NotSwitched,
    /// Some parts in place, some missing: see the problems.
    Partial,
}

impl State {
    pub fn exit_code(self) -> u8 {
        match self {
            State::Switched => 0,
            State::NotSwitched => 3,
            State::Partial => 4,
        }
    }

    fn word(self) -> &'static str {
        match self {
            State::Switched => "switched",
            State::NotSwitched => "not-switched",
            State::Partial => "partial",
        }
    }
}

/// One config file's part.
#[derive(Clone, Debug)]
pub struct ConfigPart {
    pub path: PathBuf,
    pub exists: bool,
    pub version: Option<Version>,
    /// `None` when it cannot be told (containerd's version unknown, bad TOML).
    pub switched: Option<bool>,
    /// Whether enable's journal holds this file (disable would undo it).
    pub journaled: bool,
}

#[derive(Clone, Debug)]
pub struct Status {
    pub state: State,
    pub helper: PathBuf,
    pub helper_present: bool,
    /// The nydus-overlayfs containerd's PATH leads to, and whose PATH that is.
    pub path_lookup: Option<PathBuf>,
    pub path_source: &'static str,
    pub path_lookup_is_ours: bool,
    /// nydus-snapshotter names our helper by its absolute path.
    pub helper_pinned: bool,
    pub mount_helper_link_ok: bool,
    pub mount_fuse: Option<PathBuf>,
    /// `None` when not known (another root than this machine's).
    pub overlayfs: Option<bool>,
    pub containerd: ConfigPart,
    pub snapshotter: ConfigPart,
    pub problems: Vec<String>,
}

pub fn status(layout: &Layout, versions: Versions) -> Status {
    let journal = switch::journal(layout);
    let journaled = |name: &str| matches!(journal.get(name), Ok(Some(Entry { .. })));
    let settings = layout.settings();
    let read = |path: &PathBuf| switch::read_optional(&layout.host(path)).ok().flatten();

    let containerd_text = read(&settings.containerd_config);
    let containerd = ConfigPart {
        path: settings.containerd_config.clone(),
        exists: containerd_text.is_some(),
        version: versions.containerd,
        switched: versions
            .containerd
            .and_then(|v| containerd::switch(v, containerd_text.as_deref()).ok())
            .map(|s| s.is_applied(containerd_text.as_deref())),
        journaled: journaled(CONTAINERD_ENTRY),
    };
    let nydus_text = read(&settings.nydus_config);
    let nydus_switch = snapshotter::switch(layout.helper(), versions.snapshotter);
    let snapshotter_part = ConfigPart {
        path: settings.nydus_config.clone(),
        exists: nydus_text.is_some(),
        version: versions.snapshotter,
        switched: nydus_text
            .as_ref()
            .map(|_| nydus_switch.is_applied(nydus_text.as_deref())),
        journaled: journaled(SNAPSHOTTER_ENTRY),
    };
    let helper_pinned = nydus_switch.keys.len() > 1 && snapshotter_part.switched == Some(true);

    let ours = probe::resolve(layout, layout.helper());
    let (search_path, path_source) = probe::containerd_search_path(layout);
    let path_lookup = probe::find_program(layout, HELPER_NAME, &search_path);
    let path_lookup_is_ours = ours.is_some()
        && path_lookup
            .as_deref()
            .and_then(|p| probe::resolve(layout, p))
            == ours;
    let mount_helper_link_ok = ours.is_some() && probe::mount_helper_link_leads_to_helper(layout);
    let mount_fuse = probe::mount_fuse(layout);
    let overlayfs = layout.is_host_root().then(probe::overlay_registered);

    let mut problems = Vec::new();
    let mut problem = |condition: bool, text: String| {
        if condition {
            problems.push(text);
        }
    };
    problem(
        ours.is_none(),
        format!("the helper {} is missing", layout.helper().display()),
    );
    problem(
        mount_fuse.is_none(),
        "mount.fuse is missing: install fuse3 (or fuse)".to_string(),
    );
    problem(
        overlayfs == Some(false),
        "the kernel has no overlayfs loaded: run 'modprobe overlay'".to_string(),
    );
    problem(
        !mount_helper_link_ok,
        format!(
            "{MOUNT_HELPER_LINK} does not lead to the helper (mount -t fuse.nydus-overlayfs will not work)"
        ),
    );
    problem(
        versions.containerd.is_none(),
        "containerd's version is unknown: is containerd installed?".to_string(),
    );
    problem(
        containerd.switched == Some(false),
        format!(
            "{} is not switched: run 'nydus-overlayfs-setup enable'",
            containerd.path.display()
        ),
    );
    problem(
        !snapshotter_part.exists,
        format!(
            "{} does not exist: is nydus-snapshotter installed?",
            snapshotter_part.path.display()
        ),
    );
    problem(
        snapshotter_part.switched == Some(false),
        format!(
            "{} is not switched: run 'nydus-overlayfs-setup enable'",
            snapshotter_part.path.display()
        ),
    );
    problem(
        !helper_pinned && !path_lookup_is_ours,
        match &path_lookup {
            Some(found) => format!("containerd's PATH runs {}, not our helper", found.display()),
            None => "containerd's PATH has no nydus-overlayfs".to_string(),
        },
    );

    let switched_parts = [containerd.switched, snapshotter_part.switched];
    let state = if problems.is_empty() {
        State::Switched
    } else if switched_parts.iter().all(|s| *s != Some(true)) {
        State::NotSwitched
    } else {
        State::Partial
    };
    Status {
        state,
        helper: layout.helper().to_path_buf(),
        helper_present: ours.is_some(),
        path_lookup,
        path_source,
        path_lookup_is_ours,
        helper_pinned,
        mount_helper_link_ok,
        mount_fuse,
        overlayfs,
        containerd,
        snapshotter: snapshotter_part,
        problems,
    }
}

fn part_json(part: &ConfigPart) -> serde_json::Value {
    json!({
        "config": part.path,
        "config_exists": part.exists,
        "version": part.version.map(|v| v.to_string()),
        "switched": part.switched,
        "switched_by_setup": part.journaled,
    })
}

impl Status {
    /// Schema 1 of `status --json`; fields are only ever added.
    pub fn to_json(&self) -> String {
        let value = json!({
            "schema": 1,
            "state": self.state.word(),
            "helper": { "path": self.helper, "present": self.helper_present },
            "containerd_path_lookup": {
                "found": self.path_lookup,
                "is_ours": self.path_lookup_is_ours,
                "search_path_of": self.path_source,
            },
            "helper_pinned_by_snapshotter": self.helper_pinned,
            "mount_helper_link": { "path": MOUNT_HELPER_LINK, "ok": self.mount_helper_link_ok },
            "mount_fuse": self.mount_fuse,
            "overlayfs_loaded": self.overlayfs,
            "containerd": part_json(&self.containerd),
            "nydus_snapshotter": part_json(&self.snapshotter),
            "problems": self.problems,
        });
        serde_json::to_string_pretty(&value).expect("JSON of plain values")
    }

    pub fn to_text(&self) -> String {
        let yes_no = |b: Option<bool>| match b {
            Some(true) => "switched",
            Some(false) => "not switched",
            None => "unknown",
        };
        let version =
            |v: Option<Version>| v.map_or("version unknown".to_string(), |v| v.to_string());
        let mut lines = vec![
            format!("state: {}", self.state.word()),
            format!(
                "helper: {}{}",
                self.helper.display(),
                if self.helper_present {
                    ""
                } else {
                    " (missing)"
                }
            ),
            format!(
                "containerd's PATH ({}) runs: {}{}",
                self.path_source,
                self.path_lookup
                    .as_ref()
                    .map_or("nothing".to_string(), |p| p.display().to_string()),
                if self.path_lookup_is_ours {
                    " (ours)"
                } else {
                    ""
                }
            ),
            format!(
                "nydus-snapshotter names the helper by path: {}",
                if self.helper_pinned { "yes" } else { "no" }
            ),
            format!(
                "{MOUNT_HELPER_LINK}: {}",
                if self.mount_helper_link_ok {
                    "ok"
                } else {
                    "missing"
                }
            ),
            format!(
                "mount.fuse: {}",
                self.mount_fuse
                    .as_ref()
                    .map_or("missing".to_string(), |p| p.display().to_string())
            ),
            format!(
                "containerd ({}): {} {}",
                version(self.containerd.version),
                self.containerd.path.display(),
                yes_no(self.containerd.switched)
            ),
            format!(
                "nydus-snapshotter ({}): {} {}",
                version(self.snapshotter.version),
                self.snapshotter.path.display(),
                yes_no(self.snapshotter.switched)
            ),
        ];
        lines.extend(self.problems.iter().map(|p| format!("problem: {p}")));
        lines.join("\n") + "\n"
    }
}
