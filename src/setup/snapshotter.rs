//! What switching asks of nydus-snapshotter's config.toml (which has no
//! drop-in mechanism): `[snapshot] enable_nydus_overlayfs = true` — the
//! modern form of `--enable-nydus-overlayfs` — and, from 0.15 on, the
//! helper's absolute path, so containerd runs ours whatever its PATH holds.
//! And what a config file makes nydus-snapshotter do.

use std::path::Path;

use toml_edit::Item;

use super::config_edit::{ConfigEdit, ManagedKey, parse};
use super::probe::Version;

/// The first nydus-snapshotter with `nydus_overlayfs_path`.
pub const PATH_SETTING_SINCE: Version = Version::new(0, 15, 0);

/// The helper's name when the config names none: found through PATH.
pub const DEFAULT_HELPER: &str = "nydus-overlayfs";

const ENABLE: [&str; 2] = ["snapshot", "enable_nydus_overlayfs"];
const HELPER_PATH: [&str; 2] = ["snapshot", "nydus_overlayfs_path"];

pub fn edit(helper: &Path, snapshotter: Option<Version>) -> ConfigEdit {
    let mut keys = vec![ManagedKey::new(&ENABLE, true)];
    if pins_helper(snapshotter) {
        keys.push(ManagedKey::new(&HELPER_PATH, helper.display().to_string()));
    }
    ConfigEdit {
        keys,
        imports: Vec::new(),
        new_file: "version = 1\n".to_string(),
    }
}

/// Whether this release reads `nydus_overlayfs_path`.
pub fn pins_helper(snapshotter: Option<Version>) -> bool {
    snapshotter.is_some_and(|v| v >= PATH_SETTING_SINCE)
}

/// What nydus-snapshotter does with its config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    /// It hands containerd `fuse.nydus-overlayfs` mounts.
    pub enables_helper: bool,
    /// The helper it names: a path, or a name containerd finds in PATH.
    /// Releases before 0.15 ignore `nydus_overlayfs_path`; when the release
    /// is unknown, a path the file names is taken to be read.
    pub helper: String,
    /// Where it keeps its snapshots and mounts its nydusd's filesystems
    /// (`root`).
    pub root: String,
    /// `cleanup_on_close`: on stop it unmounts every filesystem and stops
    /// every nydusd.
    pub cleanup_on_close: bool,
    /// `[daemon] fs_driver`: how nydusd serves each image (`fusedev`: a
    /// FUSE mount; `fscache`: EROFS over fscache, nydusd still serving).
    pub fs_driver: String,
}

/// nydus-snapshotter's defaults for what the config leaves out.
pub const DEFAULT_ROOT: &str = "/var/lib/containerd-nydus";
pub const DEFAULT_FS_DRIVER: &str = "fusedev";

pub fn effective(config: &str, snapshotter: Option<Version>) -> Result<Effective, String> {
    let doc = parse(config)?;
    let get = |path: &[&str]| -> Option<&Item> {
        let mut item = doc.as_item();
        for name in path {
            item = item.as_table_like()?.get(name)?;
        }
        Some(item)
    };
    let named = get(&HELPER_PATH)
        .and_then(Item::as_str)
        .filter(|p| !p.is_empty() && snapshotter.is_none_or(|v| v >= PATH_SETTING_SINCE));
    Ok(Effective {
        enables_helper: get(&ENABLE).and_then(Item::as_bool) == Some(true),
        helper: named.unwrap_or(DEFAULT_HELPER).to_string(),
        root: get(&["root"])
            .and_then(Item::as_str)
            .filter(|root| !root.is_empty())
            .unwrap_or(DEFAULT_ROOT)
            .to_string(),
        cleanup_on_close: get(&["cleanup_on_close"]).and_then(Item::as_bool) == Some(true),
        fs_driver: get(&["daemon", "fs_driver"])
            .and_then(Item::as_str)
            .unwrap_or(DEFAULT_FS_DRIVER)
            .to_string(),
    })
}
