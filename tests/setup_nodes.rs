//! nydus-overlayfs-setup on nodes as fleets run them: containerd 2.2 and
//! 2.3's own default configs (config versions 3 and 4, `conf.d` imported),
//! configs that are links (absolute, relative, chained, climbing out of
//! `--root`, dangling, looping) on `--root` trees and on the live root in a
//! private mount namespace, concurrent runs, byte forms (CRLF, BOM, mode,
//! owner), nodes switched by hand, and `--dry-run`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod setup_node;

use setup_node::*;

const DROP_IN: &str = "/etc/containerd/conf.d/nydus-overlayfs.toml";

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// Runs a command and shows what it printed, for the closing notes.
fn shown(node: &Node, args: &[&str]) -> Output {
    let output = node.setup(args);
    eprintln!(
        "$ nydus-overlayfs-setup {} → exit {:?}\n{}",
        args.join(" "),
        code(&output),
        text(&output)
    );
    output
}

#[test]
fn containerd_2_2_and_2_3_defaults_get_a_drop_in_and_config_toml_is_untouched() {
    for fixture_name in [
        "containerd-2.2.7-config-default.toml",
        "containerd-2.3.4-config-default.toml",
    ] {
        let original = fixture(fixture_name);
        let nydus = fixture("nydus-snapshotter-config.toml");
        let node = Node::new(Some(&original), Some(&nydus));
        node.install_programs();
        assert_eq!(code(&node.setup(&["status"])), Some(3), "{fixture_name}");

        // No --containerd-version: versions 3 and 4 are 2.x's alone.
        let enabled = shown(&node, &["enable"]);
        assert_ok(&enabled, &format!("switched {DROP_IN}\n"));
        assert!(text(&enabled).contains("switched /etc/nydus/config.toml\n"));
        assert_eq!(
            node.read(CONTAINERD_CONFIG),
            original,
            "{fixture_name}: config.toml changed"
        );
        let drop_in = node.read(DROP_IN);
        let version = original.lines().next().unwrap();
        assert!(drop_in.starts_with(&format!("{version}\n")), "{drop_in}");
        assert!(drop_in.contains("snapshotter = \"nydus\""), "{drop_in}");

        let status = shown(&node, &["status"]);
        assert_eq!(code(&status), Some(0), "{fixture_name}");
        let json: serde_json::Value =
            serde_json::from_slice(&node.setup(&["status", "--json"]).stdout).unwrap();
        assert_eq!(json["state"], "switched", "{json}");
        assert_eq!(json["containerd"]["switched_by"], "nydus-overlayfs-setup");
        assert_eq!(json["containerd"]["effective"]["snapshotter"], "nydus");
        assert_eq!(
            json["containerd"]["effective"]["loaded_files"],
            serde_json::json!([
                CONTAINERD_CONFIG,
                DROP_IN,
                "/usr/share/nydus-overlayfs/containerd/nydus-snapshotter.toml"
            ])
        );

        assert_ok(
            &node.setup(&["enable"]),
            "already switched; nothing changed",
        );
        assert_ok(
            &shown(&node, &["disable"]),
            &format!("removed {DROP_IN} (enable had created it)"),
        );
        assert_eq!(node.read(CONTAINERD_CONFIG), original);
        assert_eq!(node.read(NYDUS_CONFIG), nydus);
        assert!(
            !node.path("/etc/containerd/conf.d").exists(),
            "the directory enable made"
        );
        assert!(!node.path("/var/lib/nydus-overlayfs").exists());
        assert_eq!(code(&shown(&node, &["status"])), Some(3));
    }
}

/// A version 3 config.toml switched in itself, then given the conf.d
/// import (an admin adopting 2.2's default, or an upgrade from a release
/// that wrote no drop-in): it stays switched where it was.
#[test]
fn a_node_switched_in_config_toml_stays_switched_there_when_conf_d_appears() {
    let default = fixture("containerd-2.2.7-config-default.toml");
    let without_import = default.replacen("imports = ['/etc/containerd/conf.d/*.toml']\n", "", 1);
    assert_ne!(without_import, default);
    let node = Node::new(
        Some(&without_import),
        Some(&fixture("nydus-snapshotter-config.toml")),
    );
    assert_ok(
        &node.setup(&["enable"]),
        &format!("switched {CONTAINERD_CONFIG}\n"),
    );
    let switched = node.read(CONTAINERD_CONFIG);
    // The admin adds conf.d to the imports enable wrote.
    assert!(switched.contains("imports = [\""), "{switched}");
    fs::write(
        node.path(CONTAINERD_CONFIG),
        switched.replacen(
            "imports = [",
            "imports = ['/etc/containerd/conf.d/*.toml', ",
            1,
        ),
    )
    .unwrap();
    assert_ok(
        &node.setup(&["enable"]),
        "already switched; nothing changed",
    );
    assert!(!node.path(DROP_IN).exists());
    assert_ok(
        &node.setup(&["disable"]),
        "removed our settings from /etc/containerd/config.toml (edited since enable; your edits kept)",
    );
    let reverted = node.read(CONTAINERD_CONFIG);
    assert!(
        reverted.contains("imports = ['/etc/containerd/conf.d/*.toml']"),
        "{reverted}"
    );
    assert!(!reverted.contains("nydus"), "{reverted}");
}

#[test]
fn a_config_version_newer_than_known_is_refused_and_status_says_why() {
    let config =
        fixture("containerd-2.3.4-config-default.toml").replacen("version = 4", "version = 5", 1);
    let node = Node::new(
        Some(&config),
        Some(&fixture("nydus-snapshotter-config.toml")),
    );
    let before = node.snapshot();
    let output = node.setup(&["--containerd-version", "2.4", "enable"]);
    assert_eq!(code(&output), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "nydus-overlayfs-setup: /etc/containerd/config.toml: config version 5 is newer than version 4, the newest this nydus-overlayfs-setup knows: upgrade nydus-overlayfs\n"
    );
    assert_eq!(node.snapshot(), before, "nothing written");
    let status = node.status_json("2.4");
    let problems = status["problems"].to_string();
    assert!(
        problems.contains("enable would fail: /etc/containerd/config.toml: config version 5"),
        "{problems}"
    );
    assert!(
        !problems.contains("run 'nydus-overlayfs-setup enable'"),
        "{problems}"
    );
}

#[test]
fn dry_run_prints_the_plan_the_real_run_carries_out() {
    let original = fixture("containerd-admin-edited.toml");
    let node = Node::new(
        Some(&original),
        Some(&fixture("nydus-snapshotter-config.toml")),
    );
    let before = node.snapshot();
    let dry = shown(
        &node,
        &["--containerd-version", "1.7", "enable", "--dry-run"],
    );
    assert_ok(
        &dry,
        "would switch /etc/containerd/config.toml: import /usr/share/nydus-overlayfs/containerd/nydus-snapshotter.toml, set plugins.'io.containerd.grpc.v1.cri'.containerd.snapshotter = \"nydus\"",
    );
    assert!(text(&dry).contains(
        "would switch /etc/nydus/config.toml: set snapshot.enable_nydus_overlayfs = true"
    ));
    assert_eq!(node.snapshot(), before, "a dry run writes nothing");

    let real = node.setup(&["--containerd-version", "1.7", "enable"]);
    for planned in text(&dry).lines() {
        let done = planned
            .split(':')
            .next()
            .unwrap()
            .replacen("would switch", "switched", 1);
        assert!(
            text(&real).lines().any(|l| l == done),
            "{done} not in {}",
            text(&real)
        );
    }
    let dry_disable = node.setup(&["disable", "--dry-run"]);
    assert_ok(
        &dry_disable,
        "would restore /etc/containerd/config.toml as it was before enable",
    );
    assert_ok(
        &node.setup(&["disable"]),
        "restored /etc/containerd/config.toml",
    );
    assert_eq!(node.snapshot(), before);
}

#[test]
fn a_node_switched_by_hand_is_switched_by_other() {
    let config = format!(
        "{}\n[proxy_plugins.nydus]\n  type = \"snapshot\"\n  address = \"/run/containerd-nydus/containerd-nydus-grpc.sock\"\n",
        fixture("containerd-admin-edited.toml").replace(
            "default_runtime_name = \"runc\"",
            "default_runtime_name = \"runc\"\n      snapshotter = \"nydus\"\n      disable_snapshot_annotations = false"
        )
    );
    let nydus = fixture("nydus-snapshotter-config.toml").replace(
        "enable_nydus_overlayfs = false",
        "enable_nydus_overlayfs = true",
    );
    let node = Node::new(Some(&config), Some(&nydus));
    node.install_programs();
    let status = node.setup(&["--containerd-version", "1.6", "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(code(&status), Some(0), "{json}");
    assert_eq!(json["containerd"]["switched"], true);
    assert_eq!(json["containerd"]["switched_by"], "other");
    assert_eq!(json["containerd"]["switched_by_setup"], false);
    assert_eq!(json["nydus_snapshotter"]["switched_by"], "other");
    // Changing one setting back makes it partial, and says which.
    fs::write(
        node.path(NYDUS_CONFIG),
        fixture("nydus-snapshotter-config.toml"),
    )
    .unwrap();
    let status = node.setup(&["--containerd-version", "1.6", "status"]);
    assert_eq!(code(&status), Some(4));
    assert!(
        text(&status)
            .contains("problem: nydus-snapshotter does not hand containerd nydus-overlayfs mounts"),
        "{}",
        text(&status)
    );
}

/// The ways a config can be a link. Each leads, inside the node, to the
/// file `target`; read as this machine would (outside the root), the
/// absolute and climbing ones lead to `outside`, which holds a marker.
struct LinkCase {
    name: &'static str,
    /// (link, what it says), made in this order
    links: &'static [(&'static str, &'static str)],
    /// The node path the config resolves to.
    target: &'static str,
    target_exists: bool,
}

const OUTSIDE_DIR: &str = "/tmp/nydus-overlayfs-setup-test-outside";

const LINK_CASES: &[LinkCase] = &[
    LinkCase {
        name: "absolute",
        links: &[(
            CONTAINERD_CONFIG,
            "/tmp/nydus-overlayfs-setup-test-outside/config.toml",
        )],
        target: "/tmp/nydus-overlayfs-setup-test-outside/config.toml",
        target_exists: true,
    },
    LinkCase {
        name: "relative",
        links: &[(CONTAINERD_CONFIG, "managed/config.toml")],
        target: "/etc/containerd/managed/config.toml",
        target_exists: true,
    },
    LinkCase {
        name: "chain",
        links: &[
            (
                "/etc/containerd/step.toml",
                "/etc/containerd/managed/config.toml",
            ),
            (CONTAINERD_CONFIG, "step.toml"),
        ],
        target: "/etc/containerd/managed/config.toml",
        target_exists: true,
    },
    LinkCase {
        name: "climbing out of the root",
        links: &[(
            CONTAINERD_CONFIG,
            "../../../../../../../../../tmp/nydus-overlayfs-setup-test-outside/config.toml",
        )],
        target: "/tmp/nydus-overlayfs-setup-test-outside/config.toml",
        target_exists: true,
    },
    LinkCase {
        name: "dangling",
        links: &[(CONTAINERD_CONFIG, "/etc/containerd/managed/new/config.toml")],
        target: "/etc/containerd/managed/new/config.toml",
        target_exists: false,
    },
];

#[test]
fn linked_configs_are_followed_inside_the_root_and_stay_links() {
    let original = fixture("containerd-admin-edited.toml");
    let nydus = fixture("nydus-snapshotter-config.toml");
    // This machine's file the absolute links would reach if followed
    // outside the root: a config of its own, with a marker.
    let marker = "registry.example/OUTSIDE-THE-ROOT:1";
    let outside_text = original.replace("registry.k8s.io/pause:3.9", marker);
    fs::create_dir_all(OUTSIDE_DIR).unwrap();
    let outside = Path::new(OUTSIDE_DIR).join("config.toml");
    fs::write(&outside, &outside_text).unwrap();
    let outside_mtime = fs::metadata(&outside).unwrap().mtime_nsec();

    for case in LINK_CASES {
        let node = Node::new(None, Some(&nydus));
        fs::create_dir_all(node.path("/etc/containerd/managed")).unwrap();
        if case.target_exists {
            fs::create_dir_all(node.path(case.target).parent().unwrap()).unwrap();
            fs::write(node.path(case.target), &original).unwrap();
        }
        for (link, to) in case.links {
            symlink(to, node.path(link)).unwrap();
        }
        let label = case.name;
        let enabled = node.setup(&["--containerd-version", "1.6", "enable"]);
        assert_ok(
            &enabled,
            &format!("switched {} (where {CONTAINERD_CONFIG} leads)", case.target),
        );
        assert!(!text(&enabled).contains(marker), "{label}");
        let switched = node.read(case.target);
        assert!(
            switched.contains("snapshotter = \"nydus\""),
            "{label}: {switched}"
        );
        assert!(!switched.contains(marker), "{label}: read outside the root");
        for (link, to) in case.links {
            assert_eq!(
                fs::read_link(node.path(link)).unwrap(),
                Path::new(to),
                "{label}: link"
            );
        }
        let status = node.status_json("1.6");
        assert_eq!(status["containerd"]["config_file"], case.target, "{label}");
        assert_eq!(status["containerd"]["config_is_link"], true, "{label}");
        assert_eq!(status["containerd"]["switched"], true, "{label}");
        assert!(!status.to_string().contains(marker), "{label}");

        let disabled = node.setup(&["disable"]);
        if case.target_exists {
            assert_ok(&disabled, &format!("restored {}", case.target));
            assert_eq!(node.read(case.target), original, "{label}: not restored");
        } else {
            assert_ok(
                &disabled,
                &format!("removed {} (enable had created it)", case.target),
            );
            assert!(
                !node.path("/etc/containerd/managed/new").exists(),
                "{label}"
            );
            assert!(
                node.path("/etc/containerd/managed").exists(),
                "{label}: not enable's"
            );
        }
        for (link, to) in case.links {
            assert_eq!(
                fs::read_link(node.path(link)).unwrap(),
                Path::new(to),
                "{label}: link"
            );
        }
        assert_eq!(
            fs::read_to_string(&outside).unwrap(),
            outside_text,
            "{label}: written outside"
        );
        assert_eq!(
            fs::metadata(&outside).unwrap().mtime_nsec(),
            outside_mtime,
            "{label}"
        );
        assert_eq!(
            fs::read_dir(OUTSIDE_DIR).unwrap().count(),
            1,
            "{label}: files made outside"
        );
    }
    fs::remove_dir_all(OUTSIDE_DIR).unwrap();
}

#[test]
fn a_link_loop_is_refused_and_nothing_is_written() {
    let node = Node::new(None, Some(&fixture("nydus-snapshotter-config.toml")));
    fs::create_dir_all(node.path("/etc/containerd")).unwrap();
    symlink("b.toml", node.path(CONTAINERD_CONFIG)).unwrap();
    symlink("config.toml", node.path("/etc/containerd/b.toml")).unwrap();
    let before = node.snapshot();
    let output = node.setup(&["--containerd-version", "1.6", "enable"]);
    assert_eq!(code(&output), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("nydus-overlayfs-setup: /etc/containerd/config.toml: ")
            && stderr.contains("symbolic links"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(node.snapshot(), before);
}

/// The live root, `/`, as a node sees it, in a private mount namespace
/// whose /etc, /var and /usr/share are overlays over this machine's: the
/// namespace's writes land in a temporary directory and this machine's
/// files are never touched.
#[test]
#[ignore = "needs root (a mount namespace with overlays over /etc, /var and /usr/share); make test runs it"]
fn linked_configs_on_the_live_root_in_a_private_mount_namespace() {
    let scratch = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dropins = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/containerd");
    let host_before: Vec<bool> = ["/etc/containerd", "/var/lib/nydus-overlayfs", "/etc/nydus"]
        .iter()
        .map(|p| Path::new(p).exists())
        .collect();
    let script = r#"
        set -eu
        setup=$1 scratch=$2 fixtures=$3 dropins=$4
        for dir in /etc /var /usr/share; do
            name=$(echo "$dir" | tr / _)
            mkdir -p "$scratch/$name.upper" "$scratch/$name.work"
            mount -t overlay overlay -o "lowerdir=$dir,upperdir=$scratch/$name.upper,workdir=$scratch/$name.work" "$dir"
        done
        rm -rf /etc/containerd /etc/nydus /etc/nydus-overlayfs /var/lib/nydus-overlayfs
        mkdir -p /etc/containerd/managed /etc/nydus /usr/share/nydus-overlayfs/containerd
        cp "$dropins"/*.toml /usr/share/nydus-overlayfs/containerd/
        cp "$fixtures/containerd-admin-edited.toml" /etc/containerd/managed/config.toml
        ln -s managed/config.toml /etc/containerd/config.toml
        cp "$fixtures/nydus-snapshotter-config.toml" /etc/nydus/real.toml
        ln -s /etc/nydus/real.toml /etc/nydus/config.toml
        "$setup" --helper /usr/sbin/nydus-overlayfs --containerd-version 1.7 enable
        test -L /etc/containerd/config.toml && test -L /etc/nydus/config.toml
        grep -q 'snapshotter = "nydus"' /etc/containerd/managed/config.toml
        grep -q 'enable_nydus_overlayfs = true' /etc/nydus/real.toml
        "$setup" --helper /usr/sbin/nydus-overlayfs --containerd-version 1.7 status --json |
            grep -q '"config_file": "/etc/containerd/managed/config.toml"'
        "$setup" --helper /usr/sbin/nydus-overlayfs disable
        test "$(readlink /etc/containerd/config.toml)" = managed/config.toml
        test "$(readlink /etc/nydus/config.toml)" = /etc/nydus/real.toml
        cmp /etc/containerd/managed/config.toml "$fixtures/containerd-admin-edited.toml"
        cmp /etc/nydus/real.toml "$fixtures/nydus-snapshotter-config.toml"
        test ! -e /var/lib/nydus-overlayfs
        echo "live root: switched through both links and restored byte for byte"
    "#;
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            SETUP,
        ])
        .arg(scratch.path())
        .arg(&fixtures)
        .arg(&dropins)
        .output()
        .unwrap();
    assert_ok(
        &output,
        "live root: switched through both links and restored byte for byte",
    );
    let host_after: Vec<bool> = ["/etc/containerd", "/var/lib/nydus-overlayfs", "/etc/nydus"]
        .iter()
        .map(|p| Path::new(p).exists())
        .collect();
    assert_eq!(
        host_before, host_after,
        "this machine's /etc or /var changed"
    );
}

#[test]
fn crlf_bom_and_mode_are_kept() {
    let crlf = |text: &str| format!("\u{feff}{}", text.replace('\n', "\r\n"));
    let original = crlf(&fixture("containerd-admin-edited.toml"));
    let nydus = crlf(&fixture("nydus-snapshotter-config.toml"));
    let node = Node::new(Some(&original), Some(&nydus));
    fs::set_permissions(
        node.path(CONTAINERD_CONFIG),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    assert_ok(
        &node.setup(&["--containerd-version", "1.6", "enable"]),
        "switched",
    );
    for path in [CONTAINERD_CONFIG, NYDUS_CONFIG] {
        let switched = node.read(path);
        assert!(switched.starts_with('\u{feff}'), "{path}: BOM dropped");
        assert_eq!(
            switched.matches('\n').count(),
            switched.matches("\r\n").count(),
            "{path}: a line without CR:\n{switched}"
        );
    }
    assert!(
        node.read(CONTAINERD_CONFIG)
            .contains("snapshotter = \"nydus\"\r\n")
    );
    let mode = fs::metadata(node.path(CONTAINERD_CONFIG)).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_ok(&node.setup(&["disable"]), "restored");
    assert_eq!(node.read(CONTAINERD_CONFIG), original);
    assert_eq!(node.read(NYDUS_CONFIG), nydus);
}

#[test]
#[ignore = "needs root (to give the config another owner); make test runs it"]
fn the_owner_is_kept() {
    let node = Node::new(
        Some(&fixture("containerd-admin-edited.toml")),
        Some(&fixture("nydus-snapshotter-config.toml")),
    );
    std::os::unix::fs::chown(node.path(CONTAINERD_CONFIG), Some(1234), Some(5678)).unwrap();
    assert_ok(
        &node.setup(&["--containerd-version", "1.6", "enable"]),
        "switched",
    );
    let meta = fs::metadata(node.path(CONTAINERD_CONFIG)).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    assert_ok(&node.setup(&["disable"]), "restored");
    let meta = fs::metadata(node.path(CONTAINERD_CONFIG)).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
}

/// 8 enables at once, then 8 disables at once, five times, while status
/// reads the node: every run exits 0, the node ends switched then restored
/// byte for byte, status never reads a half-written file, and no
/// temporary file or lock is left.
#[test]
fn concurrent_runs_take_turns() {
    let original = fixture("containerd-admin-edited.toml");
    let nydus = fixture("nydus-snapshotter-config.toml");
    let node = Node::new(Some(&original), Some(&nydus));
    node.install_programs();
    let root = node.dir.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, root) = (stop.clone(), root.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let output =
                    setup_command(&root, &["--containerd-version", "1.6", "status", "--json"])
                        .output()
                        .unwrap();
                let json: serde_json::Value = serde_json::from_slice(&output.stdout)
                    .unwrap_or_else(|e| panic!("status: {e}: {}", text(&output)));
                // Between its two files a run leaves the node partial (4).
                assert!(matches!(code(&output), Some(0 | 3 | 4)), "{json}");
                assert!(
                    !json["problems"].to_string().contains("not valid TOML"),
                    "{json}"
                );
                reads += 1;
            }
            reads
        })
    };
    let all_at_once = |action: &str| {
        let children: Vec<_> = (0..8)
            .map(|_| {
                setup_command(&root, &["--containerd-version", "1.6", action])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert_eq!(code(&output), Some(0), "{action}: {}", text(&output));
        }
    };
    for round in 0..5 {
        all_at_once("enable");
        assert!(
            node.read(CONTAINERD_CONFIG)
                .contains("snapshotter = \"nydus\""),
            "round {round}"
        );
        assert_eq!(
            code(&node.setup(&["--containerd-version", "1.6", "status"])),
            Some(0)
        );
        all_at_once("disable");
        assert_eq!(node.read(CONTAINERD_CONFIG), original, "round {round}");
        assert_eq!(node.read(NYDUS_CONFIG), nydus, "round {round}");
        assert!(
            !node.path("/var/lib/nydus-overlayfs").exists(),
            "round {round}: journal or lock left"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    let leftovers: Vec<_> = node
        .snapshot()
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains(".nydus-overlayfs."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_run_waits_for_the_lock_and_says_for_whom() {
    let node = Node::new(
        Some(&fixture("containerd-admin-edited.toml")),
        Some(&fixture("nydus-snapshotter-config.toml")),
    );
    let lock = node.path("/var/lib/nydus-overlayfs/lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "424242\n").unwrap();
    let holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "2"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let output = node.setup(&["--containerd-version", "1.6", "enable"]);
    let waited = started.elapsed();
    let mut holder = holder;
    holder.wait().unwrap();
    assert_ok(&output, "switched /etc/containerd/config.toml");
    assert!(
        waited >= std::time::Duration::from_millis(1500),
        "did not wait: {waited:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "nydus-overlayfs-setup: waiting for another nydus-overlayfs-setup (pid 424242) to finish\n"
    );
}
