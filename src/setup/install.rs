//! Installing without a package manager (`install`, `uninstall`), for nodes
//! that get their software from a DaemonSet rather than apt or dnf.
//!
//! `install` puts on the node what the packages put there — the helper and
//! this program, containerd's two drop-ins, containerd.service's ordering
//! drop-in, the modules-load.d file and mount(8)'s registration link —
//! under the prefix the node's flavor keeps such software in
//! (`Flavor::install_prefix`, or `--prefix`). Everything is checked first
//! (the root is a node's, no file in the way, nothing read-only, containerd
//! will find the helper), so a refusal writes nothing. The record in the
//! journal's directory lists each file before it is written and stamps it
//! after: `uninstall`, after switching the node back as package removal
//! does, removes exactly what it lists, and leaves, saying so, a file
//! changed since (its inode, size or modification time differ).

use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, Table, value};

use super::error::{Error, Exit};
use super::facts::Facts;
use super::flavor::Route;
use super::layout::{DropIns, HELPER_NAME, Layout, MOUNT_HELPER_LINK, SERVICE_PATH};
use super::probe::Version;
use super::rootfs::{Missing, NodeFs};
use super::{apply, package, snapshotter, unit};

/// The record, in the journal's directory.
const RECORD: &str = "installed.toml";
const SETUP_NAME: &str = "nydus-overlayfs-setup";
/// Where the packages put this program: a node that has it is managed by
/// its package manager, and `install` leaves it to that.
const PACKAGED_SETUP: [&str; 2] = [
    "/usr/sbin/nydus-overlayfs-setup",
    "/usr/bin/nydus-overlayfs-setup",
];
/// The prefix whose `lib/` systemd and systemd-modules-load read; under any
/// other prefix those files go to /etc.
const LOCAL_PREFIX: &str = "/usr/local";

/// The files the packages ship besides the binaries, as `install` writes them.
const PROXY_PLUGIN_DROP_IN: &str =
    include_str!("../../packaging/containerd/nydus-snapshotter.toml");
const CRI_DROP_IN: &str = include_str!("../../packaging/containerd/nydus-cri.toml");
const ORDERING_DROP_IN: &str =
    include_str!("../../systemd/containerd.service.d/nydus-overlayfs.conf");
const MODULES_LOAD: &str = include_str!("../../packaging/modules-load.d/nydus-overlayfs.conf");

/// What `install` wrote on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub prefix: PathBuf,
    pub files: Vec<Recorded>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The node path written (a link's own path, not where it leads).
    pub path: PathBuf,
    /// The file as written (`Resolved::stamp`); `None` while being written.
    pub stamp: Option<String>,
    /// How many directories above it `install` made.
    pub created_dirs: usize,
}

impl Record {
    fn path() -> PathBuf {
        Layout::state_dir().join(RECORD)
    }

    /// The node's record; `None` when `install` has not run there.
    pub fn read(node: &NodeFs) -> Result<Option<Record>, Error> {
        let path = Record::path();
        let bad = |what: &str| Error::at(&path, what);
        let Some(bytes) = node.read(&path).map_err(|e| Error::at(&path, e))? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
        let doc: DocumentMut = text.parse().map_err(|_| bad("not valid TOML"))?;
        let prefix = doc["prefix"].as_str().ok_or_else(|| bad("no prefix"))?;
        let mut files = Vec::new();
        if let Some(tables) = doc.get("file").and_then(|item| item.as_array_of_tables()) {
            for table in tables {
                files.push(Recorded {
                    path: PathBuf::from(
                        table["path"]
                            .as_str()
                            .ok_or_else(|| bad("a file with no path"))?,
                    ),
                    stamp: table
                        .get("stamp")
                        .and_then(|s| s.as_str())
                        .map(str::to_string),
                    created_dirs: table
                        .get("created_dirs")
                        .and_then(|n| n.as_integer())
                        .unwrap_or(0)
                        .try_into()
                        .unwrap_or(0),
                });
            }
        }
        Ok(Some(Record {
            prefix: PathBuf::from(prefix),
            files,
        }))
    }

    fn write(&self, node: &NodeFs) -> Result<(), Error> {
        let mut doc = DocumentMut::new();
        doc.decor_mut().set_prefix(
            "# What 'nydus-overlayfs-setup install' wrote on this node: 'uninstall' removes it.\n",
        );
        doc["prefix"] = value(self.prefix.display().to_string());
        let mut tables = ArrayOfTables::new();
        for file in &self.files {
            let mut table = Table::new();
            table["path"] = value(file.path.display().to_string());
            if let Some(stamp) = &file.stamp {
                table["stamp"] = value(stamp.as_str());
            }
            table["created_dirs"] = value(file.created_dirs as i64);
            tables.push(table);
        }
        doc["file"] = toml_edit::Item::ArrayOfTables(tables);
        let path = Record::path();
        node.resolve(&path, Missing::Create)
            .and_then(|record| record.write_atomically(doc.to_string().as_bytes(), 0o644))
            .map_err(|e| Error::at(&path, e))
    }

    fn remove(node: &NodeFs) -> Result<(), Error> {
        let path = Record::path();
        node.entry(&path)
            .and_then(|record| record.remove())
            .map_err(|e| Error::at(&path, e))
    }

    /// The helper `install` put on the node.
    pub fn helper(&self) -> PathBuf {
        self.prefix.join("sbin").join(HELPER_NAME)
    }

    pub fn drop_ins(&self) -> DropIns {
        DropIns::under(&self.prefix.join("share"))
    }

    fn recorded(&self, path: &Path) -> Option<&Recorded> {
        self.files.iter().find(|file| file.path == path)
    }
}

/// One file `install` puts on the node.
struct Item {
    path: PathBuf,
    content: Content,
    /// Leave it out, saying why, rather than refuse the install.
    optional: bool,
}

enum Content {
    File { bytes: Vec<u8>, mode: u32 },
    Link(PathBuf),
}

/// The files under `prefix`, with the binaries read from beside this program.
fn items(prefix: &Path) -> Result<Vec<Item>, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::new(format!("cannot tell where this program is: {e}")))?;
    let binary = |path: PathBuf| -> Result<Vec<u8>, Error> {
        std::fs::read(&path).map_err(|e| {
            Error::at(
                &path,
                format!("{e}: install copies the helper from beside this program"),
            )
        })
    };
    // systemd reads units and modules-load.d files under /usr/local/lib;
    // under any other prefix it reads none, so they go to /etc.
    let (unit_dir, modules_dir) = if prefix == Path::new(LOCAL_PREFIX) {
        (
            prefix.join("lib/systemd/system"),
            prefix.join("lib/modules-load.d"),
        )
    } else {
        (
            PathBuf::from("/etc/systemd/system"),
            PathBuf::from("/etc/modules-load.d"),
        )
    };
    let sbin = prefix.join("sbin");
    let drop_ins = DropIns::under(&prefix.join("share"));
    let file = |path: PathBuf, bytes: Vec<u8>, mode: u32| Item {
        path,
        content: Content::File { bytes, mode },
        optional: false,
    };
    Ok(vec![
        file(
            sbin.join(HELPER_NAME),
            binary(exe.with_file_name(HELPER_NAME))?,
            0o755,
        ),
        file(sbin.join(SETUP_NAME), binary(exe.clone())?, 0o755),
        file(drop_ins.proxy_plugin, PROXY_PLUGIN_DROP_IN.into(), 0o644),
        file(drop_ins.cri, CRI_DROP_IN.into(), 0o644),
        file(
            unit_dir.join("containerd.service.d/nydus-overlayfs.conf"),
            ORDERING_DROP_IN.into(),
            0o644,
        ),
        file(
            modules_dir.join("nydus-overlayfs.conf"),
            MODULES_LOAD.into(),
            0o644,
        ),
        Item {
            path: PathBuf::from(MOUNT_HELPER_LINK),
            content: Content::Link(sbin.join(HELPER_NAME)),
            optional: true,
        },
    ])
}

/// What `install` will do with one file.
enum Step {
    Write { item: Item, created_dirs: usize },
    Keep(PathBuf),
    Skip(String),
}

/// The node root `install` and `uninstall` work on must be a node's: a
/// pod whose host root is not mounted sees the image's empty directory.
pub fn check_node_root(node: &NodeFs, root: &Path) -> Result<(), Error> {
    let has = |path: &str| node.canonical(Path::new(path)).is_some();
    if has("/etc/os-release") || has("/usr/lib/os-release") {
        return Ok(());
    }
    Err(Error::new(format!(
        "{} holds no node's root filesystem (no /etc/os-release or /usr/lib/os-release): mount the node's / there (in the DaemonSet, the hostPath volume of / at /host); nothing was installed",
        root.display()
    )))
}

/// Installs under `prefix` (`None`: the flavor's); one line per file written.
pub fn install(node: &NodeFs, facts: &Facts, prefix: Option<&Path>) -> Result<Vec<String>, Error> {
    let lock = apply::lock_node(node)?;
    let result = plan(node, facts, prefix).and_then(|(record, steps)| apply(node, record, steps));
    lock.release();
    result
}

fn plan(node: &NodeFs, facts: &Facts, prefix: Option<&Path>) -> Result<(Record, Vec<Step>), Error> {
    let flavor = facts.site.flavor;
    if let Route::Refuse(why) = flavor.route {
        return Err(Error::new(format!(
            "{} node: {why}; nothing was installed",
            flavor.name
        )));
    }
    if let Some(packaged) = PACKAGED_SETUP
        .iter()
        .find(|path| node.canonical(Path::new(path)).is_some())
    {
        return Err(Error::new(format!(
            "{packaged}: nydus-overlayfs is installed here by a package; upgrade or remove it with the node's package manager; nothing was installed"
        )));
    }
    let previous = Record::read(node)?;
    let prefix = match (prefix, &previous) {
        (Some(asked), Some(record)) if asked != record.prefix => {
            return Err(Error::new(format!(
                "nydus-overlayfs is installed under {} on this node: run 'nydus-overlayfs-setup uninstall' first to move it to {}; nothing was installed",
                record.prefix.display(),
                asked.display()
            )));
        }
        (Some(asked), _) => asked.to_path_buf(),
        (None, Some(record)) => record.prefix.clone(),
        (None, None) => PathBuf::from(flavor.install_prefix),
    };
    if !prefix.is_absolute() {
        return Err(Error::new(format!(
            "--prefix {}: give an absolute path on the node",
            prefix.display()
        )));
    }
    check_helper_is_found(facts, &prefix)?;
    let mut steps = Vec::new();
    for item in items(&prefix)? {
        steps.push(step(node, previous.as_ref(), item)?);
    }
    let files = steps
        .iter()
        .filter_map(|step| match step {
            Step::Write { item, created_dirs } => Some(Recorded {
                path: item.path.clone(),
                stamp: None,
                created_dirs: *created_dirs,
            }),
            Step::Keep(path) => previous.as_ref()?.recorded(path).cloned(),
            Step::Skip(_) => None,
        })
        .collect();
    Ok((Record { prefix, files }, steps))
}

/// containerd runs the helper through mount.fuse by name on its PATH, or by
/// the path nydus-snapshotter ≥ 0.15 puts in the mount type.
fn check_helper_is_found(facts: &Facts, prefix: &Path) -> Result<(), Error> {
    let sbin = prefix.join("sbin");
    if SERVICE_PATH.iter().any(|dir| Path::new(dir) == sbin) {
        return Ok(());
    }
    let names_path = |version: Version| version >= snapshotter::PATH_SETTING_SINCE;
    if facts.snapshotter_version().is_some_and(names_path) {
        return Ok(());
    }
    Err(Error::new(format!(
        "{} is not on containerd's PATH, and nydus-snapshotter ({}) predates nydus_overlayfs_path (0.15), which would name the helper's path: upgrade nydus-snapshotter (or pass --snapshotter-version if it is newer), or install with --prefix on containerd's PATH ({}); nothing was installed",
        sbin.display(),
        facts
            .snapshotter_version()
            .map_or("version unknown".to_string(), |v| v.to_string()),
        SERVICE_PATH[0],
    )))
}

fn step(node: &NodeFs, previous: Option<&Record>, item: Item) -> Result<Step, Error> {
    let path = item.path.clone();
    let at = |e: std::io::Error| Error::at(&path, e);
    let located = node.locate(&path).map_err(at)?;
    let entry = (located.missing_dirs == 0)
        .then(|| node.entry(&path))
        .transpose()
        .map_err(at)?;
    let recorded = previous.and_then(|record| record.recorded(&path));
    let skip = |why: String| Ok(Step::Skip(why));
    let dir = path.parent().unwrap_or(Path::new("/"));
    if item.optional && located.missing_dirs > 0 {
        return skip(format!(
            "this node has no {}, so mount(8) will not know the type fuse.nydus-overlayfs (containerd does not need it)",
            dir.display()
        ));
    }
    if let Some(entry) = entry
        .as_ref()
        .filter(|entry| entry.exists() || entry.is_link())
    {
        let ours =
            recorded.is_some_and(|r| r.stamp.is_none() || r.stamp == entry.stamp().ok().flatten());
        if !ours {
            let why = format!(
                "{} exists and was not installed by nydus-overlayfs-setup",
                path.display()
            );
            return match item.optional {
                true => skip(format!("{why}; left as it is")),
                false => Err(Error::new(format!(
                    "{why}: move it away, or install with --prefix DIR elsewhere; nothing was installed"
                ))),
            };
        }
        let same = match &item.content {
            Content::File { bytes, .. } => {
                entry.read().map_err(at)?.as_deref() == Some(bytes.as_slice())
            }
            Content::Link(target) => entry.link_target().as_deref() == Some(target.as_path()),
        };
        if same {
            return Ok(Step::Keep(path));
        }
    }
    if node.on_read_only_fs(&path).map_err(at)? {
        return match item.optional {
            true => skip(format!(
                "{} is read-only on this node, so mount(8) will not know the type fuse.nydus-overlayfs (containerd does not need it)",
                dir.display()
            )),
            false => Err(Error::new(format!(
                "{}: read-only filesystem on this node: install with --prefix DIR on a writable one (such as /opt/nydus-overlayfs); nothing was installed",
                dir.display()
            ))),
        };
    }
    let created_dirs = recorded.map_or(located.missing_dirs, |r| r.created_dirs);
    Ok(Step::Write { item, created_dirs })
}

fn apply(node: &NodeFs, mut record: Record, steps: Vec<Step>) -> Result<Vec<String>, Error> {
    let mut report = Vec::new();
    let writes = steps.iter().any(|step| matches!(step, Step::Write { .. }));
    if writes {
        // Listed before written: an interrupted install is undone by uninstall.
        record.write(node)?;
    } else {
        report.push(format!(
            "already installed under {}; nothing changed",
            record.prefix.display()
        ));
    }
    let mut unit_changed = false;
    for step in steps {
        match step {
            Step::Write { item, .. } => {
                let path = &item.path;
                let at = |e: std::io::Error| Error::at(path, e);
                let entry = match &item.content {
                    Content::File { bytes, mode } => {
                        let file = node.resolve(path, Missing::Create).map_err(at)?;
                        file.write_atomically(bytes, *mode).map_err(at)?;
                        file
                    }
                    Content::Link(target) => {
                        node.resolve(path.parent().unwrap_or(Path::new("/")), Missing::Create)
                            .map_err(at)?;
                        let link = node.entry(path).map_err(at)?;
                        link.remove().map_err(at)?;
                        link.symlink_to(target).map_err(at)?;
                        link
                    }
                };
                let stamp = entry.stamp().map_err(at)?;
                if let Some(recorded) = record.files.iter_mut().find(|f| f.path == *path) {
                    recorded.stamp = stamp;
                }
                unit_changed |= unit::is_unit_file(path);
                report.push(format!("installed {}", path.display()));
            }
            Step::Keep(_) => {}
            Step::Skip(why) => report.push(format!("note: {why}")),
        }
    }
    if unit_changed {
        package::reload_systemd(node, &mut report);
    }
    if writes {
        record.write(node)?;
    }
    Ok(report)
}

/// Switches the node back as package removal does (restarting what reads
/// the restored files; refused, changing nothing, where that would take
/// running containers' filesystems down), then removes what the record
/// lists. One line per thing done, and how it ends.
pub fn uninstall(node: &NodeFs, layout: &Layout) -> Result<(Vec<String>, Exit), Error> {
    if Record::read(node)?.is_none() {
        return Ok((
            vec!["nothing installed here by nydus-overlayfs-setup; nothing changed".into()],
            Exit::Done,
        ));
    }
    let (mut report, outcome) = package::switch_back(node, layout);
    match outcome {
        package::SwitchBack::Done => {}
        package::SwitchBack::Refused => return Ok((report, Exit::RestartRefused)),
        package::SwitchBack::Failed => {
            report.push("not uninstalling: the node is still switched to nydus-overlayfs, whose helper it would remove; fix what the line above says and run uninstall again".into());
            return Ok((report, Exit::Failed));
        }
    }
    report.extend(remove_installed(node)?);
    Ok((report, Exit::Done))
}

/// Removes what the record lists, leaving the switch as it is: for an
/// install whose enable failed, which switched nothing.
pub fn remove_installed(node: &NodeFs) -> Result<Vec<String>, Error> {
    let lock = apply::lock_node(node)?;
    let result = Record::read(node).and_then(|record| {
        let mut report = Vec::new();
        if let Some(record) = record {
            remove_recorded(node, &record, &mut report)?;
        }
        Ok(report)
    });
    lock.release();
    result
}

fn remove_recorded(node: &NodeFs, record: &Record, report: &mut Vec<String>) -> Result<(), Error> {
    let mut unit_changed = false;
    for file in record.files.iter().rev() {
        let at = |e: std::io::Error| Error::at(&file.path, e);
        let entry = match node.entry(&file.path) {
            Ok(entry) => entry,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(at(e)),
        };
        if !entry.exists() && !entry.is_link() {
            continue;
        }
        if file.stamp.is_some() && entry.stamp().map_err(at)? != file.stamp {
            report.push(format!(
                "left {}: changed since it was installed",
                file.path.display()
            ));
            continue;
        }
        entry.remove().map_err(at)?;
        entry.remove_empty_dirs(file.created_dirs);
        unit_changed |= unit::is_unit_file(&file.path);
        report.push(format!("removed {}", file.path.display()));
    }
    Record::remove(node)?;
    if unit_changed {
        package::reload_systemd(node, report);
    }
    Ok(())
}
