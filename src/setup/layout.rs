//! Where things live on a node: the paths fixed at build time and the
//! admin's settings. Every path is the node's own (`/etc/...`); the node's
//! files are reached through [`NodeFs`], under `--root` or not.

use std::path::{Path, PathBuf};

use super::error::Error;
use super::flavor::Flavor;
use super::install;
use super::rootfs::NodeFs;

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
    /// The helper as the node sees it: beside this setup binary, or where
    /// `install` put it.
    helper: PathBuf,
    /// The containerd drop-ins enable imports, as the node sees them.
    drop_ins: DropIns,
    settings: Settings,
}

/// The two containerd drop-ins the packages (or `install`) put on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropIns {
    /// Declares the nydus snapshotter plugin.
    pub proxy_plugin: PathBuf,
    /// containerd ≥ 2.0: makes CRI use the nydus snapshotter.
    pub cri: PathBuf,
}

impl DropIns {
    /// Under DATADIR: where the packages put them.
    pub fn packaged() -> DropIns {
        DropIns::under(Path::new(DATADIR))
    }

    /// Under `datadir` (`/usr/share`, `/usr/local/share`…).
    pub fn under(datadir: &Path) -> DropIns {
        let dir = datadir.join("nydus-overlayfs/containerd");
        DropIns {
            proxy_plugin: dir.join("nydus-snapshotter.toml"),
            cri: dir.join("nydus-cri.toml"),
        }
    }
}

/// The admin's settings, from `setup.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// containerd's config as the admin set it; `None`: as the node's
    /// flavor and containerd's unit say (flavor::Site).
    pub containerd_config: Option<PathBuf>,
    pub nydus_config: PathBuf,
    /// The kind of node as `--flavor` names it; `None`: as its files say.
    pub flavor: Option<&'static Flavor>,
}

impl Layout {
    /// The layout of `node`, with the helper at `helper` and the admin's
    /// settings read from the node.
    pub fn new(node: &NodeFs, helper: PathBuf) -> Result<Layout, Error> {
        Layout::with_record(node, helper, install::Record::read(node)?)
    }

    /// The layout for the running setup binary: on a node where `install`
    /// put the files, as it put them; else the helper beside this program.
    pub fn for_this_binary(node: &NodeFs) -> Result<Layout, Error> {
        let installed = install::Record::read(node)?;
        let helper = match &installed {
            Some(record) => record.helper(),
            None => std::env::current_exe()
                .map_err(|e| {
                    Error::new(format!("cannot tell where this program is installed: {e}"))
                })?
                .with_file_name(HELPER_NAME),
        };
        Layout::with_record(node, helper, installed)
    }

    /// The drop-ins where `installed` says install put them, else where the
    /// packages do.
    fn with_record(
        node: &NodeFs,
        helper: PathBuf,
        installed: Option<install::Record>,
    ) -> Result<Layout, Error> {
        Ok(Layout {
            helper,
            drop_ins: installed.map_or_else(DropIns::packaged, |record| record.drop_ins()),
            settings: read_settings(node)?,
        })
    }

    pub fn helper(&self) -> &Path {
        &self.helper
    }

    /// This layout on a node of the flavor `flavor`, whatever its files say.
    pub fn with_flavor(mut self, flavor: &'static Flavor) -> Layout {
        self.settings.flavor = Some(flavor);
        self
    }

    pub fn drop_ins(&self) -> &DropIns {
        &self.drop_ins
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

    /// The node's lock: in the journal's directory, inside the node's root.
    pub fn lock_file() -> PathBuf {
        Layout::state_dir().join("lock")
    }
}

fn read_settings(node: &NodeFs) -> Result<Settings, Error> {
    let mut settings = Settings {
        containerd_config: None,
        nydus_config: PathBuf::from("/etc/nydus/config.toml"),
        flavor: None,
    };
    let file = Layout::settings_file();
    let bad = |what: String| Error::new(format!("{}: {what}", file.display()));
    let text = match node.read(&file) {
        Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?,
        Ok(None) => return Ok(settings),
        Err(e) => return Err(bad(e.to_string())),
    };
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| bad(format!("not valid TOML: {e}")))?;
    for (key, item) in doc.iter() {
        let path = item.as_str().filter(|p| p.starts_with('/'));
        let path = PathBuf::from(
            path.ok_or_else(|| bad(format!("'{key}' must be an absolute path in quotes")))?,
        );
        match key {
            "containerd_config" => settings.containerd_config = Some(path),
            "nydus_config" => settings.nydus_config = path,
            other => return Err(bad(format!("unknown setting '{other}'"))),
        }
    }
    Ok(settings)
}
