//! Properties over any input (proptest): classification, flag resolution,
//! the superblock flags and mount attributes, and the words that describe a
//! mount equal a small reference model of mount(8)'s and the kernel's rules,
//! written without the helper's table; escaped lowerdir lists round-trip;
//! and no secret value ever appears in what the helper prints.

use std::path::PathBuf;

use nydus_overlayfs::options::{self, Class, TABLE, Word};
use nydus_overlayfs::overlay::{OverlayMount, join_lowerdir, split_lowerdir};
use proptest::prelude::*;
use rustix::mount::{MountAttrFlags, MountFlags};

/// mount(8)'s rules, written independently of the helper's table: each word
/// names one flag and whether it turns it on; the last word about a flag
/// wins; `defaults` says nothing.
fn reference_model(words: &[&str]) -> MountFlags {
    let mut state: Vec<(MountFlags, bool)> = Vec::new();
    for word in words {
        if *word == "defaults" {
            continue;
        }
        let (flag, on) =
            model_flag(word).unwrap_or_else(|| panic!("the model does not know {word}"));
        state.retain(|(f, _)| *f != flag);
        state.push((flag, on));
    }
    state
        .iter()
        .filter(|(_, on)| *on)
        .fold(MountFlags::empty(), |acc, (f, _)| acc | *f)
}

/// The VFS words: the flag each names and whether it turns it on.
const MODEL_FLAGS: &[(&str, MountFlags, bool)] = &[
    ("ro", MountFlags::RDONLY, true),
    ("rw", MountFlags::RDONLY, false),
    ("nosuid", MountFlags::NOSUID, true),
    ("suid", MountFlags::NOSUID, false),
    ("nodev", MountFlags::NODEV, true),
    ("dev", MountFlags::NODEV, false),
    ("noexec", MountFlags::NOEXEC, true),
    ("exec", MountFlags::NOEXEC, false),
    ("sync", MountFlags::SYNCHRONOUS, true),
    ("async", MountFlags::SYNCHRONOUS, false),
    ("dirsync", MountFlags::DIRSYNC, true),
    ("mand", MountFlags::PERMIT_MANDATORY_FILE_LOCKING, true),
    ("nomand", MountFlags::PERMIT_MANDATORY_FILE_LOCKING, false),
    ("noatime", MountFlags::NOATIME, true),
    ("atime", MountFlags::NOATIME, false),
    ("nodiratime", MountFlags::NODIRATIME, true),
    ("diratime", MountFlags::NODIRATIME, false),
    ("relatime", MountFlags::RELATIME, true),
    ("norelatime", MountFlags::RELATIME, false),
    ("strictatime", MountFlags::STRICTATIME, true),
    ("nostrictatime", MountFlags::STRICTATIME, false),
    ("lazytime", MountFlags::LAZYTIME, true),
    ("nolazytime", MountFlags::LAZYTIME, false),
    ("nosymfollow", MountFlags::NOSYMFOLLOW, true),
    ("symfollow", MountFlags::NOSYMFOLLOW, false),
    ("iversion", options::MS_I_VERSION, true),
    ("noiversion", options::MS_I_VERSION, false),
    ("silent", MountFlags::SILENT, true),
    ("loud", MountFlags::SILENT, false),
];

fn model_flag(word: &str) -> Option<(MountFlags, bool)> {
    MODEL_FLAGS
        .iter()
        .find(|(w, _, _)| *w == word)
        .map(|(_, flag, on)| (*flag, *on))
}

/// The new mount API's view of the flags, as the kernel documents it: `ro`,
/// `sync`, `dirsync`, `mand` and `lazytime` are superblock flags (fsconfig),
/// `ro`, `nosuid`, `nodev`, `noexec`, `nodiratime` and `nosymfollow` mount
/// attributes, and exactly one atime mode: strictatime over noatime over
/// relatime (the default).
fn reference_new_api(flags: MountFlags) -> (Vec<&'static str>, MountAttrFlags) {
    let superblock = [
        (MountFlags::RDONLY, "ro"),
        (MountFlags::SYNCHRONOUS, "sync"),
        (MountFlags::DIRSYNC, "dirsync"),
        (MountFlags::PERMIT_MANDATORY_FILE_LOCKING, "mand"),
        (MountFlags::LAZYTIME, "lazytime"),
    ];
    let attributes = [
        (MountFlags::RDONLY, MountAttrFlags::MOUNT_ATTR_RDONLY),
        (MountFlags::NOSUID, MountAttrFlags::MOUNT_ATTR_NOSUID),
        (MountFlags::NODEV, MountAttrFlags::MOUNT_ATTR_NODEV),
        (MountFlags::NOEXEC, MountAttrFlags::MOUNT_ATTR_NOEXEC),
        (
            MountFlags::NODIRATIME,
            MountAttrFlags::MOUNT_ATTR_NODIRATIME,
        ),
        (
            MountFlags::NOSYMFOLLOW,
            MountAttrFlags::MOUNT_ATTR_NOSYMFOLLOW,
        ),
    ];
    let mut attrs = if flags.contains(MountFlags::STRICTATIME) {
        MountAttrFlags::MOUNT_ATTR_STRICTATIME
    } else if flags.contains(MountFlags::NOATIME) {
        MountAttrFlags::MOUNT_ATTR_NOATIME
    } else {
        MountAttrFlags::MOUNT_ATTR_RELATIME
    };
    for (flag, attr) in attributes {
        if flags.contains(flag) {
            attrs |= attr;
        }
    }
    let mut names: Vec<&str> = superblock
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    names.sort();
    (names, attrs)
}

/// How `mount -v` shows flags: rw or ro first, the set flags in a fixed
/// order, then the atime mode.
fn reference_shown(flags: MountFlags) -> Vec<&'static str> {
    let mut words = vec![if flags.contains(MountFlags::RDONLY) {
        "ro"
    } else {
        "rw"
    }];
    for (flag, word) in [
        (MountFlags::NOSUID, "nosuid"),
        (MountFlags::NODEV, "nodev"),
        (MountFlags::NOEXEC, "noexec"),
        (MountFlags::SYNCHRONOUS, "sync"),
        (MountFlags::DIRSYNC, "dirsync"),
        (MountFlags::PERMIT_MANDATORY_FILE_LOCKING, "mand"),
        (MountFlags::NODIRATIME, "nodiratime"),
        (MountFlags::LAZYTIME, "lazytime"),
        (MountFlags::NOSYMFOLLOW, "nosymfollow"),
        (options::MS_I_VERSION, "iversion"),
        (MountFlags::SILENT, "silent"),
    ] {
        if flags.contains(flag) {
            words.push(word);
        }
    }
    words.push(if flags.contains(MountFlags::STRICTATIME) {
        "strictatime"
    } else if flags.contains(MountFlags::NOATIME) {
        "noatime"
    } else {
        "relatime"
    });
    words
}

const USERSPACE: &[&str] = &[
    "auto", "noauto", "user", "nouser", "users", "owner", "noowner", "group", "nogroup", "_netdev",
    "nofail",
];
const REFUSED: &[&str] = &[
    "bind",
    "rbind",
    "remount",
    "move",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];
const LAYER_KEYS: &[&str] = &["lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir"];
/// overlayfs's documented options, whose values may be shown.
const DOCUMENTED: &[&str] = &[
    "default_permissions",
    "redirect_dir",
    "index",
    "uuid",
    "nfs_export",
    "userxattr",
    "xino",
    "metacopy",
    "verity",
    "volatile",
];
const OTHER_WORDS: &[&str] = &[
    "extraoption",
    "io.katacontainers.volume",
    "x-",
    "X-",
    "comment",
    "helper",
    "uhelper",
    "defaults",
    "ro",
    "nosymfollow",
    "strictatime",
];

/// What each kind of word is, written without the helper's table.
fn reference_class(word: &str) -> &'static str {
    let (key, value) = match word.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (word, None),
    };
    if key == "extraoption" || key == "io.katacontainers.volume" {
        return "nydus";
    }
    if word.starts_with("x-") || word.starts_with("X-") {
        return "userspace";
    }
    if value.is_some() && ["user", "comment", "helper", "uhelper"].contains(&key) {
        return "userspace";
    }
    if value.is_none() {
        if word == "defaults" || model_flag(word).is_some() {
            return "flag";
        }
        if USERSPACE.contains(&word) {
            return "userspace";
        }
        if REFUSED.contains(&word) {
            return "refused";
        }
    }
    if LAYER_KEYS.contains(&key) {
        return "layer";
    }
    if DOCUMENTED.contains(&key) {
        "shown"
    } else {
        "hidden"
    }
}

fn class_of(word: &str) -> &'static str {
    match options::classify(word.as_bytes()) {
        Word::Flag(_) => "flag",
        Word::UserspaceOnly => "userspace",
        Word::NydusOnly(_) => "nydus",
        Word::Refused => "refused",
        Word::Layer { .. } => "layer",
        Word::Data { shown: true, .. } => "shown",
        Word::Data { shown: false, .. } => "hidden",
    }
}

/// The flag words of the helper's table and of the model: a word added to
/// the table and not to the model makes the model panic, and one missing
/// from the table is not classified as a flag.
fn table_flag_words() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = TABLE
        .iter()
        .filter(|row| matches!(row.class, Class::Flag(_)))
        .map(|row| row.name)
        .chain(MODEL_FLAGS.iter().map(|(w, _, _)| *w))
        .chain(["defaults"])
        .collect();
    words.sort();
    words.dedup();
    words
}

fn flag_words() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(table_flag_words()), 0..40)
}

/// Any word: a word of the table or of the model, with or without a value,
/// or made up.
fn any_word() -> impl Strategy<Value = String> {
    let lists = [USERSPACE, REFUSED, LAYER_KEYS, DOCUMENTED, OTHER_WORDS];
    let names: Vec<&'static str> = TABLE
        .iter()
        .map(|row| row.name)
        .chain(lists.into_iter().flatten().copied())
        .chain(MODEL_FLAGS.iter().map(|(w, _, _)| *w))
        .collect();
    prop_oneof![
        prop::sample::select(names.clone()).prop_map(str::to_string),
        (prop::sample::select(names.clone()), "[a-z/=]{0,6}").prop_map(|(n, v)| format!("{n}={v}")),
        (prop::sample::select(names), "[a-z_+.-]{0,4}").prop_map(|(n, s)| format!("{n}{s}")),
        "[a-zA-Z_+.=-]{1,12}",
    ]
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
    fn each_word_is_in_the_class_the_model_gives(word in any_word()) {
        prop_assert_eq!(class_of(&word), reference_class(&word), "word {}", word);
    }

    #[test]
    fn flags_land_and_show_as_the_model_says(words in flag_words()) {
        let flags = reference_model(&words);
        let mut superblock: Vec<&str> = options::superblock_flags(flags).collect();
        superblock.sort();
        prop_assert_eq!((superblock, options::mount_attributes(flags)), reference_new_api(flags));
        let shown: Vec<&str> = options::flag_words(flags).collect();
        prop_assert_eq!(shown, reference_shown(flags));
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
