//! What `enable` must remember to undo itself exactly: for each file it
//! changed, the file's path, its original bytes (or that it did not exist),
//! the bytes it wrote, and the switch it applied. Every file, the journal's
//! and the node's, is written whole to a temporary file and renamed over, so
//! a crash leaves each either old or new, never half-written.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::toml_keys::TomlSwitch;

/// One changed file's record.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    /// The bytes before the first enable; `None` when the file did not exist.
    pub original: Option<Vec<u8>>,
    /// The bytes enable last wrote.
    pub ours: Vec<u8>,
    pub switch: TomlSwitch,
    /// enable created the file's directory too.
    pub created_parent: bool,
}

pub struct Journal {
    dir: PathBuf,
}

/// The files of one entry; `path` first, as an entry exists once it has one.
const ENTRY_FILES: [&str; 5] = ["path", "original", "ours", "switch.toml", "created-parent"];

impl Journal {
    /// The journal in `dir` (a host path).
    pub fn new(dir: PathBuf) -> Journal {
        Journal { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn get(&self, name: &str) -> io::Result<Option<Entry>> {
        let dir = self.entry_dir(name);
        let path = match fs::read(dir.join("path")) {
            Ok(path) => PathBuf::from(String::from_utf8_lossy(&path).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let original = match fs::read(dir.join("original")) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let switch = TomlSwitch::from_toml(&fs::read_to_string(dir.join("switch.toml"))?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let created_parent = dir.join("created-parent").exists();
        Ok(Some(Entry {
            path,
            original,
            ours: fs::read(dir.join("ours"))?,
            switch,
            created_parent,
        }))
    }

    /// Records an entry. The `path` file is written last: an entry without
    /// it does not exist, so a crash midway leaves no half entry.
    pub fn put(&self, name: &str, entry: &Entry) -> io::Result<()> {
        let dir = self.entry_dir(name);
        fs::create_dir_all(&dir)?;
        match &entry.original {
            Some(bytes) => write_atomically(&dir.join("original"), bytes, 0o600)?,
            None => remove_if_present(&dir.join("original"))?,
        }
        write_atomically(&dir.join("ours"), &entry.ours, 0o600)?;
        write_atomically(
            &dir.join("switch.toml"),
            entry.switch.to_toml().as_bytes(),
            0o600,
        )?;
        match entry.created_parent {
            true => write_atomically(&dir.join("created-parent"), b"", 0o600)?,
            false => remove_if_present(&dir.join("created-parent"))?,
        }
        write_atomically(
            &dir.join("path"),
            entry.path.as_os_str().as_encoded_bytes(),
            0o600,
        )
    }

    /// Removes what a killed run left of these entries: temporary files,
    /// and entries it had not finished (no `path` yet: their file was never
    /// written, since enable writes a file only after its entry).
    pub fn remove_interrupted(&self, entries: &[&str]) -> io::Result<()> {
        for entry in entries {
            let dir = self.entry_dir(entry);
            for file in ENTRY_FILES {
                remove_stale_temporaries(&dir, &dir.join(file))?;
            }
            if !dir.join("path").exists() {
                self.remove(entry)?;
            }
        }
        Ok(())
    }

    /// Forgets an entry, `path` first for the same reason.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let dir = self.entry_dir(name);
        for file in ENTRY_FILES {
            remove_if_present(&dir.join(file))?;
        }
        remove_dir_if_empty(&dir)?;
        remove_dir_if_empty(&self.dir)
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_dir_if_empty(dir: &Path) -> io::Result<()> {
    match fs::remove_dir(dir) {
        Err(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            Err(e)
        }
        _ => Ok(()),
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same
/// directory, synced, then renamed over it. An existing file's mode and
/// owner are kept; a new one gets `new_mode`. Temporary files a killed run
/// left for the same path are removed first.
pub fn write_atomically(path: &Path, bytes: &[u8], new_mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    remove_stale_temporaries(dir, path)?;
    let existing = fs::metadata(path).ok();
    let mut temp = tempfile_in(dir, path)?;
    let result = (|| {
        temp.1.write_all(bytes)?;
        let mode = existing
            .as_ref()
            .map_or(new_mode, |m| m.permissions().mode() & 0o7777);
        temp.1.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(m) = &existing {
            std::os::unix::fs::fchown(&temp.1, Some(m.uid()), Some(m.gid()))?;
        }
        temp.1.sync_all()?;
        fs::rename(&temp.0, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp.0);
    }
    result
}

/// The prefix of the temporary files written for `path`.
fn temporary_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.nydus-overlayfs.")
}

pub fn remove_stale_temporaries(dir: &Path, path: &Path) -> io::Result<()> {
    let prefix = temporary_prefix(path);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

fn tempfile_in(dir: &Path, path: &Path) -> io::Result<(PathBuf, fs::File)> {
    let prefix = temporary_prefix(path);
    for attempt in 0..100 {
        let temp = dir.join(format!("{prefix}{}.{attempt}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// Deletes `path` (a node file enable created), syncing its directory.
pub fn remove_file(path: &Path) -> io::Result<()> {
    remove_if_present(path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
