//! Everything the switch and `status` decide from, gathered once: the
//! programs' releases, each config file as the node resolves it (where its
//! links lead, its bytes), every file containerd loads, the journal, and
//! what containerd and mount(8) would run. Reading only: the plan and the
//! report are computed from these facts and nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::flavor::{Route, Site};
use super::journal::{Entry, Journal};
use super::layout::{DropIns, HELPER_NAME, Layout, Settings};
use super::probe::{self, Version};
use super::rootfs::NodeFs;
use super::{containerd, nodeadm, restart, snapshotter};

/// The journal's entries: one per file enable may change.
pub const CONTAINERD_ENTRY: &str = "containerd-config";
pub const SNAPSHOTTER_ENTRY: &str = "nydus-config";
/// Beside containerd's config, the file that keeps the switch across the
/// flavor's own regeneration: Flatcar's unit drop-in, EKS's NodeConfig.
pub const SOURCE_ENTRY: &str = "containerd-source";
pub const ENTRIES: [&str; 3] = [CONTAINERD_ENTRY, SNAPSHOTTER_ENTRY, SOURCE_ENTRY];

/// A program's release, and what told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    pub source: &'static str,
}

/// One file, as the node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// Where the path leads (itself, when it is no link); `Err` when the
    /// node cannot resolve it (a link loop, a file where a directory is).
    pub resolved: Result<PathBuf, String>,
    /// Directories missing above the file, which writing it would make.
    pub missing_dirs: usize,
    pub is_link: bool,
    /// `None`: no such file.
    pub bytes: Option<Vec<u8>>,
}

pub struct Facts {
    pub helper: PathBuf,
    /// The containerd drop-ins enable imports.
    pub drop_ins: DropIns,
    pub settings: Settings,
    /// containerd on this node: its flavor and the file it reads.
    pub site: Site,
    pub containerd: Option<Release>,
    /// What the flavor's manager (k3s, RKE2…) says of its version.
    pub manager_version: Option<String>,
    pub snapshotter: Option<Release>,
    /// Every file read, by the path it was named by.
    pub files: BTreeMap<PathBuf, FileFacts>,
    /// Where enable puts its drop-in for containerd: the directory the
    /// edited config imports as `DIR/*.toml`, when it imports one.
    pub containerd_drop_in: Option<PathBuf>,
    /// The files containerd will load once its flavor has regenerated its
    /// config (rendered a template, merged NodeConfigs), in its order.
    pub containerd_loads: containerd::Loaded,
    /// What nydus-snapshotter makes of its config file, or why it cannot
    /// read it; `None` when there is no such file.
    pub nydus_settings: Option<Result<snapshotter::Effective, String>>,
    pub journal: BTreeMap<&'static str, Entry>,
    pub probes: Probes,
    /// How systemd runs the units a switch concerns (restart::node_units).
    pub services: Vec<restart::Service>,
}

/// What the node would run, for `status`.
pub struct Probes {
    /// Where our helper's path leads; `None`: missing.
    pub helper_canonical: Option<PathBuf>,
    /// The nydus-overlayfs containerd's PATH finds, and whose PATH that is.
    pub path_lookup: Option<PathBuf>,
    pub path_lookup_canonical: Option<PathBuf>,
    pub search_path_of: &'static str,
    /// Where the helper path nydus-snapshotter's config names leads, when
    /// it names one by absolute path.
    pub named_helper_canonical: Option<PathBuf>,
    pub mount_helper_link_ok: bool,
    pub mount_fuse: Option<PathBuf>,
    /// `None` under `--root`: not this machine's kernel.
    pub overlayfs_loaded: Option<bool>,
}

/// Releases the admin gave on the command line, which win over probing.
#[derive(Clone, Copy, Debug, Default)]
pub struct GivenReleases {
    pub containerd: Option<Version>,
    pub snapshotter: Option<Version>,
}

impl Facts {
    pub fn gather(
        node: &NodeFs,
        layout: &Layout,
        given: GivenReleases,
    ) -> Result<Facts, super::error::Error> {
        let settings = layout.settings().clone();
        let journal = Journal::new(node, Layout::state_dir());
        let mut entries = BTreeMap::new();
        for name in ENTRIES {
            match journal.get(name) {
                Ok(Some(entry)) => {
                    entries.insert(name, entry);
                }
                Ok(None) => {}
                Err(e) => return Err(super::error::Error::at(journal.dir(), e)),
            }
        }
        let mut files = BTreeMap::new();
        let mut read = |path: &Path| -> Option<String> {
            let facts = files
                .entry(path.to_path_buf())
                .or_insert_with(|| file_facts(node, path));
            facts
                .bytes
                .as_ref()
                .and_then(|b| super::text_form::TextForm::decode(b).ok())
                .map(|(_, text)| text)
        };
        let mut list = |dir: &Path| -> Vec<String> {
            node.list(dir)
                .map(|names| {
                    names
                        .into_iter()
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let running = probe::running_containerd(node);
        let site = Site::find(
            node,
            &settings,
            running.as_ref().map(|r| r.command.as_slice()),
        );
        for path in site.files_enable_may_write() {
            read(&path);
        }
        // Where enable may put its drop-in, and what it would replace.
        let source = site.edited_config();
        let containerd_drop_in = read(&source)
            .and_then(|text| containerd::ConfigFile::parse(&text).ok())
            .and_then(|file| containerd::drop_in_path(&source, &file.imports));
        if let Some(drop_in) = &containerd_drop_in {
            read(drop_in);
        }
        let containerd_loads = match site.flavor.route {
            Route::Template(template) => {
                containerd::load_order(Path::new(template), &mut read, &mut list)
            }
            Route::NodeConfig(dir) => {
                let parts = nodeadm::parts(node, Path::new(dir));
                for (path, _) in &parts {
                    read(path);
                }
                let rendered = nodeadm::render(read(&site.config).as_deref(), &parts);
                let config = site.config.clone();
                let mut read_rendered = |path: &Path| {
                    if path == config {
                        Some(rendered.clone())
                    } else {
                        read(path)
                    }
                };
                containerd::load_order(&site.config, &mut read_rendered, &mut list)
            }
            _ => containerd::load_order(&site.config, &mut read, &mut list),
        };
        for entry in entries.values() {
            read(&entry.path);
        }
        let snapshotter = release(node, given.snapshotter, "containerd-nydus-grpc", None);
        let nydus_settings = read(&settings.nydus_config)
            .map(|text| snapshotter::effective(&text, snapshotter.map(|r| r.version)));
        let named_helper = nydus_settings
            .as_ref()
            .and_then(|settings| settings.as_ref().ok())
            .map(|settings| PathBuf::from(&settings.helper))
            .filter(|helper| helper.is_absolute());
        let probes = Probes::gather(
            node,
            layout.helper(),
            named_helper.as_deref(),
            running.as_ref(),
        );
        let mut facts = Facts {
            helper: layout.helper().to_path_buf(),
            drop_ins: layout.drop_ins().clone(),
            settings,
            containerd: release(
                node,
                given.containerd,
                "containerd",
                site.containerd_program.as_deref(),
            ),
            manager_version: site
                .flavor
                .manager
                .and_then(|program| probe::find_program(node, program, &probe::service_path()))
                .and_then(|program| probe::version_line(node, &program)),
            site,
            containerd_drop_in,
            snapshotter,
            files,
            containerd_loads,
            nydus_settings,
            journal: entries,
            probes,
            services: Vec::new(),
        };
        facts.services = restart::inspect(node, &restart::node_units(&facts));
        Ok(facts)
    }

    /// The facts of a file gathered; every file the plan and report look
    /// at was read by `gather`.
    pub fn file(&self, path: &Path) -> &FileFacts {
        self.files
            .get(path)
            .unwrap_or_else(|| panic!("{} was not gathered", path.display()))
    }

    pub fn containerd_version(&self) -> Option<Version> {
        self.containerd.map(|r| r.version)
    }

    pub fn snapshotter_version(&self) -> Option<Version> {
        self.snapshotter.map(|r| r.version)
    }
}

fn file_facts(node: &NodeFs, path: &Path) -> FileFacts {
    let located = node.locate(path);
    let bytes = node.read(path);
    match (located, bytes) {
        (Ok(located), Ok(bytes)) => FileFacts {
            resolved: Ok(located.node_path),
            missing_dirs: located.missing_dirs,
            is_link: node.is_link(path),
            bytes,
        },
        (Err(e), _) | (_, Err(e)) => FileFacts {
            resolved: Err(e.to_string()),
            missing_dirs: 0,
            is_link: node.is_link(path),
            bytes: None,
        },
    }
}

/// A program's release: as given, else what the program at `at` (else
/// `program` on systemd's PATH) says, else its Debian package.
fn release(
    node: &NodeFs,
    given: Option<Version>,
    program: &str,
    at: Option<&Path>,
) -> Option<Release> {
    if let Some(version) = given {
        return Some(Release {
            version,
            source: "command line",
        });
    }
    let found = match at {
        Some(path) => path.to_path_buf(),
        None => probe::find_program(node, program, &probe::service_path())?,
    };
    probe::program_version(node, &found)
        .map(|version| Release {
            version,
            source: "its --version",
        })
        .or_else(|| {
            probe::dpkg_version(node, &found).map(|version| Release {
                version,
                source: "dpkg",
            })
        })
}

impl Probes {
    fn gather(
        node: &NodeFs,
        helper: &Path,
        named_helper: Option<&Path>,
        running: Option<&probe::Running>,
    ) -> Probes {
        let (search_path, search_path_of) = probe::containerd_search_path(running);
        let path_lookup = probe::find_program(node, HELPER_NAME, &search_path);
        Probes {
            helper_canonical: node.canonical(helper),
            path_lookup_canonical: path_lookup.as_deref().and_then(|p| node.canonical(p)),
            path_lookup,
            search_path_of,
            named_helper_canonical: named_helper.and_then(|p| node.canonical(p)),
            mount_helper_link_ok: probe::mount_helper_link_leads_to(node, helper),
            mount_fuse: probe::mount_fuse(node),
            overlayfs_loaded: node.is_host_root().then(probe::overlay_registered),
        }
    }
}
