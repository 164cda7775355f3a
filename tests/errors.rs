//! Every way a mount request can be wrong: each gives its exit code, one
//! stderr line naming the problem, no secret in any output, and no mount.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;

struct Case {
    name: &'static str,
    /// Options for `-o`; `{L}` = two good lower layers, `{U}` = good upperdir
    /// and workdir, `{F}` = the fixture root.
    options: &'static str,
    target: &'static str,
    code: i32,
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "missing lower layer",
        options: "lowerdir={L}:{F}/gone,{U}",
        target: "merged",
        code: 32,
        message: "lowerdir layer 3 of 3 '{F}/gone' does not exist",
    },
    Case {
        name: "lower layer is a file",
        options: "lowerdir={F}/file:{L},{U}",
        target: "merged",
        code: 32,
        message: "lowerdir layer 1 of 3 '{F}/file' is not a directory",
    },
    Case {
        name: "missing upperdir",
        options: "lowerdir={L},upperdir={F}/gone,workdir={F}/work",
        target: "merged",
        code: 32,
        message: "upperdir '{F}/gone' does not exist",
    },
    Case {
        name: "missing workdir",
        options: "lowerdir={L},upperdir={F}/upper,workdir={F}/gone",
        target: "merged",
        code: 32,
        message: "workdir '{F}/gone' does not exist",
    },
    Case {
        name: "missing target",
        options: "lowerdir={L},{U}",
        target: "gone",
        code: 32,
        message: "mount point '{F}/gone' does not exist",
    },
    Case {
        name: "target is a file",
        options: "lowerdir={L},{U}",
        target: "file",
        code: 32,
        message: "mount point '{F}/file' is not a directory",
    },
    Case {
        name: "upper and work on different mounts",
        options: "lowerdir={L},upperdir={F}/upper,workdir={F}/other-fs/work",
        target: "merged",
        code: 32,
        message: "are on different mounts",
    },
    Case {
        name: "unknown option with a secret value",
        options: "lowerdir={L},{U},token=hunter2",
        target: "merged",
        code: 32,
        message: "overlayfs does not know option 'token'; remove it, or pass -s",
    },
    Case {
        name: "bad value for a known option",
        options: "lowerdir={L},{U},redirect_dir=sideways",
        target: "merged",
        code: 32,
        message: "overlayfs refused option 'redirect_dir'",
    },
    Case {
        name: "bind",
        options: "lowerdir={L},{U},bind",
        target: "merged",
        code: 1,
        message: "option 'bind' asks for another kind of mount",
    },
    Case {
        name: "remount",
        options: "remount,lowerdir={L},{U}",
        target: "merged",
        code: 1,
        message: "option 'remount' asks for another kind of mount",
    },
    Case {
        name: "empty options",
        options: "",
        target: "merged",
        code: 1,
        message: "no lower layer given",
    },
    Case {
        name: "only Nydus options",
        options: "{X}",
        target: "merged",
        code: 1,
        message: "no lower layer given",
    },
    Case {
        name: "duplicate upperdir",
        options: "lowerdir={L},{U},upperdir={F}/upper",
        target: "merged",
        code: 1,
        message: "option 'upperdir' given twice",
    },
    Case {
        name: "one read-only layer",
        options: "lowerdir={F}/layers/000,ro",
        target: "merged",
        code: 1,
        message: "needs at least 2 lower layers",
    },
];

fn expand(template: &str, fx: &Fixture, lowers: &str) -> String {
    let root = fx.root().display().to_string();
    template
        .replace("{L}", lowers)
        .replace("{U}", &format!("upperdir={root}/upper,workdir={root}/work"))
        .replace("{X}", &secret_extraoption())
        .replace("{F}", &root)
}

#[test]
#[ignore = "needs root (mounts tmpfs and overlayfs); make test runs it"]
fn every_bad_request_fails_cleanly() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [_, _, _, other_fs] = fx.dirs(["upper", "work", "merged", "other-fs"]);
    fs::write(fx.path("file"), "not a directory").unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&other_fs)
        .status()
        .unwrap();
    assert!(status.success(), "tmpfs for the different-mounts case");
    fs::create_dir(other_fs.join("work")).unwrap();
    let lowers: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
    let lowers = lowers.join(":");

    for case in CASES {
        let options = format!(
            "{},{}",
            expand(case.options, &fx, &lowers),
            secret_extraoption()
        );
        let target = fx.path(case.target);
        let output = run_helper_on(&target, &options);
        let mounted: Vec<PathBuf> = mounted_under(fx.root())
            .into_iter()
            .filter(|p| *p != other_fs)
            .collect();
        assert_eq!(
            mounted,
            Vec::<PathBuf>::new(),
            "{}: left a mount",
            case.name
        );
        let expected = expand(case.message, &fx, &lowers);
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(case.code),
            "{}: {err}",
            case.name
        );
        assert_eq!(err.lines().count(), 1, "{}: one line: {err:?}", case.name);
        assert!(
            err.starts_with("nydus-overlayfs: ") && err.contains(&expected),
            "{}: want {expected:?}, got {err}",
            case.name
        );
        assert_no_secret(&output);
    }
    unmount(&other_fs);
}

#[test]
fn usage_errors_name_the_problem_without_values() {
    let fx = Fixture::new();
    let secret = secret_extraoption();
    let cases: &[(&[&str], &str)] = &[
        (&[], "SOURCE and TARGET are needed"),
        (&["overlay"], "SOURCE and TARGET are needed"),
        (&["overlay", "/mnt", &secret], "too many arguments"),
        (
            &["overlay", "/mnt", "-q", "-o", &secret],
            "unknown flag '-q'",
        ),
        (&["overlay", "/mnt", "-o"], "flag '-o' needs a value"),
        (
            &[
                "-N",
                "/nonexistent/ns",
                "overlay",
                "/mnt",
                "-o",
                "lowerdir=/a:/b",
            ],
            "cannot open mount namespace '/nonexistent/ns'",
        ),
    ];
    for (args, expected) in cases {
        assert_failed_cleanly(&run_helper(args), 1, expected, fx.root());
    }
}

#[test]
fn help_and_version_succeed() {
    for flag in ["--help", "--version"] {
        let output = run_helper(&[flag]);
        assert!(output.status.success(), "{flag}");
        assert!(
            stdout(&output).contains("nydus-overlayfs"),
            "{flag}: {}",
            stdout(&output)
        );
    }
    assert!(stdout(&run_helper(&["--help"])).contains("Exit status:"));
}

#[test]
#[ignore = "needs root (runs the helper as nobody with setpriv); make test runs it"]
fn unprivileged_callers_are_told_they_need_root() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [target] = fx.dirs(["merged"]);
    let options = format!("{},{}", lowerdir(&layers), secret_extraoption());
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            HELPER,
            "overlay",
        ])
        .arg(&target)
        .args(["-o", &options])
        .output()
        .unwrap();
    assert_failed_cleanly(&output, 1, "mounting needs root", fx.root());
}
