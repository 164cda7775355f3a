//! What switching asks of containerd's config.toml, per containerd version
//! and config version (measured with `containerd config dump`):
//! - every version loads the nydus snapshotter's `[proxy_plugins.nydus]`
//!   from our drop-in, once config.toml imports it;
//! - 1.6/1.7: an imported CRI table replaces config.toml's whole CRI table
//!   (CNI path, sandbox image, SystemdCgroup lost), so the CRI keys go into
//!   config.toml itself;
//! - 2.x: plugin tables deep-merge, so the CRI keys come from a drop-in of
//!   the root's config version (a version 2 one carries the runc stanza
//!   without which the 2→3 migration drops them).

use super::layout::Layout;
use super::probe::Version;
use super::toml_keys::{ManagedKey, TomlSwitch};

/// The CRI settings the nydus snapshotter needs.
const CRI_SETTINGS: [(&str, bool); 2] = [
    ("disable_snapshot_annotations", false),
    ("discard_unpacked_layers", false),
];

/// The switch for config.toml, given containerd's version and the file.
pub fn switch(containerd: Version, config: Option<&str>) -> Result<TomlSwitch, String> {
    let config_version = match config {
        None => 2,
        Some(text) => config_version(text)?,
    };
    let proxy = Layout::proxy_plugin_dropin().display().to_string();
    let cri = Layout::cri_dropin().display().to_string();
    let new_file = "version = 2\n".to_string();
    match (containerd.major, config_version) {
        (1, 2) => {
            let table = ["plugins", "io.containerd.grpc.v1.cri", "containerd"];
            let mut keys = vec![ManagedKey::new(
                &[&table[..], &["snapshotter"]].concat(),
                "nydus",
            )];
            keys.extend(
                CRI_SETTINGS
                    .iter()
                    .map(|(key, value)| ManagedKey::new(&[&table[..], &[*key]].concat(), *value)),
            );
            Ok(TomlSwitch {
                keys,
                imports: vec![proxy],
                new_file,
            })
        }
        (2.., 2) => Ok(TomlSwitch {
            keys: Vec::new(),
            imports: vec![proxy, cri],
            new_file,
        }),
        (2.., 3) => Ok(TomlSwitch {
            keys: [("snapshotter", toml_edit::Value::from("nydus"))]
                .into_iter()
                .chain(
                    CRI_SETTINGS
                        .iter()
                        .map(|(k, v)| (*k, toml_edit::Value::from(*v))),
                )
                .map(|(key, value)| {
                    ManagedKey::new(&["plugins", "io.containerd.cri.v1.images", key], value)
                })
                .collect(),
            imports: vec![proxy],
            new_file,
        }),
        (major, version) => Err(format!(
            "containerd {major}.x with a version {version} config.toml is not supported; migrate it with 'containerd config migrate' (containerd 1.6+ reads version 2)"
        )),
    }
}

/// The `version` of a containerd config (1 when absent, as containerd reads it).
pub fn config_version(text: &str) -> Result<i64, String> {
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        format!(
            "not valid TOML: {}",
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    match doc.get("version") {
        None => Ok(1),
        Some(item) => item
            .as_integer()
            .ok_or_else(|| "'version' is not a number".to_string()),
    }
}
