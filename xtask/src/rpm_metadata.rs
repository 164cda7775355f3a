//! The cargo-generate-rpm metadata for the tree `make install` staged, for
//! `--metadata-overwrite`, so that the file list is written once, in the
//! Makefile's install rule: `cargo xtask rpm-metadata STAGED_ROOT OUT.toml`.
//! - assets: every staged file with its staged mode; /etc files are
//!   %config(noreplace), documentation and man pages %doc;
//! - post_uninstall_script: rpm/post_uninstall.sh, then an rmdir of each of
//!   our own directories, deepest first. cargo-generate-rpm 0.21 cannot make a
//!   package own directories, so erase would leave ours behind. Only ours (by
//!   name, and the systemd drop-in directory) and the shells' completion
//!   directories, which the install creates where that shell is missing (where
//!   it is installed they hold its files, and rmdir leaves them): the distro's
//!   directories (/usr/lib/modules-load.d, /usr/share/licenses, ...) stay the
//!   distro's.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use toml_edit::{Array, DocumentMut, InlineTable, value};

/// Everything under `root`, relative to it, in byte order (as `LC_ALL=C sort`):
/// (path, is a directory).
fn walk(root: &Path) -> io::Result<Vec<(String, bool)>> {
    fn visit(root: &Path, rel: &str, out: &mut Vec<(String, bool)>) -> io::Result<()> {
        for entry in std::fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| io::Error::other(format!("{name:?}: not UTF-8")))?;
            let path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let is_dir = entry.file_type()?.is_dir();
            out.push((path.clone(), is_dir));
            if is_dir {
                visit(root, &path, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(root, "", &mut out)?;
    out.sort();
    Ok(out)
}

fn is_ours(dir: &str) -> bool {
    dir.contains("nydus-overlayfs")
        || dir.ends_with(".service.d")
        || [
            "usr/share/bash-completion",
            "usr/share/zsh",
            "usr/share/fish",
        ]
        .iter()
        .any(|shell| dir.starts_with(shell))
}

pub fn write(root: &Path, out: &Path) -> io::Result<()> {
    let tree = walk(root)?;
    let mut assets = Array::new();
    for (rel, _) in tree.iter().filter(|(_, is_dir)| !is_dir) {
        let path = root.join(rel);
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            return Err(io::Error::other(format!(
                "{rel} is a link; cargo-generate-rpm cannot package links"
            )));
        }
        let mut asset = InlineTable::new();
        asset.insert("source", path.display().to_string().into());
        asset.insert("dest", format!("/{rel}").into());
        asset.insert(
            "mode",
            format!("{:o}", meta.permissions().mode() & 0o7777).into(),
        );
        if rel.starts_with("etc/") {
            asset.insert("config", "noreplace".into());
        } else if ["usr/share/doc/", "usr/share/man/", "usr/share/licenses/"]
            .iter()
            .any(|doc| rel.starts_with(doc))
        {
            asset.insert("doc", true.into());
        }
        asset.fmt();
        assets.push(asset);
    }
    for asset in assets.iter_mut() {
        asset.decor_mut().set_prefix("\n  ");
    }
    assets.set_trailing("\n");
    assets.set_trailing_comma(true);

    // Deepest first: in reverse byte order every directory comes after all
    // of its own.
    let mut script = std::fs::read_to_string("rpm/post_uninstall.sh")?;
    script.push_str("if [ \"$1\" -eq 0 ]; then\n");
    for (rel, _) in tree
        .iter()
        .rev()
        .filter(|(rel, is_dir)| *is_dir && is_ours(rel))
    {
        script.push_str(&format!(
            "    rmdir --ignore-fail-on-non-empty /{rel} 2>/dev/null || :\n"
        ));
    }
    script.push_str("fi\n");

    let mut doc = DocumentMut::new();
    doc["assets"] = value(assets);
    doc["post_uninstall_script"] = value(script);
    std::fs::write(out, doc.to_string())
}
