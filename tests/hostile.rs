//! The hostile-input corpus: every case a row of CASES. Each gives its
//! documented exit code and either mounts (stderr empty) or prints exactly
//! one stderr line naming the problem; no case prints a secret, and none
//! leaves anything mounted.

mod common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The fixture tree every case draws its paths from.
struct Env {
    fx: Fixture,
    lower: String,
    upper: PathBuf,
    work: PathBuf,
    target: PathBuf,
}

impl Env {
    fn p(&self, relative: &str) -> String {
        self.fx.path(relative).display().to_string()
    }

    /// The usual writable options around `lower`.
    fn with_lower(&self, lower: &str) -> String {
        format!(
            "lowerdir={lower},upperdir={},workdir={}",
            self.upper.display(),
            self.work.display()
        )
    }

    fn good(&self) -> String {
        self.with_lower(&self.lower)
    }
}

fn argv(env: &Env, options: &[String]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["overlay".into(), env.target.clone().into()];
    for o in options {
        args.push("-o".into());
        args.push(o.into());
    }
    args
}

/// `overlay TARGET -o OPTIONS`, with the secret extraoption appended.
fn opts(env: &Env, options: String) -> Vec<OsString> {
    argv(env, &[format!("{options},{}", secret_extraoption())])
}

struct Case {
    name: &'static str,
    args: fn(&Env) -> Vec<OsString>,
    /// 0: it mounts; 1: usage; 32: the mount fails.
    exit: i32,
    /// What the one stderr line says (empty for a mount).
    says: &'static str,
}

const SECRET_WORD: &str = "hunter2";

const CASES: &[Case] = &[
    // The command line
    Case {
        name: "no arguments",
        args: |_| vec![],
        exit: 1,
        says: "SOURCE and TARGET are needed",
    },
    Case {
        name: "only a source",
        args: |_| vec!["overlay".into()],
        exit: 1,
        says: "SOURCE and TARGET are needed",
    },
    Case {
        name: "an extra argument holding a secret",
        args: |e| {
            let mut a = argv(e, &[e.good()]);
            a.push(secret_extraoption().into());
            a
        },
        exit: 1,
        says: "too many arguments",
    },
    Case {
        name: "an unknown short flag glued to a secret",
        args: |e| {
            let mut a = argv(e, &[e.good()]);
            a.push(format!("-q{SECRET_WORD}").into());
            a
        },
        exit: 1,
        says: "unknown flag '-q'",
    },
    Case {
        name: "an unknown long flag with a secret value",
        args: |e| {
            let mut a = argv(e, &[e.good()]);
            a.push(format!("--token={SECRET_WORD}").into());
            a
        },
        exit: 1,
        says: "unknown flag '--token'",
    },
    Case {
        name: "-o without its value",
        args: |e| vec!["overlay".into(), e.target.clone().into(), "-o".into()],
        exit: 1,
        says: "flag '-o' needs a value",
    },
    Case {
        name: "-N naming no namespace",
        args: |e| {
            let mut a = argv(e, &[e.good()]);
            a.extend(["-N".into(), "/nonexistent/ns".into()]);
            a
        },
        exit: 1,
        says: "cannot open mount namespace '/nonexistent/ns'",
    },
    // What the options ask for
    Case {
        name: "empty options",
        args: |e| argv(e, &[String::new()]),
        exit: 1,
        says: "no lower layer given",
    },
    Case {
        name: "only commas",
        args: |e| argv(e, &[",,,,".into()]),
        exit: 1,
        says: "no lower layer given",
    },
    Case {
        name: "only the extraoption",
        args: |e| opts(e, String::new()),
        exit: 1,
        says: "no lower layer given",
    },
    Case {
        name: "only the kata volume",
        args: |e| argv(e, &[format!("io.katacontainers.volume={SECRET_WORD}")]),
        exit: 1,
        says: "no lower layer given",
    },
    Case {
        name: "one read-only layer",
        args: |e| opts(e, format!("lowerdir={}", e.p("layers/000"))),
        exit: 1,
        says: "needs at least 2 lower layers",
    },
    Case {
        name: "an empty lowerdir",
        args: |e| opts(e, e.with_lower("")),
        exit: 1,
        says: "'lowerdir' needs a directory path",
    },
    Case {
        name: "lowerdir twice",
        args: |e| opts(e, format!("{},lowerdir={}", e.good(), e.lower)),
        exit: 1,
        says: "option 'lowerdir' given twice",
    },
    Case {
        name: "upperdir twice",
        args: |e| opts(e, format!("{},upperdir={}", e.good(), e.upper.display())),
        exit: 1,
        says: "option 'upperdir' given twice",
    },
    Case {
        name: "workdir twice",
        args: |e| opts(e, format!("{},workdir={}", e.good(), e.work.display())),
        exit: 1,
        says: "option 'workdir' given twice",
    },
    Case {
        name: "lowerdir and lowerdir+ mixed",
        args: |e| opts(e, format!("{},lowerdir+={}", e.good(), e.p("layers/000"))),
        exit: 1,
        says: "cannot be mixed",
    },
    Case {
        name: "upperdir without workdir",
        args: |e| {
            opts(
                e,
                format!("lowerdir={},upperdir={}", e.lower, e.upper.display()),
            )
        },
        exit: 1,
        says: "without workdir",
    },
    Case {
        name: "workdir without upperdir",
        args: |e| {
            opts(
                e,
                format!("lowerdir={},workdir={}", e.lower, e.work.display()),
            )
        },
        exit: 1,
        says: "without upperdir",
    },
    Case {
        name: "bind",
        args: |e| opts(e, format!("{},bind", e.good())),
        exit: 1,
        says: "option 'bind' asks for another kind of mount",
    },
    Case {
        name: "rbind",
        args: |e| opts(e, format!("rbind,{}", e.good())),
        exit: 1,
        says: "option 'rbind' asks for another kind of mount",
    },
    Case {
        name: "remount",
        args: |e| opts(e, format!("remount,{}", e.good())),
        exit: 1,
        says: "option 'remount' asks for another kind of mount",
    },
    Case {
        name: "move",
        args: |e| opts(e, format!("{},move", e.good())),
        exit: 1,
        says: "option 'move' asks for another kind of mount",
    },
    Case {
        name: "rshared",
        args: |e| opts(e, format!("{},rshared", e.good())),
        exit: 1,
        says: "option 'rshared' asks",
    },
    Case {
        name: "private",
        args: |e| opts(e, format!("{},private", e.good())),
        exit: 1,
        says: "option 'private' asks",
    },
    Case {
        name: "501 layers",
        args: |e| opts(e, e.with_lower(&vec![e.p("layers/000"); 501].join(":"))),
        exit: 1,
        says: "501 lower layers given; overlayfs stacks at most 500",
    },
    Case {
        name: "a lowerdir starting with ':'",
        args: |e| opts(e, e.with_lower(&format!(":{}", e.lower))),
        exit: 1,
        says: "empty layer path",
    },
    Case {
        name: "a lowerdir ending with '::'",
        args: |e| opts(e, e.with_lower(&format!("{}::", e.lower))),
        exit: 1,
        says: "empty layer path",
    },
    Case {
        name: "':::' in a lowerdir",
        args: |e| opts(e, e.with_lower(&e.lower.replace(':', ":::"))),
        exit: 1,
        says: "empty layer path",
    },
    // What the filesystem says
    Case {
        name: "a missing lower layer",
        args: |e| opts(e, e.with_lower(&format!("{}:{}", e.lower, e.p("gone")))),
        exit: 32,
        says: "lowerdir layer 3 of 3",
    },
    Case {
        name: "a lower layer that is a file",
        args: |e| opts(e, e.with_lower(&format!("{}:{}", e.p("file"), e.lower))),
        exit: 32,
        says: "is not a directory",
    },
    Case {
        name: "'\\0' in a path (argv holds no NUL byte)",
        args: |e| opts(e, e.with_lower(&format!("{}:{}\\0x", e.lower, e.p("a")))),
        exit: 32,
        says: "does not exist",
    },
    Case {
        name: "a missing upperdir",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    e.lower,
                    e.p("gone"),
                    e.work.display()
                ),
            )
        },
        exit: 32,
        says: "upperdir",
    },
    Case {
        name: "a missing workdir",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    e.lower,
                    e.upper.display(),
                    e.p("gone")
                ),
            )
        },
        exit: 32,
        says: "workdir",
    },
    Case {
        name: "an upperdir that is a file",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    e.lower,
                    e.p("file"),
                    e.work.display()
                ),
            )
        },
        exit: 32,
        says: "is not a directory",
    },
    Case {
        name: "a missing target",
        args: |e| {
            let mut a = opts(e, e.good());
            a[1] = e.p("gone").into();
            a
        },
        exit: 32,
        says: "mount point",
    },
    Case {
        name: "a target that is a file",
        args: |e| {
            let mut a = opts(e, e.good());
            a[1] = e.p("file").into();
            a
        },
        exit: 32,
        says: "is not a directory",
    },
    Case {
        name: "a target that is a link to a file",
        args: |e| {
            let mut a = opts(e, e.good());
            a[1] = e.p("link-to-file").into();
            a
        },
        exit: 32,
        says: "is not a directory",
    },
    Case {
        name: "a target that is a dangling link",
        args: |e| {
            let mut a = opts(e, e.good());
            a[1] = e.p("dangling").into();
            a
        },
        exit: 32,
        says: "does not exist",
    },
    Case {
        name: "a lower layer in a link loop",
        args: |e| opts(e, e.with_lower(&format!("{}:{}", e.lower, e.p("loop")))),
        exit: 32,
        says: "has a symbolic link loop",
    },
    Case {
        name: "the same layer twice",
        args: |e| {
            opts(
                e,
                e.with_lower(&format!("{}:{}", e.lower, e.p("layers/000"))),
            )
        },
        exit: 32,
        says: "lowerdir layer 1 of 3",
    },
    Case {
        name: "the same layer twice, checked with -f (no mount)",
        args: |e| {
            let mut a = opts(
                e,
                e.with_lower(&format!("{}:{}", e.lower, e.p("layers/000"))),
            );
            a.insert(0, "-f".into());
            a
        },
        exit: 32,
        says: "are the same directory",
    },
    Case {
        name: "an upperdir that is also a lower layer",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={}:{},upperdir={},workdir={}",
                    e.lower,
                    e.upper.display(),
                    e.upper.display(),
                    e.work.display()
                ),
            )
        },
        exit: 32,
        says: "are the same directory",
    },
    Case {
        name: "upper and work on different filesystems",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    e.lower,
                    e.upper.display(),
                    e.p("other-fs/work")
                ),
            )
        },
        exit: 32,
        says: "are on different mounts",
    },
    Case {
        name: "upper and work on a read-only filesystem",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    e.lower,
                    e.p("ro-fs/upper"),
                    e.p("ro-fs/work")
                ),
            )
        },
        exit: 32,
        says: "the kernel refused",
    },
    Case {
        name: "workdir inside upperdir",
        args: |e| {
            opts(
                e,
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    e.lower,
                    e.upper.display(),
                    e.p("upper/inside")
                ),
            )
        },
        exit: 32,
        says: "the kernel refused",
    },
    Case {
        name: "an unknown option with a secret value",
        args: |e| opts(e, format!("{},token={SECRET_WORD}", e.good())),
        exit: 32,
        says: "overlayfs does not know option 'token'",
    },
    Case {
        name: "an unknown bare word",
        args: |e| opts(e, format!("{},frobnicate", e.good())),
        exit: 32,
        says: "overlayfs does not know option 'frobnicate'",
    },
    Case {
        name: "a bad value for a known option",
        args: |e| opts(e, format!("{},redirect_dir=sideways", e.good())),
        exit: 32,
        says: "overlayfs refused option 'redirect_dir'",
    },
    Case {
        name: "a 100 KiB secret value of an unknown option (one argv string holds at most 128 KiB)",
        args: |e| {
            argv(
                e,
                &[e.good(), format!("token={}", SECRET_WORD.repeat(14_000))],
            )
        },
        exit: 32,
        says: "'token'",
    },
    Case {
        name: "a path longer than PATH_MAX",
        args: |e| {
            opts(
                e,
                e.with_lower(&format!("{}:{}", e.lower, "/x".repeat(2100))),
            )
        },
        exit: 32,
        says: "is too long a path",
    },
    Case {
        name: "a name longer than NAME_MAX",
        args: |e| {
            opts(
                e,
                e.with_lower(&format!("{}:/{}", e.lower, "n".repeat(300))),
            )
        },
        exit: 32,
        says: "is too long a path",
    },
    Case {
        name: "non-UTF-8 bytes in a path",
        args: |e| {
            let mut a = opts(e, e.good());
            let mut o = format!("lowerdir={}:{}/", e.lower, e.p("")).into_bytes();
            o.extend([0xff, 0xfe, b'x']);
            o.extend(
                format!(
                    ",upperdir={},workdir={}",
                    e.upper.display(),
                    e.work.display()
                )
                .into_bytes(),
            );
            a[3] = OsString::from_vec(o);
            a
        },
        exit: 32,
        says: "does not exist",
    },
    Case {
        name: "a newline in a path",
        args: |e| opts(e, e.with_lower(&format!("{}:{}\nx", e.lower, e.p("a")))),
        exit: 32,
        says: "\\n",
    },
    // Hostile but valid: these mount
    Case {
        name: "relative layer paths",
        args: |e| {
            opts(
                e,
                "lowerdir=layers/000:layers/001,upperdir=upper,workdir=work".to_string(),
            )
        },
        exit: 0,
        says: "",
    },
    Case {
        name: "'..' in the paths",
        args: |e| {
            opts(
                e,
                e.with_lower(&format!(
                    "{}/../001:{}/../000",
                    e.p("layers/000"),
                    e.p("layers/001")
                )),
            )
        },
        exit: 0,
        says: "",
    },
    Case {
        name: "a lower layer through a link",
        args: |e| {
            opts(
                e,
                e.with_lower(&format!("{}:{}", e.p("link-to-layer"), e.p("layers/001"))),
            )
        },
        exit: 0,
        says: "",
    },
    Case {
        name: "a target that is a link to a directory",
        args: |e| {
            let mut a = opts(e, e.good());
            a[1] = e.p("link-to-target").into();
            a
        },
        exit: 0,
        says: "",
    },
    Case {
        name: "an extraoption that is not base64",
        args: |e| argv(e, &[format!("{},extraoption=!!not*base64!!", e.good())]),
        exit: 0,
        says: "",
    },
    Case {
        name: "an extraoption without a value",
        args: |e| argv(e, &[format!("{},extraoption", e.good())]),
        exit: 0,
        says: "",
    },
    Case {
        name: "options over many -o, some empty",
        args: |e| {
            argv(
                e,
                &[
                    String::new(),
                    format!("lowerdir={}", e.lower),
                    ",".into(),
                    format!("upperdir={}", e.upper.display()),
                    format!("workdir={},dev", e.work.display()),
                ],
            )
        },
        exit: 0,
        says: "",
    },
    Case {
        name: "userspace-only words",
        args: |e| {
            opts(
                e,
                format!(
                    "{},x-systemd.automount,X-mount.mkdir,comment={SECRET_WORD},nofail,_netdev,noauto,user=bob",
                    e.good()
                ),
            )
        },
        exit: 0,
        says: "",
    },
    Case {
        name: "more than 128 KiB of options over several -o",
        args: |e| {
            argv(
                e,
                &[
                    e.good(),
                    format!("x-pad={}", "p".repeat(100_000)),
                    format!("x-pad2={}", "q".repeat(40_000)),
                ],
            )
        },
        exit: 0,
        says: "",
    },
];

/// What makes each case's checks mean something: a failing case names the
/// problem it must be told by (an empty text would match any message), a
/// case that mounts expects silence, exit codes are mount(8)'s, and names are
/// unique (failures are reported by name).
#[test]
fn every_case_checks_something() {
    let mut names = std::collections::HashSet::new();
    for case in CASES {
        assert!(names.insert(case.name), "{}: named twice", case.name);
        assert!(
            [0, 1, 32].contains(&case.exit),
            "{}: exit {} is not mount(8)'s",
            case.name,
            case.exit
        );
        assert_eq!(
            case.exit == 0,
            case.says.is_empty(),
            "{}: a failure names its problem, a mount is silent",
            case.name
        );
    }
}

fn build_env() -> Env {
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [upper, work, target, other_fs, ro_fs, real_target] = fx.dirs([
        "upper",
        "work",
        "merged",
        "other-fs",
        "ro-fs",
        "real-target",
    ]);
    fs::create_dir(upper.join("inside")).unwrap();
    fs::write(fx.path("file"), "not a directory").unwrap();
    symlink(fx.path("file"), fx.path("link-to-file")).unwrap();
    symlink(fx.path("nowhere"), fx.path("dangling")).unwrap();
    symlink(fx.path("loop"), fx.path("loop")).unwrap();
    symlink(&layers[0], fx.path("link-to-layer")).unwrap();
    symlink(&real_target, fx.path("link-to-target")).unwrap();
    let sh = |script: String| {
        assert!(
            Command::new("sh")
                .arg("-c")
                .arg(&script)
                .status()
                .unwrap()
                .success(),
            "{script}"
        )
    };
    sh(format!(
        "mount -t tmpfs tmpfs {0} && mkdir {0}/work",
        other_fs.display()
    ));
    sh(format!(
        "mount -t tmpfs tmpfs {0} && mkdir {0}/upper {0}/work && mount -o remount,ro {0}",
        ro_fs.display()
    ));
    let lower = layers
        .iter()
        .map(|l| l.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    Env {
        fx,
        lower,
        upper,
        work,
        target,
    }
}

#[test]
#[ignore = "needs root (mounts overlayfs and tmpfs); make test runs it"]
fn the_hostile_corpus() {
    require_root();
    let env = build_env();
    let setup_mounts = [env.fx.path("other-fs"), env.fx.path("ro-fs")];
    let ours = |root: &Path| -> Vec<PathBuf> {
        mounted_under(root)
            .into_iter()
            .filter(|p| !setup_mounts.contains(p))
            .collect()
    };
    for case in CASES {
        let output = Command::new(HELPER)
            .args((case.args)(&env))
            .current_dir(env.fx.root())
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(case.exit),
            "{}: stderr {err:?}",
            case.name
        );
        assert_no_secret(&output);
        assert!(
            !err.contains(SECRET_WORD) && !stdout(&output).contains(SECRET_WORD),
            "{}: secret printed: {err}",
            case.name
        );
        if case.exit == 0 {
            assert_eq!(err, "", "{}: a mount is silent", case.name);
            let mounted = ours(env.fx.root());
            assert_eq!(
                mounted.len(),
                1,
                "{}: one overlay mounted: {mounted:?}",
                case.name
            );
            assert_eq!(
                mount_at(&mounted[0]).unwrap().fs_type,
                "overlay",
                "{}",
                case.name
            );
            unmount(&mounted[0]);
        } else {
            assert_eq!(err.lines().count(), 1, "{}: one line: {err:?}", case.name);
            assert!(
                err.starts_with("nydus-overlayfs: ") && err.contains(case.says),
                "{}: want {:?} in {err:?}",
                case.name,
                case.says
            );
        }
        assert_eq!(
            ours(env.fx.root()),
            Vec::<PathBuf>::new(),
            "{}: left a mount",
            case.name
        );
    }
    for mount in setup_mounts {
        unmount(&mount);
    }
}
