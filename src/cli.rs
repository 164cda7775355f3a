//! The mount-helper command line, as mount(8) and mount.fuse call helpers:
//! `SOURCE TARGET [-sfnv] [-N NS] [-o OPTIONS]… [-t TYPE]`.
//!
//! clap's own error texts repeat the offending argument, which may be an
//! option string holding credentials; errors here name flags only.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind as ClapErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::error::Error;

const USAGE: &str = "nydus-overlayfs SOURCE TARGET [-sfnv] [-N NS] [-o OPTIONS]...";

const DESCRIPTION: &str = "\
Mounts the fuse.nydus-overlayfs mounts that nydus-snapshotter hands to containerd \
(enable_nydus_overlayfs = true) as plain overlayfs. containerd runs \
'mount.fuse overlay TARGET -o OPTIONS -t nydus-overlayfs', and mount.fuse runs this helper; \
mount(8) and fstab run it as mount.fuse.nydus-overlayfs for type fuse.nydus-overlayfs.

The Nydus-only options extraoption= and io.katacontainers.volume= are dropped and never \
printed: they can hold registry credentials. Every other option means what mount(8) says: \
dev, suid, exec and rw clear nodev, nosuid, noexec and ro, and a later word overrides an \
earlier one. Userspace-only words (x-*, comment=, nofail, _netdev, auto, noauto, user, users, \
owner, group) are ignored; bind, rbind, remount, move and propagation words are refused. \
Everything else (lowerdir, upperdir, workdir, volatile, userxattr, index, metacopy, \
redirect_dir, xino, ...) goes to overlayfs unchanged.

Layers are handed to the kernel one by one with the new mount API (lowerdir+, Linux 6.8+), \
so no layer is ever cut off, whatever the number (up to overlayfs's 500) or length of the \
paths. On older kernels the legacy mount(2) is used only when the options fit its one page.

A repeated call is not mounted twice: when TARGET already is the root of an overlay with \
the same upperdir and workdir (containerd's shim calls again when it loses the exit status \
of the first call), the helper does nothing and exits 0, where mounting again would put a \
second overlay on the same upper directory. Any other mount on TARGET is mounted over, as \
mount(8) does.";

/// The exit codes, as mount(8) documents them for helpers; also in the man page.
macro_rules! exit_status {
    () => {
        "  0   mounted, or already mounted by an earlier call (with -f: the mount is valid)
  1   incorrect invocation, bad options or no permission to mount
  32  the mount failed (a missing directory, a refusal by the kernel)"
    };
}

macro_rules! examples {
    () => {
        "  nydus-overlayfs overlay /run/c/rootfs -o lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/3/fs,workdir=/s/3/work,extraoption=...
  mount -t fuse.nydus-overlayfs overlay /mnt -o lowerdir=/l,upperdir=/u,workdir=/w"
    };
}

pub const EXIT_STATUS: &str = exit_status!();
pub const EXAMPLES: &str = examples!();
pub const SYNOPSIS: &[&str] = &[
    USAGE,
    "mount.fuse.nydus-overlayfs SOURCE TARGET [-sfnv] [-N NS] [-o OPTIONS]...",
    "mount.fuse overlay TARGET -o OPTIONS... -t nydus-overlayfs",
];

/// One mount request from mount.fuse, mount(8) or a person.
#[derive(Parser, Debug)]
#[command(
    name = "nydus-overlayfs",
    version,
    about = "Mount helper for nydus-snapshotter's fuse.nydus-overlayfs mounts",
    long_about = DESCRIPTION,
    override_usage = USAGE,
    after_long_help = concat!("Exit status:\n", exit_status!(), "\n\nExamples:\n", examples!()),
)]
pub struct Invocation {
    /// Mount source shown in mountinfo (containerd passes "overlay")
    #[arg(value_name = "SOURCE")]
    pub source: OsString,

    /// Directory to mount the overlay on
    #[arg(value_name = "TARGET")]
    pub target: PathBuf,

    /// Comma-separated mount options; may be given several times
    #[arg(short = 'o', value_name = "OPTIONS", allow_hyphen_values = true)]
    pub options: Vec<OsString>,

    /// Filesystem type; accepted as mount(8) passes it, and ignored
    #[arg(short = 't', value_name = "TYPE")]
    pub fs_type: Option<OsString>,

    /// Check the request and print the mount it would make, without mounting
    #[arg(short = 'f')]
    pub fake: bool,

    /// Print the mount made, with secret option values hidden
    #[arg(short = 'v')]
    pub verbose: bool,

    /// Accepted for mount(8); there is no mtab to write
    #[arg(short = 'n')]
    pub no_mtab: bool,

    /// Skip options overlayfs does not know instead of failing
    #[arg(short = 's')]
    pub sloppy: bool,

    /// Mount in this mount namespace: a PID or a path such as /proc/PID/ns/mnt
    #[arg(short = 'N', value_name = "NS")]
    pub namespace: Option<OsString>,
}

impl Invocation {
    /// The `-o` strings as bytes, in order.
    pub fn option_strings(&self) -> Vec<&[u8]> {
        self.options.iter().map(|o| o.as_bytes()).collect()
    }
}

/// Why parsing stopped short of a mount request.
#[derive(Debug)]
pub enum Stop {
    /// --help or --version: print this and exit 0.
    Print(String),
    Fail(Error),
}

/// The clap command, also the source of the man page.
pub fn command() -> clap::Command {
    Invocation::command()
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, Stop> {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(invocation) = parse_common(&args) {
        return Ok(invocation);
    }
    let parsed = command()
        .try_get_matches_from(args)
        .and_then(|matches| Invocation::from_arg_matches(&matches));
    parsed.map_err(|error| match error.kind() {
        ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
            Stop::Print(error.render().to_string())
        }
        kind => Stop::Fail(Error::usage(describe(kind, invalid_arg(&error)))),
    })
}

/// The one shape of call containerd's mount.fuse and mount(8) make,
/// `SOURCE TARGET -o OPTIONS [-o OPTIONS]... [-t TYPE]`, read without clap:
/// clap builds its whole command (every flag and help text) and then
/// parses, on every call, and that was two thirds of the helper's own
/// instructions per mount (docs/performance.md). Only words clap reads the
/// same way are taken here: no word but the flags starts with '-', none is
/// empty, -t at most once. Anything else, every error included, goes to
/// clap (tests::common_shape_reads_as_clap_reads_it).
fn parse_common(args: &[OsString]) -> Option<Invocation> {
    let [_, source, target, rest @ ..] = args else {
        return None;
    };
    let mut rest = rest;
    let plain = |word: &OsString| !word.is_empty() && !word.as_bytes().starts_with(b"-");
    if !plain(source) || !plain(target) {
        return None;
    }
    let mut options = Vec::new();
    let mut fs_type = None;
    while let [flag, value, tail @ ..] = rest {
        match flag.as_bytes() {
            b"-o" if plain(value) => options.push(value.clone()),
            b"-t" if plain(value) && fs_type.is_none() => fs_type = Some(value.clone()),
            _ => return None,
        }
        rest = tail;
    }
    rest.is_empty().then(|| Invocation {
        source: source.clone(),
        target: PathBuf::from(target),
        options,
        fs_type,
        fake: false,
        verbose: false,
        no_mtab: false,
        sloppy: false,
        namespace: None,
    })
}

/// The flag clap complained about, cut before any value: `-ofoo` is `-o`,
/// `--x=y` is `--x`. Non-flag arguments are not returned at all.
fn invalid_arg(error: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split([' ', '=']).next()?;
    match flag.strip_prefix("--") {
        Some(_) => Some(flag.to_string()),
        None if flag.starts_with('-') => Some(flag.chars().take(2).collect()),
        None => None,
    }
}

fn describe(kind: ClapErrorKind, flag: Option<String>) -> String {
    match (kind, flag) {
        (ClapErrorKind::MissingRequiredArgument, _) => {
            format!("SOURCE and TARGET are needed; usage: {USAGE}")
        }
        (ClapErrorKind::UnknownArgument, Some(flag)) => {
            format!("unknown flag '{flag}'; see --help")
        }
        (ClapErrorKind::UnknownArgument, None) => format!("too many arguments; usage: {USAGE}"),
        (ClapErrorKind::InvalidValue, Some(flag)) => {
            format!("flag '{flag}' needs a value; usage: {USAGE}")
        }
        (ClapErrorKind::ArgumentConflict, Some(flag)) => {
            format!("flag '{flag}' given twice; give it once")
        }
        _ => format!("invalid arguments; usage: {USAGE}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Invocation, Stop> {
        parse(
            std::iter::once("nydus-overlayfs")
                .chain(words.iter().copied())
                .map(OsString::from),
        )
    }

    fn failure(words: &[&str]) -> String {
        match parse_words(words) {
            Err(Stop::Fail(error)) => {
                assert_eq!(error.exit_code(), 1);
                error.to_string()
            }
            other => panic!("{words:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn mount_fuse_and_mount8_forms_parse() {
        let inv = parse_words(&["overlay", "/t", "-o", "lowerdir=/a,dev,suid"]).unwrap();
        assert_eq!(
            (inv.source.to_str(), inv.target.to_str()),
            (Some("overlay"), Some("/t"))
        );
        assert_eq!(inv.option_strings(), [&b"lowerdir=/a,dev,suid"[..]]);

        let inv = parse_words(&[
            "overlay",
            "/t",
            "-n",
            "-v",
            "-o",
            "rw,lowerdir=/a",
            "-t",
            "fuse.nydus-overlayfs",
        ])
        .unwrap();
        assert!(inv.no_mtab && inv.verbose && !inv.fake && !inv.sloppy);

        let inv = parse_words(&[
            "-sfnv", "-N", "1", "overlay", "/t", "-o", "a", "-ob", "-o", "c",
        ])
        .unwrap();
        assert!(inv.sloppy && inv.fake && inv.no_mtab && inv.verbose);
        assert_eq!(inv.namespace.as_deref().and_then(|n| n.to_str()), Some("1"));
        assert_eq!(inv.option_strings(), [&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn errors_name_flags_but_never_values() {
        let secret = "extraoption=c2VjcmV0";
        let cases: &[(&[&str], &str)] = &[
            (&["overlay"], "SOURCE and TARGET are needed"),
            (&[], "SOURCE and TARGET are needed"),
            (&["overlay", "/t", secret], "too many arguments"),
            (&["overlay", "/t", "-x", secret], "unknown flag '-x'"),
            (
                &["overlay", "/t", &format!("-q{secret}")],
                "unknown flag '-q'",
            ),
            (
                &["overlay", "/t", &format!("--token={secret}")],
                "unknown flag '--token'",
            ),
            (&["overlay", "/t", "-o"], "flag '-o' needs a value"),
        ];
        for (words, expected) in cases {
            let message = failure(words);
            assert!(message.contains(expected), "{words:?}: {message}");
            assert!(!message.contains("c2VjcmV0"), "{words:?} leaked: {message}");
        }
    }

    /// What clap alone makes of `words`.
    fn clap_parse(words: &[OsString]) -> Result<Invocation, clap::Error> {
        command()
            .try_get_matches_from(words)
            .and_then(|matches| Invocation::from_arg_matches(&matches))
    }

    #[test]
    fn the_calls_containerd_and_mount8_make_take_the_common_shape() {
        for words in [
            &["nydus-overlayfs", "overlay", "/t", "-o", "lowerdir=/a,dev"][..],
            &[
                "m",
                "overlay",
                "/t",
                "-o",
                "a",
                "-o",
                "b",
                "-t",
                "fuse.nydus-overlayfs",
            ],
            &["m", "overlay", "/t"],
        ] {
            let words: Vec<OsString> = words.iter().map(OsString::from).collect();
            let common = parse_common(&words).expect("the common shape");
            let clap = clap_parse(&words).unwrap();
            assert_eq!(format!("{common:?}"), format!("{clap:?}"));
        }
    }

    /// Words of every kind clap treats differently.
    fn word() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "overlay", "/t", "-o", "-t", "a,b", "-v", "-f", "-s", "-n", "-N", "1", "-", "--", "",
            "-oa", "--help", "-V", "fuse", "x=-y", "-x",
        ])
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4096))]
        /// Whatever parse_common takes, clap reads the same way. The words
        /// come as two, then pairs, the shape parse_common looks for, so
        /// that most cases are near it.
        #[test]
        fn common_shape_reads_as_clap_reads_it(
            positional in proptest::collection::vec(
                proptest::sample::select(vec!["overlay", "/t", "", "-v", "--"]),
                1..4,
            ),
            pairs in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["-o", "-t", "-v", "-oa"]),
                    proptest::sample::select(vec!["fuse", "a,b", "", "-v", "--", "-o", "x=-y"]),
                ),
                0..4,
            ),
            odd in proptest::option::of(word()),
        ) {
            let words: Vec<OsString> = std::iter::once("nydus-overlayfs")
                .chain(positional)
                .chain(pairs.into_iter().flat_map(|(flag, value)| [flag, value]))
                .chain(odd)
                .map(OsString::from)
                .collect();
            if let Some(common) = parse_common(&words) {
                let clap = clap_parse(&words);
                proptest::prop_assert!(clap.is_ok(), "{words:?}: clap refuses what parse_common took");
                proptest::prop_assert_eq!(format!("{common:?}"), format!("{:?}", clap.unwrap()));
            }
        }
    }

    #[test]
    fn help_and_version_are_printed_not_failed() {
        for flag in ["--help", "-h", "--version", "-V"] {
            match parse_words(&[flag]) {
                Err(Stop::Print(text)) => {
                    assert!(text.contains("nydus-overlayfs"), "{flag}: {text}")
                }
                other => panic!("{flag}: {other:?}"),
            }
        }
    }
}
