//! Splitting mount option strings and saying what each word means.
//!
//! Every word falls into exactly one class, read off the tables below rather
//! than decided by a chain of ifs: a VFS flag (the MS_* bits mount(8) sets or
//! clears), a word only userspace reads, a Nydus-only option, a word this
//! helper refuses, or filesystem data handed to overlayfs unchanged.

use rustix::mount::MountFlags;

/// What one VFS flag word does to the mount flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagEffect {
    pub clear: bool,
    pub flags: MountFlags,
}

const fn sets(flags: MountFlags) -> FlagEffect {
    FlagEffect {
        clear: false,
        flags,
    }
}

const fn clears(flags: MountFlags) -> FlagEffect {
    FlagEffect { clear: true, flags }
}

/// `MS_I_VERSION`, which rustix does not name.
pub const MS_I_VERSION: MountFlags = MountFlags::from_bits_retain(1 << 23);

/// The VFS words and their meaning, as mount(8) (libmount) gives them. A word
/// that clears a flag undoes the word that sets it; the later word wins.
/// `defaults` changes nothing: it only stands for "no other flags".
pub const FLAG_WORDS: &[(&str, FlagEffect)] = &[
    ("defaults", sets(MountFlags::empty())),
    ("ro", sets(MountFlags::RDONLY)),
    ("rw", clears(MountFlags::RDONLY)),
    ("nosuid", sets(MountFlags::NOSUID)),
    ("suid", clears(MountFlags::NOSUID)),
    ("nodev", sets(MountFlags::NODEV)),
    ("dev", clears(MountFlags::NODEV)),
    ("noexec", sets(MountFlags::NOEXEC)),
    ("exec", clears(MountFlags::NOEXEC)),
    ("sync", sets(MountFlags::SYNCHRONOUS)),
    ("async", clears(MountFlags::SYNCHRONOUS)),
    ("dirsync", sets(MountFlags::DIRSYNC)),
    ("mand", sets(MountFlags::PERMIT_MANDATORY_FILE_LOCKING)),
    ("nomand", clears(MountFlags::PERMIT_MANDATORY_FILE_LOCKING)),
    ("noatime", sets(MountFlags::NOATIME)),
    ("atime", clears(MountFlags::NOATIME)),
    ("nodiratime", sets(MountFlags::NODIRATIME)),
    ("diratime", clears(MountFlags::NODIRATIME)),
    ("relatime", sets(MountFlags::RELATIME)),
    ("norelatime", clears(MountFlags::RELATIME)),
    ("strictatime", sets(MountFlags::STRICTATIME)),
    ("nostrictatime", clears(MountFlags::STRICTATIME)),
    ("lazytime", sets(MountFlags::LAZYTIME)),
    ("nolazytime", clears(MountFlags::LAZYTIME)),
    ("nosymfollow", sets(MountFlags::NOSYMFOLLOW)),
    ("symfollow", clears(MountFlags::NOSYMFOLLOW)),
    ("iversion", sets(MS_I_VERSION)),
    ("noiversion", clears(MS_I_VERSION)),
    ("silent", sets(MountFlags::SILENT)),
    ("loud", clears(MountFlags::SILENT)),
];

/// Words mount(8) and fstab use for themselves; the kernel never sees them.
const USERSPACE_WORDS: &[&str] = &[
    "auto", "noauto", "user", "nouser", "users", "owner", "noowner", "group", "nogroup", "_netdev",
    "nofail",
];

/// Keys of `key=value` words that only userspace reads.
const USERSPACE_KEYS: &[&str] = &["user", "comment", "helper", "uhelper"];

/// Prefixes of words kept for userspace tools (mount(8): `x-*`, `X-*`).
const USERSPACE_PREFIXES: &[&str] = &["x-", "X-"];

/// Options nydus-snapshotter adds for Nydus itself. Their values are base64
/// JSON that can hold registry credentials: they are dropped and never shown.
pub const NYDUS_ONLY_KEYS: &[&str] = &["extraoption", "io.katacontainers.volume"];

/// Words that ask for another kind of mount operation than "mount a new
/// overlay here"; this helper refuses them rather than guess.
const REFUSED_WORDS: &[&str] = &[
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

/// The class of one option word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word<'a> {
    Flag(FlagEffect),
    UserspaceOnly,
    NydusOnly(&'static str),
    Refused,
    Data {
        key: &'a [u8],
        value: Option<&'a [u8]>,
    },
}

/// Says what one option word (as written, escapes included) means.
pub fn classify(word: &[u8]) -> Word<'_> {
    let (key, value) = match word.iter().position(|&b| b == b'=') {
        Some(at) => (&word[..at], Some(&word[at + 1..])),
        None => (word, None),
    };
    if let Some(&key) = NYDUS_ONLY_KEYS.iter().find(|k| k.as_bytes() == key) {
        return Word::NydusOnly(key);
    }
    if USERSPACE_PREFIXES
        .iter()
        .any(|p| word.starts_with(p.as_bytes()))
        || (value.is_some() && USERSPACE_KEYS.iter().any(|k| k.as_bytes() == key))
    {
        return Word::UserspaceOnly;
    }
    if value.is_none() {
        if let Some((_, effect)) = FLAG_WORDS.iter().find(|(w, _)| w.as_bytes() == word) {
            return Word::Flag(*effect);
        }
        if USERSPACE_WORDS.iter().any(|w| w.as_bytes() == word) {
            return Word::UserspaceOnly;
        }
        if REFUSED_WORDS.iter().any(|w| w.as_bytes() == word) {
            return Word::Refused;
        }
    }
    Word::Data { key, value }
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

/// Splits `text` at every `separator` not preceded by a backslash, the way
/// overlayfs splits its option string and its lowerdir list. Escapes are kept
/// in the pieces; empty pieces are kept too (callers decide what they mean).
pub fn split_escaped(text: &[u8], separator: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\\' => i += 2,
                b if b == separator => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => i += 1,
            }
        }
        rest = None;
        Some(text)
    })
}

/// Removes overlayfs escapes: a backslash makes the next byte literal.
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            if let Some(&next) = bytes.next() {
                out.push(next);
            }
        } else {
            out.push(b);
        }
    }
    out
}

/// Escapes `specials` (and the backslash itself) so that overlayfs reads
/// `text` back as one literal piece.
pub fn escape(text: &[u8], specials: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        if b == b'\\' || specials.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
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
                },
            ),
            (
                "userxattr",
                Word::Data {
                    key: b"userxattr",
                    value: None,
                },
            ),
            (
                "lowerdir=/a:/b",
                Word::Data {
                    key: b"lowerdir",
                    value: Some(b"/a:/b"),
                },
            ),
            (
                "index=on",
                Word::Data {
                    key: b"index",
                    value: Some(b"on"),
                },
            ),
            // A flag word with a value is not the flag: the kernel decides.
            (
                "ro=1",
                Word::Data {
                    key: b"ro",
                    value: Some(b"1"),
                },
            ),
            (
                "extraoptions=x",
                Word::Data {
                    key: b"extraoptions",
                    value: Some(b"x"),
                },
            ),
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
    fn every_flag_word_is_listed_once() {
        for (i, (word, _)) in FLAG_WORDS.iter().enumerate() {
            assert!(
                FLAG_WORDS[i + 1..].iter().all(|(w, _)| w != word),
                "{word} listed twice"
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
