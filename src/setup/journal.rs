//! What `enable` must remember to undo itself exactly: for each file it
//! changed, the file's path (the file a link leads to, not the link), its
//! original bytes (or that it did not exist), the bytes it wrote, the edit
//! it applied and how many directories it made for it. Each record is a
//! directory of small files in the node's `/var/lib/nydus-overlayfs`, each
//! written whole and renamed into place, so a crash leaves each either old
//! or new, never half-written.

use std::io;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use super::config_edit::{ConfigEdit, ManagedKey, parse};
use super::rootfs::{Missing, NodeFs};

/// One changed file's record.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The file changed, on the node, with no link in it.
    pub path: PathBuf,
    /// The bytes before the first enable; `None` when the file did not exist.
    pub original: Option<Vec<u8>>,
    /// The bytes enable last wrote.
    pub ours: Vec<u8>,
    pub edit: ConfigEdit,
    /// How many directories above the file enable made for it.
    pub created_dirs: usize,
}

/// The records, by name, in a node's journal directory.
pub struct Journal<'a> {
    node: &'a NodeFs,
    dir: PathBuf,
}

/// The files of one entry; `path` first, as an entry exists once it has one.
const ENTRY_FILES: [&str; 7] = [
    "path",
    "original",
    "ours",
    "edit.toml",
    "created-dirs",
    // What the journal of nydus-overlayfs 0.1.0 called `edit.toml` (the
    // same TOML) and `created-dirs` (empty: one directory). Read, so that
    // a node switched by that release can be switched back; replaced by
    // the next put.
    LEGACY_EDIT,
    LEGACY_CREATED_PARENT,
];
const LEGACY_EDIT: &str = "switch.toml";
const LEGACY_CREATED_PARENT: &str = "created-parent";

impl<'a> Journal<'a> {
    /// The journal in `dir`, a node path.
    pub fn new(node: &'a NodeFs, dir: PathBuf) -> Journal<'a> {
        Journal { node, dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str, file: &str) -> PathBuf {
        self.dir.join(name).join(file)
    }

    fn read(&self, name: &str, file: &str) -> io::Result<Option<Vec<u8>>> {
        self.node.read(&self.file(name, file))
    }

    pub fn get(&self, name: &str) -> io::Result<Option<Entry>> {
        let Some(path) = self.read(name, "path")? else {
            return Ok(None);
        };
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("journal entry {name}: {what}"),
            )
        };
        // A reader without the lock (status) may meet an entry that a
        // disable is removing, `path` first: gone now means gone.
        let required = |file: &str| -> io::Result<Option<Vec<u8>>> {
            match self.read(name, file)? {
                Some(bytes) => Ok(Some(bytes)),
                None if self.read(name, "path")?.is_none() => Ok(None),
                None => Err(invalid(&format!("{file} is missing"))),
            }
        };
        let edit_text = match self.read(name, LEGACY_EDIT)? {
            Some(legacy) => Some(legacy),
            None => required("edit.toml")?,
        };
        let (Some(edit_text), Some(ours)) = (edit_text, required("ours")?) else {
            return Ok(None);
        };
        let edit = edit_from_toml(&String::from_utf8_lossy(&edit_text)).map_err(|e| invalid(&e))?;
        let created_dirs = match self.read(name, "created-dirs")? {
            None if self.read(name, LEGACY_CREATED_PARENT)?.is_some() => 1,
            None => 0,
            Some(text) => String::from_utf8_lossy(&text)
                .trim()
                .parse()
                .map_err(|_| invalid("created-dirs is not a number"))?,
        };
        Ok(Some(Entry {
            path: PathBuf::from(String::from_utf8_lossy(&path).into_owned()),
            original: self.read(name, "original")?,
            ours,
            edit,
            created_dirs,
        }))
    }

    fn write(&self, name: &str, file: &str, bytes: Option<&[u8]>) -> io::Result<()> {
        let resolved = self.node.resolve(&self.file(name, file), Missing::Create)?;
        match bytes {
            Some(bytes) => resolved.write_atomically(bytes, 0o600),
            None => resolved.remove(),
        }
    }

    /// Records an entry. The `path` file is written last: an entry without
    /// it does not exist, so a crash midway leaves no half entry.
    pub fn put(&self, name: &str, entry: &Entry) -> io::Result<()> {
        self.write(name, "original", entry.original.as_deref())?;
        self.write(name, "ours", Some(&entry.ours))?;
        self.write(
            name,
            "edit.toml",
            Some(edit_to_toml(&entry.edit).as_bytes()),
        )?;
        let dirs = entry.created_dirs.to_string();
        self.write(
            name,
            "created-dirs",
            (entry.created_dirs > 0).then_some(dirs.as_bytes()),
        )?;
        self.write(name, LEGACY_EDIT, None)?;
        self.write(name, LEGACY_CREATED_PARENT, None)?;
        self.write(
            name,
            "path",
            Some(entry.path.as_os_str().as_encoded_bytes()),
        )
    }

    /// Removes what a killed run left of these entries: temporary files,
    /// and entries it had not finished (no `path` yet: their file was never
    /// written, since enable writes a file only after its entry).
    pub fn remove_interrupted(&self, names: &[&str]) -> io::Result<()> {
        for name in names {
            for file in ENTRY_FILES {
                match self.node.resolve(&self.file(name, file), Missing::Fail) {
                    Ok(resolved) => resolved.remove_stale_temporaries()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            if self.read(name, "path")?.is_none() {
                self.remove(name)?;
            }
        }
        Ok(())
    }

    /// Forgets an entry, `path` first for the same reason; then its
    /// directory, and the journal's, when empty.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        for file in ENTRY_FILES {
            match self.node.resolve(&self.file(name, file), Missing::Fail) {
                Ok(resolved) => {
                    resolved.remove()?;
                    resolved.remove_empty_dirs(2);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The edit as TOML, for the journal.
fn edit_to_toml(edit: &ConfigEdit) -> String {
    let mut doc = DocumentMut::new();
    doc.insert(
        "imports",
        Item::Value(Value::Array(edit.imports.iter().collect())),
    );
    doc.insert("new_file", toml_edit::value(edit.new_file.as_str()));
    let mut keys = toml_edit::ArrayOfTables::new();
    for key in &edit.keys {
        let mut table = Table::new();
        table.insert("path", Item::Value(Value::Array(key.path.iter().collect())));
        table.insert("value", Item::Value(key.value.clone().decorated(" ", "")));
        keys.push(table);
    }
    doc.insert("key", Item::ArrayOfTables(keys));
    doc.to_string()
}

fn edit_from_toml(text: &str) -> Result<ConfigEdit, String> {
    let doc = parse(text)?;
    let strings = |item: Option<&Item>| -> Vec<String> {
        item.and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut edit = ConfigEdit {
        keys: Vec::new(),
        imports: strings(doc.get("imports")),
        new_file: doc
            .get("new_file")
            .and_then(Item::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    if let Some(keys) = doc.get("key").and_then(Item::as_array_of_tables) {
        for table in keys {
            let value = table
                .get("value")
                .and_then(Item::as_value)
                .ok_or("a key without a value")?;
            edit.keys.push(ManagedKey {
                path: strings(table.get("path")),
                value: value.clone().decorated("", ""),
            });
        }
    }
    Ok(edit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_go_away_whole() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeFs::open(dir.path()).unwrap();
        let journal = Journal::new(&node, PathBuf::from("/var/lib/nydus-overlayfs"));
        let entry = Entry {
            path: PathBuf::from("/etc/containerd/managed.toml"),
            original: Some(b"version = 2\r\n".to_vec()),
            ours: b"ours".to_vec(),
            edit: ConfigEdit {
                keys: vec![ManagedKey::new(&["a", "b.c", "d"], false)],
                imports: vec!["/usr/share/x.toml".into()],
                new_file: "version = 2\n".into(),
            },
            created_dirs: 2,
        };
        journal.put("containerd-config", &entry).unwrap();
        assert_eq!(journal.get("containerd-config").unwrap(), Some(entry));
        assert_eq!(journal.get("nydus-config").unwrap(), None);
        journal.remove("containerd-config").unwrap();
        assert!(!dir.path().join("var/lib/nydus-overlayfs").exists());
        assert!(
            dir.path().join("var/lib").exists(),
            "only the journal's directories go"
        );
    }

    #[test]
    fn a_journal_of_release_0_1_0_is_read_and_removed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeFs::open(dir.path()).unwrap();
        let journal = Journal::new(&node, PathBuf::from("/var/lib/nydus-overlayfs"));
        let entry_dir = dir.path().join("var/lib/nydus-overlayfs/containerd-config");
        std::fs::create_dir_all(&entry_dir).unwrap();
        let edit = ConfigEdit {
            keys: vec![ManagedKey::new(&["plugins", "x", "snapshotter"], "nydus")],
            imports: vec!["/usr/share/x.toml".into()],
            new_file: "version = 2\n".into(),
        };
        for (file, bytes) in [
            ("ours", b"ours".as_slice()),
            ("switch.toml", edit_to_toml(&edit).as_bytes()),
            ("created-parent", b""),
            ("path", b"/etc/containerd/config.toml"),
        ] {
            std::fs::write(entry_dir.join(file), bytes).unwrap();
        }
        let read = journal.get("containerd-config").unwrap().unwrap();
        assert_eq!(
            (read.edit, read.created_dirs, read.original),
            (edit, 1, None)
        );
        journal.remove("containerd-config").unwrap();
        assert!(!dir.path().join("var/lib/nydus-overlayfs").exists());
    }
}
