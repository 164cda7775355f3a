//! The node's files as the node sees them. Every path is the node's own
//! (`/etc/containerd/config.toml`) and is walked one component at a time
//! from the node's root directory, with `openat` and `readlinkat` through
//! rustix: a symbolic link is followed as the node would follow it, an
//! absolute target starts again at the node's root and `..` never climbs
//! above it — the walk `openat2(RESOLVE_IN_ROOT)` does, on every kernel. So
//! under `--root DIR` nothing outside DIR is read or written, whatever the
//! links inside it say, and on the live root the same code follows links
//! as the kernel does.
//!
//! Writes go to the file a path resolves to, atomically: a temporary file
//! beside it, synced, renamed over it. A link stays a link.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as fs, AtFlags, FileType, Mode, OFlags};

/// Links followed in one walk before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// A node's root directory, opened once.
pub struct NodeFs {
    root: OwnedFd,
    root_path: PathBuf,
}

/// A directory on the walk, and its name in its parent (empty for the root).
struct Step {
    dir: OwnedFd,
    name: OsString,
}

/// Where a node path leads: the directory that holds the file (with every
/// directory above it, for `..` and for removing what enable created), and
/// the file's name there. The file itself may not exist.
pub struct Resolved {
    steps: Vec<Step>,
    name: OsString,
}

enum Walk {
    Found(Resolved),
    Stopped(Located),
}

/// What a walk does with a directory that is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Fail,
    Create,
}

/// Where a node path would lead: the file's node path, and how many
/// directories above it are missing (and would be made to write it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub node_path: PathBuf,
    pub missing_dirs: usize,
}

impl NodeFs {
    /// The node whose root directory is `root` (`/` for this machine).
    pub fn open(root: &Path) -> io::Result<NodeFs> {
        let fd = fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(NodeFs {
            root: fd,
            root_path: root.to_path_buf(),
        })
    }

    pub fn is_host_root(&self) -> bool {
        self.root_path == Path::new("/")
    }

    /// Whether the node is a running system this process can reach: this
    /// machine's root, or the root of a running node mounted at `--root`
    /// (the node-installer's /host), where its systemd listens on its
    /// private socket and its /proc is mounted. An image tree is neither.
    pub fn is_live(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_host_root()
            || (std::fs::metadata(self.root_path.join("run/systemd/private"))
                .is_ok_and(|m| m.file_type().is_socket())
                && self.root_path.join("proc/1").exists())
    }

    /// The node's /proc as this process reaches it: its own on this
    /// machine's root, the node's mounted one in a live node elsewhere.
    pub fn proc_dir(&self) -> PathBuf {
        self.host_path(Path::new("/proc"))
    }

    /// The node's program `program` (a node path with no link in it) to
    /// run as the node runs it: directly on this machine's root, and in a
    /// live node mounted elsewhere chrooted into it, with its own
    /// libraries, sockets and systemd's PATH; from an image tree, the
    /// tree's file run here.
    pub fn command(&self, program: &Path) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        if self.is_host_root() {
            return std::process::Command::new(program);
        }
        if !self.is_live() {
            return std::process::Command::new(self.host_path(program));
        }
        let mut command = std::process::Command::new(program);
        command.env("PATH", super::layout::SERVICE_PATH.join(":"));
        // systemctl ignores requests from what it takes for a chroot; this
        // one reaches the node's own systemd, through its socket.
        command.env("SYSTEMD_IGNORE_CHROOT", "1");
        let root = std::ffi::CString::new(self.root_path.as_os_str().as_bytes())
            .expect("a path opened as the root holds no NUL");
        // SAFETY: between fork and exec only chroot(2) and chdir(2) run, on
        // C strings made before the fork: no allocation, no lock.
        unsafe {
            command.pre_exec(move || {
                rustix::process::chroot(root.as_c_str())?;
                rustix::process::chdir(c"/")?;
                Ok(())
            });
        }
        command
    }

    /// A node path as this process can hand it to another program: only for
    /// paths that [`NodeFs::resolve`] returned, which hold no link.
    pub fn host_path(&self, resolved_node_path: &Path) -> PathBuf {
        self.root_path.join(
            resolved_node_path
                .strip_prefix("/")
                .unwrap_or(resolved_node_path),
        )
    }

    /// Walks `path` (absolute, on the node) following every link inside the
    /// node. The last component may be missing; a missing directory before
    /// it is an error, or is made when `missing` is `Create`.
    pub fn resolve(&self, path: &Path, missing: Missing) -> io::Result<Resolved> {
        match self.walk(path, missing, false)? {
            Walk::Found(resolved) => Ok(resolved),
            Walk::Stopped(_) => Err(io::ErrorKind::NotFound.into()),
        }
    }

    /// Where `path` leads, even below a directory that is missing (the rest
    /// of the path is taken as written: nothing below can be a link).
    pub fn locate(&self, path: &Path) -> io::Result<Located> {
        Ok(match self.walk(path, Missing::Fail, true)? {
            Walk::Found(resolved) => Located {
                node_path: resolved.node_path(),
                missing_dirs: 0,
            },
            Walk::Stopped(located) => located,
        })
    }

    fn walk(&self, path: &Path, missing: Missing, stop: bool) -> io::Result<Walk> {
        let mut steps = vec![Step {
            dir: fs::openat(
                &self.root,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
            name: OsString::new(),
        }];
        // Components still to walk, the next one last.
        let mut pending: Vec<OsString> = components(path).into_iter().rev().collect();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                if steps.len() > 1 {
                    steps.pop();
                }
                continue;
            }
            let last = pending.is_empty();
            let dir = &steps.last().expect("the root is never popped").dir;
            match file_type_at(dir, &name)? {
                Some(FileType::Symlink) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(rustix::io::Errno::LOOP.into());
                    }
                    let target = fs::readlinkat(dir, &name, Vec::new())?;
                    let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                    if target.is_absolute() {
                        steps.truncate(1);
                    }
                    pending.extend(components(&target).into_iter().rev());
                }
                _ if last => {
                    return Ok(Walk::Found(Resolved { steps, name }));
                }
                Some(FileType::Directory) => {
                    let next = open_dir(dir, &name)?;
                    steps.push(Step { dir: next, name });
                }
                Some(_) => return Err(rustix::io::Errno::NOTDIR.into()),
                None if missing == Missing::Create => {
                    match fs::mkdirat(dir, &name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    let next = open_dir(dir, &name)?;
                    steps.push(Step { dir: next, name });
                }
                None if stop => {
                    let mut node_path = node_path_of(&steps, Some(&name));
                    let mut missing_dirs: usize = 1;
                    while let Some(name) = pending.pop() {
                        if name == ".." {
                            node_path.pop();
                            missing_dirs = missing_dirs.saturating_sub(1);
                        } else {
                            node_path.push(name);
                            missing_dirs += 1;
                        }
                    }
                    return Ok(Walk::Stopped(Located {
                        node_path,
                        missing_dirs: missing_dirs - 1,
                    }));
                }
                None => return Err(io::ErrorKind::NotFound.into()),
            }
        }
        // The path named the root itself.
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the root directory is not a file",
        ))
    }

    /// The node path `path` leads to, every link followed; `None` when it
    /// leads nowhere (a missing directory, a link loop).
    pub fn canonical(&self, path: &Path) -> Option<PathBuf> {
        self.resolve(path, Missing::Fail)
            .ok()
            .filter(|r| r.exists())
            .map(|r| r.node_path())
    }

    /// The bytes of the file `path` leads to; `None` when there is none.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match self.resolve(path, Missing::Fail) {
            Ok(resolved) => resolved.read(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names in the directory `path` leads to.
    pub fn list(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let dir = self
            .resolve(path, Missing::Fail)?
            .open_as_dir()?
            .ok_or(io::ErrorKind::NotFound)?;
        list_names(&dir)
    }

    /// `path`'s directory resolved, and its last name as it is: for the
    /// link itself, where `resolve` would follow it.
    pub fn entry(&self, path: &Path) -> io::Result<Resolved> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let dir = self.resolve(parent, Missing::Fail)?;
        let fd = dir.open_as_dir()?.ok_or(io::ErrorKind::NotFound)?;
        let mut steps = dir.steps;
        steps.push(Step {
            dir: fd,
            name: dir.name,
        });
        Ok(Resolved {
            steps,
            name: name.to_os_string(),
        })
    }

    /// Whether writing `path` would meet a read-only filesystem: the one
    /// that holds the deepest of its directories that exists.
    pub fn on_read_only_fs(&self, path: &Path) -> io::Result<bool> {
        let located = self.locate(path)?;
        let existing = located
            .node_path
            .ancestors()
            .nth(located.missing_dirs + 1)
            .unwrap_or(Path::new("/"));
        let flags = if existing == Path::new("/") {
            fs::fstatvfs(&self.root)?.f_flag
        } else {
            let dir = self
                .resolve(existing, Missing::Fail)?
                .open_as_dir()?
                .ok_or(io::ErrorKind::NotFound)?;
            fs::fstatvfs(&dir)?.f_flag
        };
        Ok(flags.contains(fs::StatVfsMountFlags::RDONLY))
    }

    /// Whether `path` is itself a symbolic link (its directory followed).
    pub fn is_link(&self, path: &Path) -> bool {
        self.entry(path).is_ok_and(|entry| entry.is_link())
    }
}

impl Resolved {
    fn dir(&self) -> &OwnedFd {
        &self.steps.last().expect("the root is always there").dir
    }

    /// The file's path on the node, with no link in it.
    pub fn node_path(&self) -> PathBuf {
        node_path_of(&self.steps, Some(&self.name))
    }

    /// What is at this name (a link not followed); `None`: nothing, or
    /// nothing this process can see.
    fn file_type(&self) -> Option<FileType> {
        file_type_at(self.dir(), &self.name).ok().flatten()
    }

    pub fn exists(&self) -> bool {
        self.file_type().is_some()
    }

    pub fn is_link(&self) -> bool {
        self.file_type() == Some(FileType::Symlink)
    }

    /// Makes this name a symbolic link to `target`.
    pub fn symlink_to(&self, target: &Path) -> io::Result<()> {
        Ok(fs::symlinkat(target, self.dir(), &self.name)?)
    }

    pub fn is_regular(&self) -> bool {
        self.file_type() == Some(FileType::RegularFile)
    }

    /// The file's owner (uid, gid) and mode bits, when it exists.
    pub fn owner_and_mode(&self) -> io::Result<Option<(u32, u32, u32)>> {
        match fs::statat(self.dir(), &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some((st.st_uid, st.st_gid, st.st_mode & 0o7777))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What tells this file from one put here since: its inode, size and
    /// modification time; `None` when there is no file.
    pub fn stamp(&self) -> io::Result<Option<String>> {
        match fs::statat(self.dir(), &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(format!(
                "{}:{}:{}.{:09}",
                st.st_ino, st.st_size, st.st_mtime, st.st_mtime_nsec
            ))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Where this symbolic link leads, as written in it.
    pub fn link_target(&self) -> Option<PathBuf> {
        fs::readlinkat(self.dir(), &self.name, Vec::new())
            .ok()
            .map(|target| PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    pub fn read(&self) -> io::Result<Option<Vec<u8>>> {
        let fd = match fs::openat(
            self.dir(),
            &self.name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// This file opened as a directory (for a lock or a listing).
    fn open_as_dir(&self) -> io::Result<Option<OwnedFd>> {
        match open_dir(self.dir(), &self.name) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the file with `bytes` atomically. An existing file keeps its
    /// mode and owner; a new one gets `new_mode`. Temporary files a killed
    /// run left for this file are removed first.
    pub fn write_atomically(&self, bytes: &[u8], new_mode: u32) -> io::Result<()> {
        self.remove_stale_temporaries()?;
        let existing = self.owner_and_mode()?;
        let (temp_name, temp) = self.create_temporary()?;
        let result = (|| {
            let mut file = std::fs::File::from(temp);
            file.write_all(bytes)?;
            let mode = existing.map_or(new_mode, |(_, _, mode)| mode);
            if let Some((uid, gid, _)) = existing {
                fs::fchown(
                    &file,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                )?;
            }
            // After fchown, which clears setuid/setgid bits.
            fs::fchmod(&file, Mode::from_raw_mode(mode))?;
            file.sync_all()?;
            fs::renameat(self.dir(), &temp_name, self.dir(), &self.name)?;
            fs::fsync(self.dir())?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::unlinkat(self.dir(), &temp_name, AtFlags::empty());
        }
        result
    }

    /// Deletes the file, if there, and syncs its directory.
    pub fn remove(&self) -> io::Result<()> {
        match fs::unlinkat(self.dir(), &self.name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(fs::fsync(self.dir())?),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the file's directory, and each one above it up to `depth`
    /// levels, while they are empty: what enable created and nobody has put
    /// anything in since.
    pub fn remove_empty_dirs(&self, depth: usize) {
        for level in 0..depth.min(self.steps.len() - 1) {
            let child = &self.steps[self.steps.len() - 1 - level];
            let parent = &self.steps[self.steps.len() - 2 - level];
            if fs::unlinkat(&parent.dir, &child.name, AtFlags::REMOVEDIR).is_err() {
                break;
            }
        }
    }

    /// The names of the files in this file's directory.
    pub fn siblings(&self) -> io::Result<Vec<OsString>> {
        list_names(self.dir())
    }

    /// The prefix of the temporary files written for this file: hidden, and
    /// never matching containerd's `*.toml` import globs.
    fn temporary_prefix(&self) -> OsString {
        let mut prefix = OsString::from(".");
        prefix.push(&self.name);
        prefix.push(".nydus-overlayfs.");
        prefix
    }

    pub fn remove_stale_temporaries(&self) -> io::Result<()> {
        let prefix = self.temporary_prefix();
        let names = match self.siblings() {
            Ok(names) => names,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for name in names {
            if name.as_bytes().starts_with(prefix.as_bytes()) {
                match fs::unlinkat(self.dir(), &name, AtFlags::empty()) {
                    Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn create_temporary(&self) -> io::Result<(OsString, OwnedFd)> {
        for attempt in 0..100 {
            let mut name = self.temporary_prefix();
            name.push(format!("{}.{attempt}", std::process::id()));
            match fs::openat(
                self.dir(),
                &name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => return Ok((name, fd)),
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free temporary file name",
        ))
    }

    /// Opens (creating it if needed) this file for a lock: read-write, never
    /// through a link.
    pub fn open_for_lock(&self) -> io::Result<OwnedFd> {
        Ok(fs::openat(
            self.dir(),
            &self.name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?)
    }

    /// Whether `fd` is still the file at this name (not removed or replaced).
    pub fn is_same_file(&self, fd: impl AsFd) -> bool {
        match (
            fs::fstat(fd),
            fs::statat(self.dir(), &self.name, AtFlags::SYMLINK_NOFOLLOW),
        ) {
            (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
            _ => false,
        }
    }
}

/// What `name` in `dir` is, a link not followed; `None` when missing.
fn file_type_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<FileType>> {
    match fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn list_names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::Dir::read_from(dir)? {
        let name = OsStr::from_bytes(entry?.file_name().to_bytes()).to_os_string();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

fn open_dir(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn node_path_of(steps: &[Step], name: Option<&OsStr>) -> PathBuf {
    let mut path = PathBuf::from("/");
    for step in &steps[1..] {
        path.push(&step.name);
    }
    if let Some(name) = name {
        path.push(name);
    }
    path
}

/// The names in `path`, `..` kept (the walk applies it), `.` and `/` dropped.
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, NodeFs) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/containerd/managed")).unwrap();
        let node = NodeFs::open(dir.path()).unwrap();
        (dir, node)
    }

    #[test]
    fn absolute_and_relative_links_stay_inside_the_root() {
        let (dir, node) = tree();
        let etc = dir.path().join("etc/containerd");
        std::fs::write(etc.join("managed/config.toml"), "x").unwrap();
        symlink("/etc/containerd/managed/config.toml", etc.join("abs.toml")).unwrap();
        symlink("managed/config.toml", etc.join("rel.toml")).unwrap();
        symlink("rel.toml", etc.join("chain.toml")).unwrap();
        symlink(
            "../../../../../../etc/containerd/managed/config.toml",
            etc.join("climb.toml"),
        )
        .unwrap();
        for name in ["abs", "rel", "chain", "climb"] {
            let path = PathBuf::from(format!("/etc/containerd/{name}.toml"));
            let resolved = node.resolve(&path, Missing::Fail).unwrap();
            assert_eq!(
                resolved.node_path(),
                Path::new("/etc/containerd/managed/config.toml"),
                "{name}"
            );
            assert_eq!(node.read(&path).unwrap().unwrap(), b"x", "{name}");
            assert!(node.is_link(&path), "{name}");
        }
    }

    #[test]
    fn a_loop_is_an_error_and_a_dangling_link_leads_to_its_target() {
        let (dir, node) = tree();
        let etc = dir.path().join("etc/containerd");
        symlink("b.toml", etc.join("a.toml")).unwrap();
        symlink("a.toml", etc.join("b.toml")).unwrap();
        symlink(
            "/etc/containerd/managed/new.toml",
            etc.join("dangling.toml"),
        )
        .unwrap();
        assert!(
            node.resolve(Path::new("/etc/containerd/a.toml"), Missing::Fail)
                .is_err()
        );
        let dangling = node
            .resolve(Path::new("/etc/containerd/dangling.toml"), Missing::Fail)
            .unwrap();
        assert!(!dangling.exists());
        assert_eq!(
            dangling.node_path(),
            Path::new("/etc/containerd/managed/new.toml")
        );
    }

    #[test]
    fn writes_replace_the_target_and_keep_the_link_and_the_mode() {
        let (dir, node) = tree();
        let etc = dir.path().join("etc/containerd");
        std::fs::write(etc.join("managed/config.toml"), "old").unwrap();
        std::fs::set_permissions(
            etc.join("managed/config.toml"),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        symlink("managed/config.toml", etc.join("config.toml")).unwrap();
        let resolved = node
            .resolve(Path::new("/etc/containerd/config.toml"), Missing::Fail)
            .unwrap();
        resolved.write_atomically(b"new", 0o644).unwrap();
        assert!(
            std::fs::symlink_metadata(etc.join("config.toml"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read(etc.join("managed/config.toml")).unwrap(),
            b"new"
        );
        let mode = std::fs::metadata(etc.join("managed/config.toml")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
            0o640
        );
        assert_eq!(
            resolved.siblings().unwrap().len(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn missing_directories_are_made_only_when_asked() {
        let (dir, node) = tree();
        let path = Path::new("/var/lib/nydus-overlayfs/x/path");
        assert_eq!(
            node.resolve(path, Missing::Fail).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        let resolved = node.resolve(path, Missing::Create).unwrap();
        assert!(dir.path().join("var/lib/nydus-overlayfs/x").is_dir());
        resolved.remove_empty_dirs(4);
        assert!(!dir.path().join("var").exists());
        assert_eq!(
            node.locate(path).unwrap(),
            Located {
                node_path: path.to_path_buf(),
                missing_dirs: 4
            }
        );
    }
}
