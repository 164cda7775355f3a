//! What switching asks of nydus-snapshotter's config.toml (which has no
//! drop-in mechanism): `[snapshot] enable_nydus_overlayfs = true` — the
//! modern form of `--enable-nydus-overlayfs` — and, from 0.15 on, the
//! helper's absolute path, so containerd runs ours whatever its PATH holds.

use std::path::Path;

use super::probe::Version;
use super::toml_keys::{ManagedKey, TomlSwitch};

/// The first nydus-snapshotter with `nydus_overlayfs_path`.
pub const PATH_SETTING_SINCE: Version = Version::new(0, 15, 0);

pub fn switch(helper: &Path, snapshotter: Option<Version>) -> TomlSwitch {
    let mut keys = vec![ManagedKey::new(
        &["snapshot", "enable_nydus_overlayfs"],
        true,
    )];
    if snapshotter.is_some_and(|v| v >= PATH_SETTING_SINCE) {
        keys.push(ManagedKey::new(
            &["snapshot", "nydus_overlayfs_path"],
            helper.display().to_string(),
        ));
    }
    TomlSwitch {
        keys,
        imports: Vec::new(),
        new_file: "version = 1\n".to_string(),
    }
}
