//! Splitting mount option strings and saying what each word means.
//!
//! One table, [`TABLE`], in the manner of util-linux's option maps: each row
//! is one word — how it is written, and its class. Every decision about a
//! word is read off its row: classification (the first row that matches wins,
//! so table order is precedence), flag resolution, which mount flags are
//! superblock flags and which are mount attributes, the atime mode, the words
//! that describe a mount, and which overlayfs options may be shown (and are
//! kept by `-s` where the kernel cannot be asked). A word no row matches is
//! overlayfs data whose value is never shown. A new word is a new row.

use rustix::mount::{MountAttrFlags, MountFlags};

/// What one VFS flag word does to the mount flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagEffect {
    pub clear: bool,
    pub flags: MountFlags,
}

/// `MS_I_VERSION`, which rustix does not name.
pub const MS_I_VERSION: MountFlags = MountFlags::from_bits_retain(1 << 23);

/// How a row's name is written in an option word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The word is the name, with no `=`.
    Exact,
    /// `name=value`: the name is a key and a value is required.
    KeyValue,
    /// The key is the name, with or without a value.
    Key,
    /// The word starts with the name (`x-…`).
    Prefix,
}

/// Where the new mount API puts a VFS flag (mount(2) takes them all as bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lands {
    /// A superblock flag: an fsconfig flag named as the word that sets it.
    Superblock,
    /// A per-mount attribute of fsmount.
    Attribute(MountAttrFlags),
    /// Both: `ro` makes the superblock and the mount read-only.
    SuperblockAndAttribute(MountAttrFlags),
    /// One of the atime modes, of which exactly one is in effect (see [`atime`]).
    Atime(MountAttrFlags),
    /// Only mount(2) takes it; the new API has no place for it.
    Legacy,
}

/// Whether a flag word is one of the words that describe a mount (`-v`, `-f`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Shown when in effect: a setting word when its bit is set, a clearing
    /// word when it is clear, an atime word when it is the mode.
    InEffect,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    pub bit: MountFlags,
    pub clears: bool,
    pub lands: Lands,
    pub shown: Shown,
}

/// The options overlayfs takes a directory from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKey {
    /// `lowerdir=L1:L2::D1`, all lower layers in one list.
    LowerList,
    /// `lowerdir+=L`, one lower layer.
    LowerAppended,
    /// `datadir+=D`, one data-only layer.
    DataAppended,
    Upper,
    Work,
}

/// The class of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A VFS flag, as mount(8) (libmount) reads it.
    Flag(Flag),
    /// Read by mount(8) and fstab only; the kernel never sees it.
    UserspaceOnly,
    /// Added by nydus-snapshotter for Nydus itself; its value (base64 JSON
    /// that can hold registry credentials) is dropped and never shown.
    NydusOnly,
    /// Asks for another kind of mount operation than "mount a new overlay
    /// here"; refused rather than guessed.
    Refused,
    /// An overlayfs option whose value may be shown.
    Overlay,
    /// An overlayfs option naming a directory.
    Layer(LayerKey),
}

/// One word of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub name: &'static str,
    pub written: Written,
    pub class: Class,
}

const fn row(name: &'static str, written: Written, class: Class) -> Row {
    Row {
        name,
        written,
        class,
    }
}

const fn flag(
    name: &'static str,
    bit: MountFlags,
    clears: bool,
    lands: Lands,
    shown: Shown,
) -> Row {
    row(
        name,
        Written::Exact,
        Class::Flag(Flag {
            bit,
            clears,
            lands,
            shown,
        }),
    )
}

const SET: bool = false;
const CLEAR: bool = true;

use Class::{Layer, NydusOnly, Overlay, Refused, UserspaceOnly};
use Lands::{Atime, Attribute, Legacy, Superblock, SuperblockAndAttribute};
use Shown::{InEffect, Never};
use Written::{Exact, Key, KeyValue, Prefix};
use {MountAttrFlags as A, MountFlags as MS};

/// Every word this helper knows, first match first. Flags are listed in the
/// order mountinfo-style output shows them; the atime words last, and of
/// those the first whose bit is set is the mode (relatime when none is).
#[rustfmt::skip]
pub const TABLE: &[Row] = &[
    // Nydus-only, before all else: never let another row claim its value.
    row("extraoption", Key, NydusOnly),
    row("io.katacontainers.volume", Key, NydusOnly),
    // Userspace-only (mount(8): x-* kept in utab, X-* only in fstab).
    row("x-", Prefix, UserspaceOnly),
    row("X-", Prefix, UserspaceOnly),
    row("user", KeyValue, UserspaceOnly),
    row("comment", KeyValue, UserspaceOnly),
    row("helper", KeyValue, UserspaceOnly),
    row("uhelper", KeyValue, UserspaceOnly),
    // VFS flags: a clearing word undoes the word that sets its bit.
    flag("ro", MS::RDONLY, SET, SuperblockAndAttribute(A::MOUNT_ATTR_RDONLY), InEffect),
    flag("rw", MS::RDONLY, CLEAR, SuperblockAndAttribute(A::MOUNT_ATTR_RDONLY), InEffect),
    flag("nosuid", MS::NOSUID, SET, Attribute(A::MOUNT_ATTR_NOSUID), InEffect),
    flag("suid", MS::NOSUID, CLEAR, Attribute(A::MOUNT_ATTR_NOSUID), Never),
    flag("nodev", MS::NODEV, SET, Attribute(A::MOUNT_ATTR_NODEV), InEffect),
    flag("dev", MS::NODEV, CLEAR, Attribute(A::MOUNT_ATTR_NODEV), Never),
    flag("noexec", MS::NOEXEC, SET, Attribute(A::MOUNT_ATTR_NOEXEC), InEffect),
    flag("exec", MS::NOEXEC, CLEAR, Attribute(A::MOUNT_ATTR_NOEXEC), Never),
    flag("sync", MS::SYNCHRONOUS, SET, Superblock, InEffect),
    flag("async", MS::SYNCHRONOUS, CLEAR, Superblock, Never),
    flag("dirsync", MS::DIRSYNC, SET, Superblock, InEffect),
    flag("mand", MS::PERMIT_MANDATORY_FILE_LOCKING, SET, Superblock, InEffect),
    flag("nomand", MS::PERMIT_MANDATORY_FILE_LOCKING, CLEAR, Superblock, Never),
    flag("nodiratime", MS::NODIRATIME, SET, Attribute(A::MOUNT_ATTR_NODIRATIME), InEffect),
    flag("diratime", MS::NODIRATIME, CLEAR, Attribute(A::MOUNT_ATTR_NODIRATIME), Never),
    flag("lazytime", MS::LAZYTIME, SET, Superblock, InEffect),
    flag("nolazytime", MS::LAZYTIME, CLEAR, Superblock, Never),
    flag("nosymfollow", MS::NOSYMFOLLOW, SET, Attribute(A::MOUNT_ATTR_NOSYMFOLLOW), InEffect),
    flag("symfollow", MS::NOSYMFOLLOW, CLEAR, Attribute(A::MOUNT_ATTR_NOSYMFOLLOW), Never),
    flag("iversion", MS_I_VERSION, SET, Legacy, InEffect),
    flag("noiversion", MS_I_VERSION, CLEAR, Legacy, Never),
    flag("silent", MS::SILENT, SET, Legacy, InEffect),
    flag("loud", MS::SILENT, CLEAR, Legacy, Never),
    flag("strictatime", MS::STRICTATIME, SET, Atime(A::MOUNT_ATTR_STRICTATIME), InEffect),
    flag("nostrictatime", MS::STRICTATIME, CLEAR, Atime(A::MOUNT_ATTR_STRICTATIME), Never),
    flag("noatime", MS::NOATIME, SET, Atime(A::MOUNT_ATTR_NOATIME), InEffect),
    flag("atime", MS::NOATIME, CLEAR, Atime(A::MOUNT_ATTR_NOATIME), Never),
    flag("relatime", MS::RELATIME, SET, Atime(A::MOUNT_ATTR_RELATIME), InEffect),
    flag("norelatime", MS::RELATIME, CLEAR, Atime(A::MOUNT_ATTR_RELATIME), Never),
    // Stands for "no other flags": changes nothing.
    flag("defaults", MS::empty(), SET, Legacy, Never),
    // Userspace-only words (mount(8) and fstab).
    row("auto", Exact, UserspaceOnly),
    row("noauto", Exact, UserspaceOnly),
    row("user", Exact, UserspaceOnly),
    row("nouser", Exact, UserspaceOnly),
    row("users", Exact, UserspaceOnly),
    row("owner", Exact, UserspaceOnly),
    row("noowner", Exact, UserspaceOnly),
    row("group", Exact, UserspaceOnly),
    row("nogroup", Exact, UserspaceOnly),
    row("_netdev", Exact, UserspaceOnly),
    row("nofail", Exact, UserspaceOnly),
    // Other mount operations, and propagation.
    row("bind", Exact, Refused),
    row("rbind", Exact, Refused),
    row("remount", Exact, Refused),
    row("move", Exact, Refused),
    row("shared", Exact, Refused),
    row("rshared", Exact, Refused),
    row("slave", Exact, Refused),
    row("rslave", Exact, Refused),
    row("private", Exact, Refused),
    row("rprivate", Exact, Refused),
    row("unbindable", Exact, Refused),
    row("runbindable", Exact, Refused),
    // overlayfs's directories.
    row("lowerdir", Key, Layer(LayerKey::LowerList)),
    row("lowerdir+", Key, Layer(LayerKey::LowerAppended)),
    row("datadir+", Key, Layer(LayerKey::DataAppended)),
    row("upperdir", Key, Layer(LayerKey::Upper)),
    row("workdir", Key, Layer(LayerKey::Work)),
    // overlayfs's documented options: switches, whose values may be shown.
    row("default_permissions", Key, Overlay),
    row("redirect_dir", Key, Overlay),
    row("index", Key, Overlay),
    row("uuid", Key, Overlay),
    row("nfs_export", Key, Overlay),
    row("userxattr", Key, Overlay),
    row("xino", Key, Overlay),
    row("metacopy", Key, Overlay),
    row("verity", Key, Overlay),
    row("volatile", Key, Overlay),
];

impl Row {
    fn matches(&self, word: &[u8], key: &[u8], value: Option<&[u8]>) -> bool {
        let name = self.name.as_bytes();
        match self.written {
            Written::Exact => word == name,
            Written::KeyValue => value.is_some() && key == name,
            Written::Key => key == name,
            Written::Prefix => word.starts_with(name),
        }
    }
}

/// The class of one option word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word<'a> {
    Flag(FlagEffect),
    UserspaceOnly,
    NydusOnly(&'static str),
    Refused,
    /// A directory option; `name` is its key as written.
    Layer {
        key: LayerKey,
        name: &'a [u8],
        value: Option<&'a [u8]>,
    },
    /// Any other overlayfs option; `shown` when its row says its value may
    /// be printed (no row: overlayfs decides, and the value stays hidden).
    Data {
        key: &'a [u8],
        value: Option<&'a [u8]>,
        shown: bool,
    },
}

/// Says what one option word (as written, escapes included) means: the
/// class of the first row of [`TABLE`] that matches it.
pub fn classify(word: &[u8]) -> Word<'_> {
    let (key, value) = match word.iter().position(|&b| b == b'=') {
        Some(at) => (&word[..at], Some(&word[at + 1..])),
        None => (word, None),
    };
    let Some(row) = TABLE.iter().find(|row| row.matches(word, key, value)) else {
        return Word::Data {
            key,
            value,
            shown: false,
        };
    };
    match row.class {
        Class::Flag(flag) => Word::Flag(FlagEffect {
            clear: flag.clears,
            flags: flag.bit,
        }),
        Class::UserspaceOnly => Word::UserspaceOnly,
        Class::NydusOnly => Word::NydusOnly(row.name),
        Class::Refused => Word::Refused,
        Class::Overlay => Word::Data {
            key,
            value,
            shown: true,
        },
        Class::Layer(layer) => Word::Layer {
            key: layer,
            name: key,
            value,
        },
    }
}

/// Applies flag effects in order, each overriding what came before.
pub fn resolve_flags(effects: impl IntoIterator<Item = FlagEffect>) -> MountFlags {
    effects
        .into_iter()
        .fold(MountFlags::empty(), |flags, effect| {
            if effect.clear {
                flags.difference(effect.flags)
            } else {
                flags.union(effect.flags)
            }
        })
}

/// The flag rows, in table order.
fn flag_rows() -> impl Iterator<Item = (&'static str, Flag)> {
    TABLE.iter().filter_map(|row| match row.class {
        Class::Flag(flag) => Some((row.name, flag)),
        _ => None,
    })
}

/// The setting words whose bit is set in `flags`, with where they land.
fn set_words(flags: MountFlags) -> impl Iterator<Item = (&'static str, Flag)> {
    flag_rows().filter(move |(_, f)| !f.clears && !f.bit.is_empty() && flags.contains(f.bit))
}

/// The atime mode `flags` give, as mount(2) resolves it: the first atime
/// row whose bit is set, else the last (relatime, the kernel's default).
/// Returns the word and its mount attribute.
pub fn atime(flags: MountFlags) -> (&'static str, MountAttrFlags) {
    let mut modes = flag_rows().filter_map(|(name, f)| match f.lands {
        Lands::Atime(attr) if !f.clears => Some((name, f.bit, attr)),
        _ => None,
    });
    let mut last = None;
    for (name, bit, attr) in modes.by_ref() {
        if flags.contains(bit) {
            return (name, attr);
        }
        last = Some((name, attr));
    }
    last.expect("the table has atime rows")
}

/// The fsconfig flags (superblock flags) `flags` ask for, by name.
pub fn superblock_flags(flags: MountFlags) -> impl Iterator<Item = &'static str> {
    set_words(flags).filter_map(|(name, f)| match f.lands {
        Lands::Superblock | Lands::SuperblockAndAttribute(_) => Some(name),
        _ => None,
    })
}

/// The mount attributes for fsmount that `flags` ask for, atime included.
pub fn mount_attributes(flags: MountFlags) -> MountAttrFlags {
    set_words(flags).fold(atime(flags).1, |attrs, (_, f)| match f.lands {
        Lands::Attribute(attr) | Lands::SuperblockAndAttribute(attr) => attrs | attr,
        _ => attrs,
    })
}

/// The words that describe `flags`, in table order: each shown word that is
/// in effect, and exactly one atime word.
pub fn flag_words(flags: MountFlags) -> impl Iterator<Item = &'static str> {
    let mode = atime(flags).0;
    flag_rows()
        .filter(move |(name, f)| {
            let in_effect = match f.lands {
                Lands::Atime(_) => !f.clears && *name == mode,
                _ => f.clears != flags.contains(f.bit),
            };
            f.shown == Shown::InEffect && in_effect
        })
        .map(|(name, _)| name)
}

/// Splits `text` at every `separator` not preceded by a backslash, the way
/// overlayfs splits its option string and its lowerdir list. Escapes are kept
/// in the pieces; empty pieces are kept too (callers decide what they mean).
pub fn split_escaped(text: &[u8], separator: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut i = 0;
        // Jumps from one backslash or separator to the next: layer paths are
        // long and have few of either (a lowerdir of 500 layers is ~100 KB).
        while let Some(at) = find_either(&text[i..], b'\\', separator) {
            i += at;
            if text[i] == b'\\' {
                i += 2;
                if i >= text.len() {
                    break;
                }
            } else {
                rest = Some(&text[i + 1..]);
                return Some(&text[..i]);
            }
        }
        rest = None;
        Some(text)
    })
}

/// Where `a` or `b` first occurs in `text`, eight bytes at a time: the
/// helper is built for size (opt-level "z"), which leaves a byte loop
/// unvectorized, and a lowerdir of 500 long layer paths is ~100 KB scanned
/// twice (make bench; docs/performance.md).
fn find_either(text: &[u8], a: u8, b: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte of `word` is zero.
    let has_zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let (all_a, all_b) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut start = 0;
    while let Some(chunk) = text.get(start..start + 8) {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap());
        if has_zero_byte(word ^ all_a) | has_zero_byte(word ^ all_b) != 0 {
            break;
        }
        start += 8;
    }
    text[start..]
        .iter()
        .position(|&c| c == a || c == b)
        .map(|at| start + at)
}

/// Removes overlayfs escapes: a backslash makes the next byte literal.
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    // Copies the runs between backslashes whole.
    while let Some(at) = find_either(rest, b'\\', b'\\') {
        out.extend_from_slice(&rest[..at]);
        out.extend(rest.get(at + 1));
        rest = rest.get(at + 2..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

/// Escapes `specials` (and the backslash itself) so that overlayfs reads
/// `text` back as one literal piece.
pub fn escape(text: &[u8], specials: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut rest = text;
    // Copies the runs without anything to escape whole.
    while let Some(at) = rest
        .iter()
        .position(|b| *b == b'\\' || specials.contains(b))
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(&[b'\\', rest[at]]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out
}

/// The words of several option strings (several `-o`), in order, without the
/// empty ones mount.fuse and mount(8) also skip.
pub fn words<'a>(option_strings: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> {
    option_strings
        .iter()
        .flat_map(|s| split_escaped(s, b','))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn sets(flags: MountFlags) -> FlagEffect {
        FlagEffect {
            clear: false,
            flags,
        }
    }

    const fn clears(flags: MountFlags) -> FlagEffect {
        FlagEffect { clear: true, flags }
    }

    fn flags_of(words: &str) -> MountFlags {
        resolve_flags(words.split(',').map(|w| match classify(w.as_bytes()) {
            Word::Flag(effect) => effect,
            other => panic!("{w} is not a flag word: {other:?}"),
        }))
    }

    #[test]
    fn each_word_falls_in_its_class() {
        let cases: &[(&str, Word)] = &[
            ("dev", Word::Flag(clears(MountFlags::NODEV))),
            ("nodev", Word::Flag(sets(MountFlags::NODEV))),
            ("suid", Word::Flag(clears(MountFlags::NOSUID))),
            ("rw", Word::Flag(clears(MountFlags::RDONLY))),
            ("ro", Word::Flag(sets(MountFlags::RDONLY))),
            ("exec", Word::Flag(clears(MountFlags::NOEXEC))),
            ("atime", Word::Flag(clears(MountFlags::NOATIME))),
            ("defaults", Word::Flag(sets(MountFlags::empty()))),
            ("noauto", Word::UserspaceOnly),
            ("nofail", Word::UserspaceOnly),
            ("_netdev", Word::UserspaceOnly),
            ("x-systemd.requires=foo", Word::UserspaceOnly),
            ("X-mount.mkdir", Word::UserspaceOnly),
            ("comment=anything", Word::UserspaceOnly),
            ("user=alice", Word::UserspaceOnly),
            ("owner", Word::UserspaceOnly),
            (
                "extraoption=eyJzZWNyZXQiOjF9",
                Word::NydusOnly("extraoption"),
            ),
            ("extraoption", Word::NydusOnly("extraoption")),
            (
                "io.katacontainers.volume=e30=",
                Word::NydusOnly("io.katacontainers.volume"),
            ),
            ("bind", Word::Refused),
            ("rbind", Word::Refused),
            ("remount", Word::Refused),
            ("move", Word::Refused),
            ("rshared", Word::Refused),
            ("private", Word::Refused),
            (
                "volatile",
                Word::Data {
                    key: b"volatile",
                    value: None,
                    shown: true,
                },
            ),
            (
                "userxattr",
                Word::Data {
                    key: b"userxattr",
                    value: None,
                    shown: true,
                },
            ),
            (
                "lowerdir=/a:/b",
                Word::Layer {
                    key: LayerKey::LowerList,
                    name: b"lowerdir",
                    value: Some(b"/a:/b"),
                },
            ),
            (
                "datadir+=/d",
                Word::Layer {
                    key: LayerKey::DataAppended,
                    name: b"datadir+",
                    value: Some(b"/d"),
                },
            ),
            (
                "upperdir",
                Word::Layer {
                    key: LayerKey::Upper,
                    name: b"upperdir",
                    value: None,
                },
            ),
            (
                "index=on",
                Word::Data {
                    key: b"index",
                    value: Some(b"on"),
                    shown: true,
                },
            ),
            // A flag word with a value is not the flag: the kernel decides.
            (
                "ro=1",
                Word::Data {
                    key: b"ro",
                    value: Some(b"1"),
                    shown: false,
                },
            ),
            (
                "extraoptions=x",
                Word::Data {
                    key: b"extraoptions",
                    value: Some(b"x"),
                    shown: false,
                },
            ),
            // user= and comment= need a value to be userspace's.
            (
                "comment",
                Word::Data {
                    key: b"comment",
                    value: None,
                    shown: false,
                },
            ),
            ("user", Word::UserspaceOnly),
        ];
        for (word, expected) in cases {
            assert_eq!(classify(word.as_bytes()), *expected, "word {word}");
        }
    }

    #[test]
    fn later_words_override_earlier_ones() {
        let cases: &[(&str, MountFlags)] = &[
            ("nodev,nosuid,dev,suid", MountFlags::empty()),
            ("dev,suid,nodev", MountFlags::NODEV),
            ("ro,rw", MountFlags::empty()),
            ("rw,ro", MountFlags::RDONLY),
            ("noexec,exec,noexec", MountFlags::NOEXEC),
            ("noatime,atime", MountFlags::empty()),
            ("sync,async", MountFlags::empty()),
            (
                "async,sync,dirsync",
                MountFlags::SYNCHRONOUS.union(MountFlags::DIRSYNC),
            ),
            ("ro,defaults", MountFlags::RDONLY),
            (
                "nodiratime,relatime",
                MountFlags::NODIRATIME.union(MountFlags::RELATIME),
            ),
            ("relatime,norelatime,strictatime", MountFlags::STRICTATIME),
            ("lazytime,nolazytime,nosymfollow", MountFlags::NOSYMFOLLOW),
            ("nosymfollow,symfollow", MountFlags::empty()),
            ("mand,nomand", MountFlags::empty()),
            ("iversion", MS_I_VERSION),
            ("silent,loud", MountFlags::empty()),
        ];
        for (words, expected) in cases {
            assert_eq!(flags_of(words), *expected, "words {words}");
        }
    }

    #[test]
    fn every_row_is_listed_once() {
        for (i, row) in TABLE.iter().enumerate() {
            assert!(
                TABLE[i + 1..]
                    .iter()
                    .all(|r| (r.name, r.written) != (row.name, row.written)),
                "{} listed twice",
                row.name
            );
        }
    }

    #[test]
    fn splitting_honours_backslash_escapes() {
        let cases: &[(&str, u8, &[&str])] = &[
            ("a,b,c", b',', &["a", "b", "c"]),
            ("a\\,b,c", b',', &["a\\,b", "c"]),
            ("a,,b,", b',', &["a", "", "b", ""]),
            ("", b',', &[""]),
            ("/l1:/l2::/d1", b':', &["/l1", "/l2", "", "/d1"]),
            ("/a\\:b:/c", b':', &["/a\\:b", "/c"]),
            ("/a\\\\:/c", b':', &["/a\\\\", "/c"]),
            ("trailing\\", b':', &["trailing\\"]),
        ];
        for (text, sep, expected) in cases {
            let got: Vec<&[u8]> = split_escaped(text.as_bytes(), *sep).collect();
            let expected: Vec<&[u8]> = expected.iter().map(|s| s.as_bytes()).collect();
            assert_eq!(got, expected, "splitting {text:?}");
        }
    }

    #[test]
    fn escape_and_unescape_round_trip() {
        for path in ["/plain", "/a,b:c", "/back\\slash", "/x\\:y", ""] {
            let escaped = escape(path.as_bytes(), b":,");
            assert_eq!(unescape(&escaped), path.as_bytes(), "path {path:?}");
            let pieces: Vec<&[u8]> = split_escaped(&escaped, b':').collect();
            assert_eq!(pieces.len(), 1, "escaped {path:?} split into {pieces:?}");
        }
    }

    #[test]
    fn words_from_several_strings_skip_empty_ones() {
        let strings: [&[u8]; 3] = [b"lowerdir=/a,,ro", b"", b"upperdir=/u\\,x,"];
        let got: Vec<&[u8]> = words(&strings).collect();
        let expected: [&[u8]; 3] = [b"lowerdir=/a", b"ro", b"upperdir=/u\\,x"];
        assert_eq!(got, expected);
    }
}

/// The run-copying escape, unescape and split against byte-at-a-time
/// models of what overlayfs does, on texts dense in backslashes and
/// separators.
#[cfg(test)]
mod byte_models {
    use super::*;

    fn unescape_model(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut bytes = text.iter();
        while let Some(&b) = bytes.next() {
            match b {
                b'\\' => out.extend(bytes.next()),
                b => out.push(b),
            }
        }
        out
    }

    fn escape_model(text: &[u8], specials: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in text {
            if b == b'\\' || specials.contains(&b) {
                out.push(b'\\');
            }
            out.push(b);
        }
        out
    }

    fn split_model(text: &[u8], separator: u8) -> Vec<Vec<u8>> {
        let (mut pieces, mut piece, mut i) = (Vec::new(), Vec::new(), 0);
        while i < text.len() {
            match text[i] {
                b'\\' => {
                    piece.extend_from_slice(&text[i..(i + 2).min(text.len())]);
                    i += 2;
                    continue;
                }
                b if b == separator => pieces.push(std::mem::take(&mut piece)),
                b => piece.push(b),
            }
            i += 1;
        }
        pieces.push(piece);
        pieces
    }

    proptest::proptest! {
        #[test]
        fn run_copying_matches_the_byte_models(
            text in proptest::collection::vec(
                proptest::sample::select(vec![
                    b'a', b'a', b'a', b'a', b'a', b'a', b'/', b'\\', b':', b',', 0x80, 0xff, 0,
                ]),
                0..80,
            )
        ) {
            proptest::prop_assert_eq!(unescape(&text), unescape_model(&text));
            proptest::prop_assert_eq!(escape(&text, b":,"), escape_model(&text, b":,"));
            for separator in [b':', b','] {
                let pieces: Vec<Vec<u8>> =
                    split_escaped(&text, separator).map(<[u8]>::to_vec).collect();
                proptest::prop_assert_eq!(pieces, split_model(&text, separator));
            }
        }
    }
}
