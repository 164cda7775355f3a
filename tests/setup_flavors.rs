//! nydus-overlayfs-setup on a node tree of each flavor (tests/flavors/,
//! made from each project's own default files; tests/flavors/SOURCES.md
//! says where each came from). Each case is a directory:
//! - `root/`: the node's files, as that project lays them out;
//! - `args`: extra global arguments, one per line (optional);
//! - `enable.expected`: what `enable --dry-run` prints (or the one-line
//!   refusal, for a flavor enable must refuse);
//! - `writes.expected`: the node paths a real enable creates or changes;
//! - `status.expected`: status's flavor, config and state lines after it.
//!
//! For each: the dry run changes nothing; enable writes exactly the listed
//! files (a write anywhere else, the rendered file of k3s say, fails the
//! test); a second enable changes nothing; status names the flavor and says
//! switched; disable gives back every byte. A refused flavor writes nothing.
//! `UPDATE_EXPECTED=1 cargo test --test setup_flavors` rewrites the expected
//! files from what the program does, for review in the diff.
//!
//! Where Debian's real containerd can read the switched result (k3s's and
//! EKS's rendered configs, Docker's version 1 file), a second test proves
//! the effective settings with `containerd config dump`, imports resolved
//! inside the tree.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
mod setup_node;

use setup_node::*;

const STATE_DIR: &str = "var/lib/nydus-overlayfs";

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flavors");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("root").is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 9,
        "the flavor cases are missing from {}",
        dir.display()
    );
    cases
}

/// The case's node: the package's drop-ins and nydus-snapshotter's config
/// (Node::new), the programs status looks for, and the flavor's own files.
fn node_of(case: &Path) -> Node {
    let node = Node::new(None, Some(&fixture("nydus-snapshotter-config.toml")));
    node.install_programs();
    copy_tree(&case.join("root"), node.dir.path());
    node
}

fn run(node: &Node, case: &Path, command: &[&str]) -> Output {
    let mut args: Vec<String> = args_of(case);
    args.extend(command.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.setup(&args)
}

/// The node's files by node path, the journal left out.
fn files(node: &Node) -> BTreeMap<String, Vec<u8>> {
    node.snapshot()
        .into_iter()
        .map(|(path, bytes)| {
            let relative = path.strip_prefix(node.dir.path()).unwrap();
            (relative.to_string_lossy().into_owned(), bytes)
        })
        .filter(|(path, _)| !path.starts_with(STATE_DIR))
        .collect()
}

/// The node paths that differ between two snapshots.
fn changed(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> String {
    let mut paths: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    paths.sort();
    paths.dedup();
    paths.iter().map(|p| format!("/{p}\n")).collect()
}

/// The status lines that say which flavor, which file and what state.
fn status_lines(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| {
            [
                "state:",
                "flavor.",
                "containerd.config:",
                "containerd.switched:",
                "note:",
            ]
            .iter()
            .any(|prefix| l.starts_with(prefix))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Compares `actual` with the case's expected file, or writes it.
fn expect(case: &Path, name: &str, actual: &str) {
    let path = case.join(name);
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_EXPECTED=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{}", path.display());
}

#[test]
fn each_flavor_is_switched_where_its_containerd_reads_and_keeps_it_or_refused_by_name() {
    for case in cases() {
        let label = case.file_name().unwrap().to_string_lossy().into_owned();
        let node = node_of(&case);
        let before = files(&node);

        let dry_run = run(&node, &case, &["enable", "--dry-run"]);
        assert_eq!(files(&node), before, "{label}: the dry run wrote");
        let refused = !dry_run.status.success();
        expect(&case, "enable.expected", &text(&dry_run));

        let enabled = run(&node, &case, &["enable"]);
        let after = files(&node);
        expect(&case, "writes.expected", &changed(&before, &after));
        if refused {
            assert_eq!(
                enabled.status.code(),
                Some(1),
                "{label}: {}",
                text(&enabled)
            );
            assert_eq!(text(&enabled), text(&dry_run), "{label}");
            assert_eq!(text(&enabled).lines().count(), 1, "{label}: one line");
            assert_eq!(after, before, "{label}: a refused enable wrote");
            assert!(
                !node.path(STATE_DIR).join("containerd-config").exists(),
                "{label}"
            );
            continue;
        }
        assert!(enabled.status.success(), "{label}: {}", text(&enabled));

        let again = run(&node, &case, &["enable"]);
        assert_ok(&again, "already switched; nothing changed");
        assert_eq!(files(&node), after, "{label}: the second enable wrote");

        let status = run(&node, &case, &["status"]);
        expect(&case, "status.expected", &status_lines(&status));
        assert_eq!(status.status.code(), Some(0), "{label}: {}", text(&status));

        let disabled = run(&node, &case, &["disable"]);
        assert!(disabled.status.success(), "{label}: {}", text(&disabled));
        let restored = files(&node);
        assert_eq!(
            changed(&before, &restored),
            "",
            "{label}: disable did not give back every byte"
        );
        assert!(
            !node.path(STATE_DIR).join("containerd-config").exists(),
            "{label}"
        );
    }
}

/// Where `make test` unpacks Debian's containerd packages.
fn containerd_of(suite: &str) -> PathBuf {
    let cache = std::env::var_os("NYDUS_OVERLAYFS_TEST_CACHE")
        .map_or("/var/cache/nydus-overlayfs-tests".into(), PathBuf::from);
    let program = cache.join(suite).join("containerd/usr/bin/containerd");
    assert!(
        program.exists(),
        "{} is missing: run `make test`, which fetches Debian's containerd",
        program.display()
    );
    program
}

/// `containerd --config CONFIG config dump` with the node's /etc, /var and
/// /usr laid over this machine's (read-only overlays in a private mount
/// namespace), so that absolute imports resolve inside the tree and this
/// machine's files are not touched.
fn config_dump(containerd: &Path, node: &Node, config: &str) -> Output {
    let script = r#"set -e
        for dir in etc var usr; do
            [ -d "$1/$dir" ] && mount -t overlay overlay -o "lowerdir=$1/$dir:/$dir" "/$dir"
        done
        exec "$0" --config "$2" config dump"#;
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(containerd)
        .arg(node.dir.path())
        .arg(config)
        .output()
        .unwrap()
}

/// The containerd TOML of a NodeConfig written with `config: |`: the
/// block's lines, less their indentation.
fn node_config_toml(yaml: &str) -> String {
    let block = yaml.split("config: |\n").nth(1).expect("a config block");
    block
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("      "))
        .map(|l| format!("{}\n", l.get(6..).unwrap_or("")))
        .collect()
}

#[test]
#[ignore = "needs root (a mount namespace for config dump) and Debian's containerd packages (make test fetches them); make test runs it"]
fn after_the_next_boot_nodeadm_keeps_the_switch() {
    // At boot nodeadm writes its template's config.toml again and merges
    // every NodeConfig's containerd TOML over it, tables key by key, the
    // NodeConfig winning. containerd 2.x merges an imported file over the
    // importer the same way, so containerd itself does that merge here.
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flavors/eks-nodeadm");
    let node = node_of(&case);
    let template_output = node.read("/etc/containerd/config.toml");
    assert_ok(&run(&node, &case, &["enable"]), "switched");
    let toml = node_config_toml(&node.read("/etc/eks/nodeadm.d/90-nydus-overlayfs.yaml"));
    fs::write(node.path("/etc/containerd/nodeconfig.toml"), &toml).unwrap();
    fs::write(
        node.path("/etc/containerd/config.toml"),
        format!("imports = [\"/etc/containerd/nodeconfig.toml\"]\n{template_output}"),
    )
    .unwrap();
    let dump = config_dump(&containerd_of("sid"), &node, "/etc/containerd/config.toml");
    assert!(dump.status.success(), "{}", text(&dump));
    let dump = String::from_utf8_lossy(&dump.stdout).replace('\'', "\"");
    for line in [
        "[proxy_plugins.nydus]",
        "snapshotter = \"nydus\"",
        "disable_snapshot_annotations = false",
        "discard_unpacked_layers = false",
        // nodeadm's own settings stay.
        "sandbox = \"localhost/kubernetes/pause:latest\"",
    ] {
        assert!(
            dump.lines().any(|l| l.trim() == line),
            "'{line}' missing from:\n{dump}"
        );
    }
}

#[test]
#[ignore = "needs root (a mount namespace for config dump) and Debian's containerd packages (make test fetches them); make test runs it"]
fn real_containerd_reads_the_switch_on_k3s_eks_and_docker_nodes() {
    let flavors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flavors");
    // (case, the config containerd reads, Debian suites whose containerd
    // reads that file's version)
    let cases = [
        (
            "k3s",
            "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
            &["sid"][..],
        ),
        ("eks-nodeadm", "/etc/containerd/config.toml", &["sid"][..]),
        (
            "docker-containerd.io",
            "/etc/containerd/config.toml",
            &["bookworm", "trixie", "sid"][..],
        ),
    ];
    for (name, config, suites) in cases {
        let case = flavors.join(name);
        let node = node_of(&case);
        for suite in suites {
            let containerd = containerd_of(suite);
            let before = config_dump(&containerd, &node, config);
            assert!(
                before.status.success(),
                "{name} on {suite}: {}",
                text(&before)
            );
            assert!(
                !String::from_utf8_lossy(&before.stdout).contains("proxy_plugins.nydus"),
                "{name} on {suite}: switched before enable"
            );
        }
        assert_ok(&run(&node, &case, &["enable"]), "switched");
        for suite in suites {
            let containerd = containerd_of(suite);
            let dump = config_dump(&containerd, &node, config);
            let label = format!("{name}, containerd of {suite}");
            assert!(
                dump.status.success(),
                "{label}: containerd refused the switched config: {}",
                text(&dump)
            );
            let dump = String::from_utf8_lossy(&dump.stdout).replace('\'', "\"");
            let has = |line: &str| dump.lines().any(|l| l.trim() == line);
            assert!(
                has("[proxy_plugins.nydus]")
                    && has("address = \"/run/containerd-nydus/containerd-nydus-grpc.sock\""),
                "{label}: no nydus snapshotter in:\n{dump}"
            );
            if name == "docker-containerd.io" {
                // CRI stays off, by its short name or, as 2.x migrates
                // version 1 files, by its URI.
                assert!(
                    dump.lines().any(|l| l.starts_with("disabled_plugins")
                        && (l.contains("\"cri\"") || l.contains("\"io.containerd.grpc.v1.cri\""))),
                    "{label}: CRI not disabled in:\n{dump}"
                );
            } else {
                for line in [
                    "snapshotter = \"nydus\"",
                    "disable_snapshot_annotations = false",
                    "discard_unpacked_layers = false",
                ] {
                    assert!(has(line), "{label}: '{line}' missing from:\n{dump}");
                }
            }
        }
    }
}
