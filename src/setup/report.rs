//! `status`: what containerd and nydus-snapshotter will do with their
//! effective settings — whoever wrote them — what is missing, and which
//! nydus-overlayfs containerd would run. One report, built from the facts
//! once, is printed either as JSON (`--json`, schema 1, a stable interface
//! for configuration management) or as text: one `name: value` line per
//! field, named as in the JSON.

use serde_json::{Map, Value, json};

use super::containerd;
use super::error::Exit;
use super::facts::{CONTAINERD_ENTRY, Facts, FileFacts, SNAPSHOTTER_ENTRY};
use super::layout::MOUNT_HELPER_LINK;
use super::plan;
use super::restart;
use super::snapshotter;

/// The node's state as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Every part in place: containerd mounts Nydus snapshots with our helper.
    Switched,
    /// Neither program is switched.
    NotSwitched,
    /// Some parts in place, some missing: see the problems.
    Partial,
}

impl State {
    pub fn exit(self) -> Exit {
        match self {
            State::Switched => Exit::Done,
            State::NotSwitched => Exit::NotSwitched,
            State::Partial => Exit::Partial,
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

pub struct Status {
    pub state: State,
    /// The report, schema 1.
    pub fields: Value,
}

/// The status of the node these facts were gathered on.
pub fn status(facts: &Facts) -> Status {
    let probes = &facts.probes;
    let settings = &facts.settings;
    // containerd: everything it loads, merged as it merges.
    let site = &facts.site;
    let containerd_file = facts.file(&site.config);
    let containerd_effective =
        containerd::effective(&facts.containerd_loads.files, facts.containerd_version());
    let containerd_switched = containerd_effective
        .as_ref()
        .map(containerd::Effective::uses_nydus);

    // nydus-snapshotter: its one file.
    let nydus_file = facts.file(&settings.nydus_config);
    let nydus_effective = facts
        .nydus_settings
        .as_ref()
        .and_then(|settings| settings.as_ref().ok());
    let nydus_switched = nydus_effective.map(|e| e.enables_helper);

    // The helper containerd runs: the path nydus-snapshotter names, else
    // the name looked up in containerd's PATH.
    let named = nydus_effective.map_or(snapshotter::DEFAULT_HELPER.to_string(), |e| {
        e.helper.clone()
    });
    let pinned_path = named
        .starts_with('/')
        .then(|| std::path::PathBuf::from(&named));
    let ours = probes.helper_canonical.as_ref();
    let helper_pinned =
        pinned_path.is_some() && ours.is_some() && probes.named_helper_canonical.as_ref() == ours;
    let path_lookup_is_ours = ours.is_some() && probes.path_lookup_canonical.as_ref() == ours;

    let mut problems = Vec::new();
    let mut problem = |condition: bool, text: String| {
        if condition {
            problems.push(text);
        }
    };
    // What to do about a part not switched: enable, unless enable would
    // fail, and then what enable says.
    let enable_advice = match plan::enable(facts) {
        Ok(_) => "run 'nydus-overlayfs-setup enable'".to_string(),
        Err(e) => format!("enable would fail: {e}"),
    };
    problem(
        ours.is_none(),
        format!("the helper {} is missing", facts.helper.display()),
    );
    problem(
        probes.mount_fuse.is_none(),
        "mount.fuse is missing: install fuse3 (or fuse)".to_string(),
    );
    problem(
        probes.overlayfs_loaded == Some(false),
        "the kernel has no overlayfs loaded: run 'modprobe overlay'".to_string(),
    );
    problem(
        !probes.mount_helper_link_ok,
        format!(
            "{MOUNT_HELPER_LINK} does not lead to the helper (mount -t fuse.nydus-overlayfs will not work)"
        ),
    );
    for (path, why) in &facts.containerd_loads.invalid {
        problem(
            true,
            format!("{}: {why}: containerd will not start", path.display()),
        );
    }
    if let Some(Err(e)) = &facts.nydus_settings {
        problem(
            true,
            format!(
                "{}: {e}: nydus-snapshotter will not start",
                settings.nydus_config.display()
            ),
        );
    }
    for (importer, missing) in &facts.containerd_loads.missing {
        problem(
            true,
            format!(
                "{} imports {}, which does not exist: containerd will not start (restore it, or remove it from the imports)",
                importer.display(),
                missing.display()
            ),
        );
    }
    if let Some(running) = &site.running_config {
        problem(
            true,
            format!(
                "the running containerd reads {}, but its unit now says {}: restart containerd",
                running.display(),
                site.config.display()
            ),
        );
    }
    problem(
        containerd_switched.is_none(),
        "containerd's version is unknown, and its version 2 config means different things to 1.x and 2.x: is containerd installed? (or pass --containerd-version)".to_string(),
    );
    problem(
        containerd_switched == Some(false),
        format!(
            "containerd does not use the nydus snapshotter{} ({}): {enable_advice}",
            if containerd_effective
                .as_ref()
                .is_some_and(|e| e.cri_disabled)
            {
                ""
            } else {
                " for CRI"
            },
            containerd_effective
                .as_ref()
                .map(missing_containerd_settings)
                .unwrap_or_default()
        ),
    );
    problem(
        nydus_file.bytes.is_none(),
        format!(
            "{} does not exist: is nydus-snapshotter installed?",
            settings.nydus_config.display()
        ),
    );
    problem(
        nydus_file.bytes.is_some() && nydus_switched != Some(true),
        format!(
            "nydus-snapshotter does not hand containerd nydus-overlayfs mounts ([snapshot] enable_nydus_overlayfs is not true in {}): {enable_advice}",
            settings.nydus_config.display()
        ),
    );
    problem(
        pinned_path.is_some() && !helper_pinned,
        format!("nydus-snapshotter names {named} as its helper, not ours"),
    );
    problem(
        pinned_path.is_none() && !path_lookup_is_ours,
        match &probes.path_lookup {
            Some(found) => format!("containerd's PATH runs {}, not our helper", found.display()),
            None => "containerd's PATH has no nydus-overlayfs".to_string(),
        },
    );

    let state = if problems.is_empty() {
        State::Switched
    } else if containerd_switched != Some(true) && nydus_switched != Some(true) {
        State::NotSwitched
    } else {
        State::Partial
    };
    let journaled = |name: &str| facts.journal.contains_key(name);
    let fields = json!({
        "schema": 1,
        "state": state.word(),
        "flavor": {
            "name": site.flavor.name,
            "config_from": site.config_from,
            "keeps_switch_in": site.flavor.keeps,
            "units": site.units,
        },
        "helper": { "path": facts.helper, "present": ours.is_some() },
        "containerd_path_lookup": {
            "found": probes.path_lookup,
            "is_ours": path_lookup_is_ours,
            "search_path_of": probes.search_path_of,
        },
        "helper_pinned_by_snapshotter": helper_pinned,
        "mount_helper_link": { "path": MOUNT_HELPER_LINK, "ok": probes.mount_helper_link_ok },
        "mount_fuse": probes.mount_fuse,
        "overlayfs_loaded": probes.overlayfs_loaded,
        "containerd": part(
            &site.config,
            containerd_file,
            facts.containerd,
            containerd_switched,
            journaled(CONTAINERD_ENTRY),
            containerd_effective.as_ref().map(|e| json!({
                "nydus_plugin_address": e.nydus_plugin_address,
                "snapshotter": e.snapshotter,
                "disable_snapshot_annotations": e.disable_snapshot_annotations,
                "discard_unpacked_layers": e.discard_unpacked_layers,
                "cri_disabled": e.cri_disabled,
                "loaded_files": facts.containerd_loads.files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            })),
        ),
        "nydus_snapshotter": part(
            &settings.nydus_config,
            nydus_file,
            facts.snapshotter,
            nydus_switched,
            journaled(SNAPSHOTTER_ENTRY),
            nydus_effective.map(|e| json!({
                "enable_nydus_overlayfs": e.enables_helper,
                "helper": e.helper,
            })),
        ),
        "services": restart::status_json(&facts.services),
        "problems": problems,
        "notes": site.flavor.note.into_iter().collect::<Vec<_>>(),
    });
    Status { state, fields }
}

fn missing_containerd_settings(effective: &containerd::Effective) -> String {
    let mut missing = Vec::new();
    if effective.nydus_plugin_address.is_none() {
        missing.push("no [proxy_plugins.nydus] snapshot plugin".to_string());
    }
    if effective.cri_disabled {
        // CRI is off: its keys mean nothing.
        return missing.join(", ");
    }
    if effective.snapshotter.as_deref() != Some("nydus") {
        missing.push(format!(
            "snapshotter is {}",
            effective
                .snapshotter
                .as_deref()
                .map_or("the default".to_string(), |s| format!("'{s}'"))
        ));
    }
    if effective.disable_snapshot_annotations != Some(false) {
        missing.push("snapshot annotations are disabled".to_string());
    }
    if effective.discard_unpacked_layers == Some(true) {
        missing.push("unpacked layers are discarded".to_string());
    }
    missing.join(", ")
}

fn part(
    path: &std::path::Path,
    file: &FileFacts,
    release: Option<super::facts::Release>,
    switched: Option<bool>,
    journaled: bool,
    effective: Option<Value>,
) -> Value {
    json!({
        "config": path,
        "config_exists": file.bytes.is_some(),
        "config_file": file.resolved.as_ref().ok(),
        "config_is_link": file.is_link,
        "version": release.map(|r| r.version.to_string()),
        "version_from": release.map(|r| r.source),
        "switched": switched,
        "switched_by_setup": journaled,
        "switched_by": match (switched, journaled) {
            (Some(true), true) => Some("nydus-overlayfs-setup"),
            (Some(true), false) => Some("other"),
            _ => None,
        },
        "effective": effective,
    })
}

impl Status {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.fields).expect("JSON of plain values")
    }

    /// One `name: value` line per field, nested names joined with dots, in
    /// the JSON's order; each problem on a line of its own.
    pub fn to_text(&self) -> String {
        let mut lines = Vec::new();
        let Value::Object(fields) = &self.fields else {
            unreachable!("the report is an object")
        };
        flatten("", fields, &mut lines);
        lines.join("\n") + "\n"
    }
}

fn flatten(prefix: &str, fields: &Map<String, Value>, lines: &mut Vec<String>) {
    for (key, value) in fields {
        if key == "schema" {
            continue;
        }
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten(&name, inner, lines),
            Value::Array(items) => {
                let singular = name.strip_suffix('s').unwrap_or(&name);
                for item in items {
                    lines.push(format!("{singular}: {}", scalar(item)));
                }
            }
            other => lines.push(format!("{name}: {}", scalar(other))),
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "unknown".to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
