//! The kinds of node containerd runs on, one row each, in the spirit of the
//! option table: how the flavor is recognised, which file its containerd
//! reads, where a switch survives that flavor's own regeneration of that
//! file, which units run containerd, and where the flavor keeps its own
//! containerd. Facts, the plan and the report read the row; a new kind of
//! node is a new row. Sources for every row: docs/flavors.md.

use std::path::{Path, PathBuf};

use super::containerd::ConfigFile;
use super::layout::Settings;
use super::rootfs::NodeFs;
use super::unit::{self, Unit};

/// containerd's config where nothing says otherwise (its built-in default).
pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";

/// Where a node whose containerd reads its config under /usr gets the
/// switched copy, and the drop-in that points containerd.service at it.
pub const ETC_COPY: &str = DEFAULT_CONFIG;
pub const UNIT_DROP_IN: &str = "/etc/systemd/system/containerd.service.d/10-nydus-overlayfs.conf";

/// What marks a node as a flavor; any one mark is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `/etc/os-release` says `ID=` this.
    OsId(&'static str),
    /// This path exists on the node.
    Path(&'static str),
    /// containerd's unit starts it with a config under /usr, which is read
    /// only on image-based systems and owned by the OS image elsewhere.
    ConfigUnderUsr,
    /// containerd's config disables the CRI plugin.
    CriDisabled,
}

/// Which file containerd reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigOf {
    /// The flavor's own manager starts containerd with this file.
    Fixed(&'static str),
    /// What containerd's unit (or, with no unit, the running containerd)
    /// passes as `--config`; containerd's default without one.
    Unit,
}

/// Where enable puts the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The file containerd reads: config.toml itself, or a drop-in in a
    /// directory it imports (containerd::target decides).
    InConfig,
    /// The template this file is rendered from at every start, edited as
    /// containerd reads the rendered file.
    Template(&'static str),
    /// A drop-in in a directory the config imports, which its manager
    /// rewrites (k3s, RKE2: at every start) or owns (k0s); that file itself
    /// is never edited, and a node whose config imports no directory of
    /// containerd drop-ins is refused.
    ImportedDropIn,
    /// A NodeConfig drop-in for nodeadm, which renders containerd's config
    /// at every boot and merges it over its template.
    NodeConfig(&'static str),
    /// A copy of the config in /etc, and a unit drop-in that points
    /// containerd at it (the config itself is under /usr).
    CopyToEtc,
    /// Nothing on the node may be written: why, and the route that works.
    Refuse(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Flavor {
    /// The name status prints and `--json` carries.
    pub name: &'static str,
    /// Empty: every node (the last row).
    pub marks: &'static [Mark],
    pub config: ConfigOf,
    pub route: Route,
    /// What keeps the switch across the flavor's own regeneration, for
    /// status.
    pub keeps: &'static str,
    /// The units that run containerd; those the node has are restarted.
    pub units: &'static [&'static str],
    /// Where `install` puts the files on a node without the packages.
    pub install_prefix: &'static str,
    /// Where the flavor keeps its own containerd (its version is read from
    /// it); empty: the containerd on systemd's PATH.
    pub containerd_programs: &'static [&'static str],
    /// What status adds about this kind of node.
    pub note: Option<&'static str>,
    /// The program that manages containerd here, asked for its version
    /// when a refusal names it.
    pub manager: Option<&'static str>,
    /// The first releases whose own files take the switch, for a refusal.
    pub releases_that_take_it: Option<&'static str>,
}

/// The FHS's place for software the package manager does not manage, and
/// on systemd's default PATH, which containerd (and k3s's, RKE2's and
/// k0s's containerd, whose PATH keeps the host's) finds the helper through.
const LOCAL_PREFIX: &str = "/usr/local";
/// Where /usr is read-only by design (Flatcar), the place its docs give
/// software without a package; off containerd's PATH, so containerd is told
/// the helper's path (nydus-snapshotter's nydus_overlayfs_path).
const OPT_PREFIX: &str = "/opt/nydus-overlayfs";

const K3S_CONFIG: &str = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml";
const RKE2_CONFIG: &str = "/var/lib/rancher/rke2/agent/etc/containerd/config.toml";
const MICROK8S_TEMPLATE: &str = "/var/snap/microk8s/current/args/containerd-template.toml";

/// Every flavor, the first whose marks match wins; plain containerd last.
pub const FLAVORS: &[Flavor] = &[
    Flavor {
        name: "talos",
        marks: &[Mark::OsId("talos")],
        config: ConfigOf::Fixed("/etc/cri/containerd.toml"),
        route: Route::Refuse(
            "Talos builds containerd's config only from machine config and its root is read-only: \
             add the nydus settings as a CRI customization part in the machine config \
             (machine.files, op create, path /etc/cri/conf.d/20-customization.part; from Talos 1.15 \
             a CRICustomizationConfig document) and apply it with talosctl",
        ),
        keeps: "machine config (parts in /etc/cri/conf.d, merged by machined)",
        units: &[],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &[],
        note: None,
        manager: None,
        releases_that_take_it: None,
    },
    Flavor {
        name: "k3s",
        marks: &[
            Mark::Path(K3S_CONFIG),
            Mark::Path("/etc/systemd/system/k3s.service"),
            Mark::Path("/etc/systemd/system/k3s-agent.service"),
        ],
        config: ConfigOf::Fixed(K3S_CONFIG),
        route: Route::ImportedDropIn,
        keeps: "a drop-in in the directory the rendered config.toml imports (k3s rewrites config.toml at every start)",
        units: &["k3s.service", "k3s-agent.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &["/var/lib/rancher/k3s/data/current/bin/containerd"],
        note: None,
        manager: Some("k3s"),
        releases_that_take_it: Some("v1.34.6+k3s1, v1.35.3+k3s1, v1.36.0+k3s1 and later"),
    },
    Flavor {
        name: "rke2",
        marks: &[
            Mark::Path(RKE2_CONFIG),
            Mark::Path("/usr/local/lib/systemd/system/rke2-server.service"),
            Mark::Path("/usr/local/lib/systemd/system/rke2-agent.service"),
            Mark::Path("/usr/lib/systemd/system/rke2-server.service"),
            Mark::Path("/usr/lib/systemd/system/rke2-agent.service"),
        ],
        config: ConfigOf::Fixed(RKE2_CONFIG),
        route: Route::ImportedDropIn,
        keeps: "a drop-in in the directory the rendered config.toml imports (RKE2 rewrites config.toml at every start)",
        units: &["rke2-server.service", "rke2-agent.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &["/var/lib/rancher/rke2/bin/containerd"],
        note: None,
        manager: Some("rke2"),
        releases_that_take_it: Some(
            "the RKE2 releases built on k3s v1.34.6, v1.35.3, v1.36.0 and later",
        ),
    },
    Flavor {
        name: "microk8s",
        marks: &[Mark::Path(MICROK8S_TEMPLATE)],
        config: ConfigOf::Fixed("/var/snap/microk8s/current/args/containerd.toml"),
        route: Route::Template(MICROK8S_TEMPLATE),
        keeps: "args/containerd-template.toml (containerd.toml is rendered from it at every start)",
        units: &["snap.microk8s.daemon-containerd.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &["/snap/microk8s/current/bin/containerd"],
        note: None,
        manager: Some("microk8s"),
        releases_that_take_it: None,
    },
    Flavor {
        name: "k0s",
        marks: &[Mark::Path("/etc/k0s/containerd.toml")],
        config: ConfigOf::Fixed("/etc/k0s/containerd.toml"),
        route: Route::ImportedDropIn,
        keeps: "a drop-in in /etc/k0s/containerd.d, which k0s's containerd.toml imports (k0s manages containerd.toml)",
        units: &["k0sworker.service", "k0scontroller.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &["/var/lib/k0s/bin/containerd"],
        note: None,
        manager: Some("k0s"),
        releases_that_take_it: Some("v1.36.1 and later, on containerd 2.x"),
    },
    Flavor {
        name: "eks-nodeadm",
        marks: &[
            Mark::Path("/etc/eks/nodeadm.d"),
            Mark::Path("/etc/systemd/system/nodeadm-config.service"),
            Mark::Path("/usr/bin/nodeadm"),
        ],
        config: ConfigOf::Fixed(DEFAULT_CONFIG),
        route: Route::NodeConfig("/etc/eks/nodeadm.d"),
        keeps: "a NodeConfig drop-in in /etc/eks/nodeadm.d (nodeadm rewrites config.toml at every boot)",
        units: &["containerd.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &[],
        note: None,
        manager: Some("nodeadm"),
        releases_that_take_it: None,
    },
    Flavor {
        name: "flatcar",
        marks: &[
            Mark::OsId("flatcar"),
            Mark::ConfigUnderUsr,
            Mark::Path(UNIT_DROP_IN),
        ],
        config: ConfigOf::Unit,
        route: Route::CopyToEtc,
        keeps: "a copy in /etc/containerd/config.toml and a containerd.service drop-in that points containerd at it",
        units: &["containerd.service"],
        install_prefix: OPT_PREFIX,
        containerd_programs: &[],
        note: None,
        manager: None,
        releases_that_take_it: None,
    },
    Flavor {
        name: "docker-containerd.io",
        marks: &[Mark::CriDisabled],
        config: ConfigOf::Unit,
        route: Route::InConfig,
        keeps: "the config file itself",
        units: &["containerd.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &[],
        note: Some(
            "containerd's CRI plugin is disabled (disabled_plugins), so Kubernetes does not use this containerd; \
             Docker Engine mounts images with the nydus snapshotter once /etc/docker/daemon.json has \
             \"features\": {\"containerd-snapshotter\": true} and \"storage-driver\": \"nydus\"",
        ),
        manager: None,
        releases_that_take_it: None,
    },
    Flavor {
        name: "containerd",
        marks: &[],
        config: ConfigOf::Unit,
        route: Route::InConfig,
        keeps: "the config file itself",
        units: &["containerd.service"],
        install_prefix: LOCAL_PREFIX,
        containerd_programs: &[],
        note: None,
        manager: None,
        releases_that_take_it: None,
    },
];

/// containerd on this node: which flavor, the file it reads and how that
/// is known, and what runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub flavor: &'static Flavor,
    pub config: PathBuf,
    /// What says containerd reads `config`.
    pub config_from: String,
    /// containerd's unit, as systemd would load it (none under k3s & co).
    pub containerd_unit: Option<Unit>,
    /// The units of the flavor the node has, to restart.
    pub units: Vec<String>,
    /// The containerd program, for its version.
    pub containerd_program: Option<PathBuf>,
    /// On the live root: the config the running containerd was started
    /// with, when that is not `config` (its unit changed since).
    pub running_config: Option<PathBuf>,
}

impl Site {
    /// Finds containerd on the node. `settings.containerd_config`, when the
    /// admin set it, names the file for a plain containerd.
    pub fn find(node: &NodeFs, settings: &Settings, running: Option<&[String]>) -> Site {
        let containerd_unit = Unit::load(node, "containerd.service");
        let unit_config = containerd_unit
            .as_ref()
            .and_then(|u| u.option("--config", Some("-c")))
            .map(PathBuf::from);
        let running_config = running
            .and_then(|words| unit::option_in(words, "--config", Some("-c")))
            .map(PathBuf::from);
        let (config, config_from) =
            match (&settings.containerd_config, &unit_config, &running_config) {
                (Some(path), _, _) => (path.clone(), "setup.toml".to_string()),
                (None, Some(path), _) => (path.clone(), unit_source(containerd_unit.as_ref())),
                (None, None, Some(path)) if containerd_unit.is_none() => (
                    path.clone(),
                    "the running containerd's --config".to_string(),
                ),
                (None, None, _) => (
                    PathBuf::from(DEFAULT_CONFIG),
                    "containerd's default".to_string(),
                ),
            };
        let config_text = node
            .read(&config)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let os_id = os_release_id(node);
        let marked = |mark: &Mark| match mark {
            Mark::OsId(id) => os_id.as_deref() == Some(*id),
            Mark::Path(path) => node.canonical(Path::new(path)).is_some(),
            Mark::ConfigUnderUsr => config.starts_with("/usr"),
            Mark::CriDisabled => config_text
                .as_deref()
                .and_then(|text| ConfigFile::parse(text).ok())
                .is_some_and(|file| file.disables_cri()),
        };
        let flavor = settings.flavor.unwrap_or_else(|| {
            FLAVORS
                .iter()
                .find(|f| f.marks.is_empty() || f.marks.iter().any(marked))
                .expect("the last row matches every node")
        });
        // The admin names the file this containerd reads: a flavor whose
        // containerd reads another (k3s beside a containerd of its own,
        // say) is not this containerd's.
        let flavor = match (flavor.config, &settings.containerd_config) {
            (ConfigOf::Fixed(fixed), Some(named)) if Path::new(fixed) != named => plain(),
            _ => flavor,
        };
        let (config, config_from) = match flavor.config {
            ConfigOf::Fixed(path) if settings.containerd_config.is_none() => {
                (PathBuf::from(path), format!("{} fixes it", flavor.name))
            }
            _ => (config, config_from),
        };
        let units = flavor
            .units
            .iter()
            .filter(|name| Unit::load(node, name).is_some())
            .map(|name| name.to_string())
            .collect();
        let containerd_program = flavor
            .containerd_programs
            .iter()
            .map(PathBuf::from)
            .chain(
                containerd_unit
                    .as_ref()
                    .and_then(|u| u.command.as_ref()?.first().map(PathBuf::from))
                    .filter(|p| p.is_absolute() && flavor.containerd_programs.is_empty()),
            )
            .find(|p| node.canonical(p).is_some());
        let running_config =
            running_config.filter(|r| *r != config && flavor.config == ConfigOf::Unit);
        Site {
            flavor,
            config,
            config_from,
            containerd_unit,
            units,
            containerd_program,
            running_config,
        }
    }
}

impl Site {
    /// The config file whose text and imports decide the switch: the
    /// template a rendered config comes from, else the file containerd reads.
    pub fn edited_config(&self) -> PathBuf {
        match self.flavor.route {
            Route::Template(template) => PathBuf::from(template),
            _ => self.config.clone(),
        }
    }

    /// Every file enable may read or write for containerd on this node.
    pub fn files_enable_may_write(&self) -> Vec<PathBuf> {
        let mut files = vec![self.config.clone(), self.edited_config()];
        match self.flavor.route {
            Route::NodeConfig(dir) => files.push(Path::new(dir).join(super::nodeadm::DROP_IN_NAME)),
            Route::CopyToEtc => files.extend([ETC_COPY, UNIT_DROP_IN].map(PathBuf::from)),
            _ => {}
        }
        files
    }
}

/// The containerd.service drop-in that points containerd at `copy`,
/// through the variable its `ExecStart=` takes the config from.
pub fn unit_drop_in(variable: &str, copy: &Path) -> String {
    format!(
        "# Written by nydus-overlayfs-setup enable: containerd reads the switched copy of\n\
         # its config in /etc (the one under /usr is the OS image's, read-only).\n\
         # nydus-overlayfs-setup disable removes this file and the copy.\n\
         [Service]\nEnvironment={variable}={}\n",
        copy.display()
    )
}

/// The row of plain containerd, the last.
/// The flavor named `name` (`--flavor`), or a one-line error naming them all.
pub fn by_name(name: &str) -> Result<&'static Flavor, String> {
    FLAVORS.iter().find(|f| f.name == name).ok_or_else(|| {
        let names: Vec<_> = FLAVORS.iter().map(|f| f.name).collect();
        format!(
            "unknown flavor '{name}': --flavor takes one of {}, or leave it out to have the node's own files tell",
            names.join(", ")
        )
    })
}

fn plain() -> &'static Flavor {
    FLAVORS.last().expect("the table has rows")
}

fn unit_source(unit: Option<&Unit>) -> String {
    match unit {
        Some(unit) if unit.drop_ins.is_empty() => format!("{}'s ExecStart", unit.file.display()),
        Some(unit) => format!("{}'s ExecStart with its drop-ins", unit.file.display()),
        None => String::new(),
    }
}

/// `ID=` of the node's os-release (/etc first, then /usr/lib, as
/// os-release(5) says).
fn os_release_id(node: &NodeFs) -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| node.read(Path::new(path)).ok().flatten())
        .and_then(|bytes| {
            String::from_utf8_lossy(&bytes).lines().find_map(|line| {
                line.strip_prefix("ID=")
                    .map(|id| id.trim_matches(['"', '\'']).to_string())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_with(files: &[(&str, &str)]) -> (tempfile::TempDir, NodeFs) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let node = NodeFs::open(dir.path()).unwrap();
        (dir, node)
    }

    fn settings() -> Settings {
        Settings {
            containerd_config: None,
            nydus_config: PathBuf::from("/etc/nydus/config.toml"),
            flavor: None,
        }
    }

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn the_unit_says_what_containerd_reads_and_a_running_one_that_differs_is_told() {
        let unit = "[Service]\nExecStart=/usr/bin/containerd --config /srv/c.toml\n";
        let (_dir, node) = node_with(&[("/lib/systemd/system/containerd.service", unit)]);
        let running = words("/usr/bin/containerd --config /etc/containerd/config.toml");
        let site = Site::find(&node, &settings(), Some(&running));
        assert_eq!(site.flavor.name, "containerd");
        assert_eq!(site.config, Path::new("/srv/c.toml"));
        assert_eq!(site.units, ["containerd.service"]);
        // Started before its unit changed: status says to restart it.
        assert_eq!(
            site.running_config.as_deref(),
            Some(Path::new("/etc/containerd/config.toml"))
        );

        // No unit: the running containerd's command line.
        let (_dir, node) = node_with(&[]);
        let site = Site::find(
            &node,
            &settings(),
            Some(&words("containerd -c /opt/c.toml")),
        );
        assert_eq!(site.config, Path::new("/opt/c.toml"));
        assert_eq!(site.config_from, "the running containerd's --config");
        assert_eq!(site.running_config, None);

        // k3s beside a containerd of its own, named by the admin.
        let (_k3s_dir, k3s_node) = node_with(&[("/etc/systemd/system/k3s.service", "[Service]\n")]);
        assert_eq!(Site::find(&k3s_node, &settings(), None).flavor.name, "k3s");
        let admin = Settings {
            containerd_config: Some(PathBuf::from(DEFAULT_CONFIG)),
            ..settings()
        };
        assert_eq!(
            Site::find(&k3s_node, &admin, None).flavor.name,
            "containerd"
        );
        // --flavor names it, whatever the files say; an unknown name is
        // refused with the names there are.
        let named = Settings {
            flavor: Some(by_name("k0s").unwrap()),
            ..settings()
        };
        assert_eq!(Site::find(&k3s_node, &named, None).flavor.name, "k0s");
        let unknown = by_name("k4s").unwrap_err();
        assert!(
            unknown.starts_with("unknown flavor 'k4s': --flavor takes one of talos, k3s,"),
            "{unknown}"
        );

        // Neither: containerd's default; the admin's setting wins over all.
        let site = Site::find(&node, &settings(), None);
        assert_eq!(site.config, Path::new(DEFAULT_CONFIG));
        let admin = Settings {
            containerd_config: Some(PathBuf::from("/x/config.toml")),
            ..settings()
        };
        let site = Site::find(&node, &admin, Some(&words("containerd -c /opt/c.toml")));
        assert_eq!(site.config, Path::new("/x/config.toml"));
    }

    #[test]
    fn the_first_row_whose_mark_matches_wins() {
        let flavor_of = |files: &[(&str, &str)]| {
            let (_dir, node) = node_with(files);
            Site::find(&node, &settings(), None).flavor.name
        };
        assert_eq!(
            flavor_of(&[("/etc/os-release", "NAME=Talos\nID=talos\n")]),
            "talos"
        );
        // Talos's system containerd disables CRI: Talos, not Docker.
        assert_eq!(
            flavor_of(&[
                ("/etc/os-release", "ID=talos\n"),
                (
                    "/etc/containerd/config.toml",
                    "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                ),
            ]),
            "talos"
        );
        assert_eq!(
            flavor_of(&[(
                "/etc/containerd/config.toml",
                "disabled_plugins = [\"cri\"]\n"
            )]),
            "docker-containerd.io"
        );
        assert_eq!(
            flavor_of(&[("/usr/lib/os-release", "ID=\"flatcar\"\n")]),
            "flatcar"
        );
        assert_eq!(
            flavor_of(&[("/var/lib/rancher/rke2/agent/etc/containerd/config.toml", "")]),
            "rke2"
        );
        assert_eq!(
            flavor_of(&[("/etc/containerd/config.toml", "version = 2\n")]),
            "containerd"
        );
    }
}
