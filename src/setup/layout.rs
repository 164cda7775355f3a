//! Where things live on a node. Every path is the node's own (`/etc/...`);
//! `Layout::host` maps it under `--root` for image builds and tests.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Directories fixed at build time by `make` (SYSCONFDIR, DATADIR,
/// LOCALSTATEDIR), with the FHS places the packages use as defaults.
const SYSCONFDIR: &str = match option_env!("NYDUS_OVERLAYFS_SYSCONFDIR") {
    Some(dir) => dir,
    None => "/etc",
};
const DATADIR: &str = match option_env!("NYDUS_OVERLAYFS_DATADIR") {
    Some(dir) => dir,
    None => "/usr/share",
};
const LOCALSTATEDIR: &str = match option_env!("NYDUS_OVERLAYFS_LOCALSTATEDIR") {
    Some(dir) => dir,
    None => "/var",
};

/// The directories systemd starts services with (its default PATH), which
/// is where containerd, and so mount.fuse, look for the helper.
pub const SERVICE_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

pub const HELPER_NAME: &str = "nydus-overlayfs";

/// Where mount(8) looks for the helper of type fuse.nydus-overlayfs.
pub const MOUNT_HELPER_LINK: &str = "/sbin/mount.fuse.nydus-overlayfs";

#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    /// The helper as the node sees it: beside this setup binary.
    helper: PathBuf,
    settings: Settings,
}

/// The admin's settings, from `setup.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub containerd_config: PathBuf,
    pub nydus_config: PathBuf,
}

impl Layout {
    /// The layout of the node under `root` (`/` for this machine), with the
    /// helper at `helper` and the admin's settings read from it.
    pub fn new(root: &Path, helper: PathBuf) -> Result<Layout, Error> {
        let mut layout = Layout {
            root: root.to_path_buf(),
            helper,
            settings: Settings {
                containerd_config: PathBuf::from("/etc/containerd/config.toml"),
                nydus_config: PathBuf::from("/etc/nydus/config.toml"),
            },
        };
        layout.settings = layout.read_settings()?;
        Ok(layout)
    }

    /// The layout for the running setup binary, its helper beside it.
    pub fn for_this_binary(root: &Path) -> Result<Layout, Error> {
        let exe = std::env::current_exe().map_err(|e| {
            Error::usage(format!("cannot tell where this program is installed: {e}"))
        })?;
        Layout::new(root, exe.with_file_name(HELPER_NAME))
    }

    /// A node path as this process reaches it.
    pub fn host(&self, node_path: impl AsRef<Path>) -> PathBuf {
        let node_path = node_path.as_ref();
        self.root
            .join(node_path.strip_prefix("/").unwrap_or(node_path))
    }

    pub fn is_host_root(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn helper(&self) -> &Path {
        &self.helper
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn settings_file() -> PathBuf {
        Path::new(SYSCONFDIR).join("nydus-overlayfs/setup.toml")
    }

    /// The admin's opt-in: when it exists, installing or upgrading the
    /// package switches the node.
    pub fn opt_in_file() -> PathBuf {
        Path::new(SYSCONFDIR).join("nydus-overlayfs/enable-on-install")
    }

    pub fn state_dir() -> PathBuf {
        Path::new(LOCALSTATEDIR).join("lib/nydus-overlayfs")
    }

    /// The containerd drop-in that declares the nydus snapshotter plugin.
    pub fn proxy_plugin_dropin() -> PathBuf {
        Path::new(DATADIR).join("nydus-overlayfs/containerd/nydus-snapshotter.toml")
    }

    /// The containerd ≥ 2.0 drop-in that makes CRI use the nydus snapshotter.
    pub fn cri_dropin() -> PathBuf {
        Path::new(DATADIR).join("nydus-overlayfs/containerd/nydus-cri.toml")
    }

    fn read_settings(&self) -> Result<Settings, Error> {
        let mut settings = self.settings.clone();
        let file = Layout::settings_file();
        let text = match std::fs::read_to_string(self.host(&file)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(settings),
            Err(e) => return Err(Error::usage(format!("cannot read {}: {e}", file.display()))),
        };
        let bad = |what: String| Error::usage(format!("{}: {what}", file.display()));
        let doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e| bad(format!("not valid TOML: {e}")))?;
        for (key, item) in doc.iter() {
            let slot = match key {
                "containerd_config" => &mut settings.containerd_config,
                "nydus_config" => &mut settings.nydus_config,
                other => return Err(bad(format!("unknown setting '{other}'"))),
            };
            let path = item.as_str().filter(|p| p.starts_with('/'));
            *slot = PathBuf::from(
                path.ok_or_else(|| bad(format!("'{key}' must be an absolute path in quotes")))?,
            );
        }
        Ok(settings)
    }
}
