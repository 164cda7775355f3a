//! Properties over any input (proptest): flag resolution equals a small
//! reference model of mount(8)'s rules, escaped lowerdir lists round-trip,
//! and no secret value ever appears in what the helper prints.

use std::path::PathBuf;

use nydus_overlayfs::options::{self, FLAG_WORDS, Word};
use nydus_overlayfs::overlay::{OverlayMount, join_lowerdir, split_lowerdir};
use proptest::prelude::*;
use rustix::mount::MountFlags;

/// mount(8)'s rules, written independently of the helper's table: each word
/// names one flag and whether it turns it on; the last word about a flag
/// wins; `defaults` says nothing.
fn reference_model(words: &[&str]) -> MountFlags {
    let mut state: Vec<(MountFlags, bool)> = Vec::new();
    for word in words {
        let (flag, on) = match *word {
            "ro" => (MountFlags::RDONLY, true),
            "rw" => (MountFlags::RDONLY, false),
            "nosuid" => (MountFlags::NOSUID, true),
            "suid" => (MountFlags::NOSUID, false),
            "nodev" => (MountFlags::NODEV, true),
            "dev" => (MountFlags::NODEV, false),
            "noexec" => (MountFlags::NOEXEC, true),
            "exec" => (MountFlags::NOEXEC, false),
            "sync" => (MountFlags::SYNCHRONOUS, true),
            "async" => (MountFlags::SYNCHRONOUS, false),
            "dirsync" => (MountFlags::DIRSYNC, true),
            "mand" => (MountFlags::PERMIT_MANDATORY_FILE_LOCKING, true),
            "nomand" => (MountFlags::PERMIT_MANDATORY_FILE_LOCKING, false),
            "noatime" => (MountFlags::NOATIME, true),
            "atime" => (MountFlags::NOATIME, false),
            "nodiratime" => (MountFlags::NODIRATIME, true),
            "diratime" => (MountFlags::NODIRATIME, false),
            "relatime" => (MountFlags::RELATIME, true),
            "norelatime" => (MountFlags::RELATIME, false),
            "strictatime" => (MountFlags::STRICTATIME, true),
            "nostrictatime" => (MountFlags::STRICTATIME, false),
            "lazytime" => (MountFlags::LAZYTIME, true),
            "nolazytime" => (MountFlags::LAZYTIME, false),
            "nosymfollow" => (MountFlags::NOSYMFOLLOW, true),
            "symfollow" => (MountFlags::NOSYMFOLLOW, false),
            "iversion" => (options::MS_I_VERSION, true),
            "noiversion" => (options::MS_I_VERSION, false),
            "silent" => (MountFlags::SILENT, true),
            "loud" => (MountFlags::SILENT, false),
            "defaults" => continue,
            other => panic!("the model does not know {other}"),
        };
        state.retain(|(f, _)| *f != flag);
        state.push((flag, on));
    }
    state
        .iter()
        .filter(|(_, on)| *on)
        .fold(MountFlags::empty(), |acc, (f, _)| acc | *f)
}

fn flag_words() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(
        prop::sample::select(FLAG_WORDS.iter().map(|(w, _)| *w).collect::<Vec<_>>()),
        0..40,
    )
}

/// A path component: any bytes but NUL and '/', with the separators overlayfs
/// escapes well represented.
fn path_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"abc:,\\ =".to_vec()),
            1 => (1u8..=255).prop_filter("no slash", |b| *b != b'/'),
        ],
        1..24,
    )
    .prop_map(|component| [b"/".to_vec(), component].concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn flag_resolution_equals_the_reference_model(words in flag_words()) {
        let effects = words.iter().map(|w| match options::classify(w.as_bytes()) {
            Word::Flag(effect) => effect,
            other => panic!("{w}: {other:?}"),
        });
        prop_assert_eq!(options::resolve_flags(effects), reference_model(&words));
    }

    #[test]
    fn escaped_lowerdir_lists_round_trip(
        layers in prop::collection::vec((path_bytes(), any::<bool>()), 1..20)
    ) {
        // Data-only layers come after all regular ones, and there is a regular one.
        let mut layers = layers;
        layers.sort_by_key(|(_, data_only)| *data_only);
        layers[0].1 = false;
        let joined = join_lowerdir(layers.iter().map(|(p, d)| (p.as_slice(), *d)));
        let split = split_lowerdir(&joined).unwrap();
        let got: Vec<(Vec<u8>, bool)> = split.into_iter().map(|l| (l.path, l.data_only)).collect();
        prop_assert_eq!(got, layers);
    }

    #[test]
    fn no_secret_value_is_ever_shown(
        secret in "[A-Za-z0-9+/]{16,40}",
        key in "[a-z][a-z_]{2,12}",
        noise in prop::collection::vec("[a-z=:,./\\\\]{0,12}", 0..6),
        words in flag_words(),
    ) {
        let known = ["lowerdir", "upperdir", "workdir", "index", "xino", "redirect_dir", "metacopy", "uuid",
            "volatile", "userxattr", "verity", "nfs_export", "default_permissions"];
        prop_assume!(!known.contains(&key.as_str()) && !key.starts_with("user") && key != "comment" && key != "helper");
        let mut parts = vec![format!("lowerdir=/a:/b"), format!("{key}={secret}"), format!("extraoption={secret}"),
            format!("io.katacontainers.volume={secret}")];
        parts.extend(noise);
        parts.extend(words.iter().map(|w| w.to_string()));
        let options = parts.join(",");
        let shown = match OverlayMount::from_options(b"overlay", PathBuf::from("/mnt"), &[options.as_bytes()]) {
            Ok(mount) => mount.to_string(),
            Err(error) => error.to_string(),
        };
        prop_assert!(!shown.contains(&secret), "{} shows the secret", shown);
    }
}
