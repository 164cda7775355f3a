//! `make bench` (root): what one container start pays for its rootfs mount,
//! against the physical floor measured in the same run. Prints a table; it
//! asserts nothing about time (the targets are reported, met or missed).
//!
//! Every case is a few hundred rounds of spawn → mount → unmount, the
//! variants of a case interleaved round by round so that drift in the
//! machine's speed hits them all alike; the unmount is not timed.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The helper measured: this build's, or another build given in
/// NYDUS_OVERLAYFS_BENCH_HELPER (to compare build choices in one harness).
fn helper() -> &'static str {
    static HELPER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HELPER.get_or_init(|| {
        std::env::var("NYDUS_OVERLAYFS_BENCH_HELPER")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_nydus-overlayfs").to_string())
    })
}
const ROUNDS: usize = 300;
const WARMUP: usize = 10;

/// One way of making the mount: a command line.
struct Variant {
    name: &'static str,
    argv: Vec<OsString>,
}

struct Stats {
    median: Duration,
    p10: Duration,
    p90: Duration,
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `argv` to completion; returns its wall time.
fn run_once(argv: &[OsString], path: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .env("PATH", path)
        .status()
        .expect("spawn");
    let elapsed = start.elapsed();
    assert!(status.success(), "{argv:?} failed: {status}");
    elapsed
}

/// The largest peak RSS (KiB) of `argv` over a few runs, through the
/// static maxrss probe.
fn max_rss_kib(probe: &Path, argv: &[OsString], target: &Path) -> i64 {
    (0..20)
        .map(|_| {
            let output = Command::new(probe)
                .args(argv)
                .output()
                .expect("maxrss probe");
            assert!(output.status.success(), "{argv:?} under maxrss failed");
            unmount(target);
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<i64>()
                .expect("maxrss prints KiB")
        })
        .max()
        .unwrap()
}

fn unmount(target: &Path) {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty())
        .expect("unmount after a round");
}

fn measure(variants: &[Variant], target: &Path, rounds: usize) -> Vec<Stats> {
    let path = format!(
        "{}:/usr/sbin:/usr/bin:/sbin:/bin",
        Path::new(helper()).parent().unwrap().display()
    );
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..WARMUP + rounds {
        for (i, variant) in variants.iter().enumerate() {
            let elapsed = run_once(&variant.argv, &path);
            unmount(target);
            if round >= WARMUP {
                times[i].push(elapsed);
            }
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
            Stats {
                median: at(0.5),
                p10: at(0.1),
                p90: at(0.9),
            }
        })
        .collect()
}

fn os(items: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    items.iter().map(|s| s.as_ref().to_os_string()).collect()
}

/// Lower layers laid out as nydus-snapshotter does (`<parent>/N/fs`), each
/// path about `path_len` bytes.
fn layers(base: &Path, count: usize, path_len: usize) -> Vec<PathBuf> {
    let stem = base.join(format!("layers-{count}-{path_len}"));
    let pad = path_len.saturating_sub(stem.as_os_str().len() + 8).max(1);
    let parent = stem
        .join("s".repeat(pad.min(200)))
        .join("p".repeat(pad.saturating_sub(200).max(1)));
    (0..count)
        .map(|i| {
            let layer = parent.join(format!("{i}/fs"));
            fs::create_dir_all(&layer).unwrap();
            layer
        })
        .collect()
}

fn join(layers: &[PathBuf]) -> String {
    layers
        .iter()
        .map(|l| l.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn file_kib(path: impl AsRef<Path>) -> Option<f64> {
    fs::metadata(path).ok().map(|m| m.len() as f64 / 1024.0)
}

fn first_file(dir: &str, extension: &str) -> Option<PathBuf> {
    fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == extension))
}

/// Builds the static C programs (the two floors, the RSS probe) into `dir`.
fn build_c_programs(dir: &Path) -> [PathBuf; 3] {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench");
    let build = |name: &str| {
        let out = dir.join(name);
        let status = Command::new("gcc")
            .args(["-O2", "-static", "-o"])
            .arg(&out)
            .arg(sources.join(format!("{name}.c")))
            .status()
            .expect("gcc");
        assert!(
            status.success(),
            "building {name} (needs gcc and libc6-dev)"
        );
        out
    };
    [
        build("floor-mount2"),
        build("floor-fsmount"),
        build("maxrss"),
    ]
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("make bench mounts overlayfs: run it as root");
        std::process::exit(1);
    }
    let work = tempfile::Builder::new()
        .prefix("nydus-overlayfs-bench.")
        .tempdir_in("/tmp")
        .unwrap();
    let base = work.path();
    let [floor_mount2, floor_fsmount, maxrss] = build_c_programs(base);
    let [upper, workdir, target] = ["upper", "work", "merged"].map(|d| {
        let p = base.join(d);
        fs::create_dir_all(&p).unwrap();
        p
    });
    let up = format!("upperdir={},workdir={}", upper.display(), workdir.display());
    let extra = "extraoption=eyJzb3VyY2UiOiIvdmFyL2xpYi9ueWR1cy9zbmFwc2hvdHMvOS9mcy9pbWFnZS9pbWFnZS5ib290In0=";

    println!(
        "nydus-overlayfs mount cost: {} cores, Linux {}, {ROUNDS} rounds per case after {WARMUP} warm-up rounds",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel()
    );
    println!(
        "times are spawn → exit of one mounting process; median [p10–p90]; ratios against the floor of the same run\n"
    );

    // Per-mount cost, as containerd pays it: two layers.
    let two = layers(base, 2, 60);
    let data = format!("lowerdir={},{up}", join(&two));
    let snapshot_options = format!("{data},{extra},dev,suid");
    let mut fsmount_args = os(&[&floor_fsmount, &target, &upper, &workdir]);
    fsmount_args.extend(two.iter().map(|l| l.as_os_str().to_os_string()));
    let variants = [
        Variant {
            name: "floor: mount(2), static C",
            argv: os(&[&floor_mount2, &target, &data]),
        },
        Variant {
            name: "floor: new mount API, static C",
            argv: fsmount_args,
        },
        Variant {
            name: "util-linux mount -t overlay",
            argv: os(&[
                &"/bin/mount",
                &"-t",
                &"overlay",
                &"overlay",
                &target,
                &"-o",
                &data,
            ]),
        },
        Variant {
            name: "nydus-overlayfs, direct",
            argv: os(&[&helper(), &"overlay", &target, &"-o", &snapshot_options]),
        },
        Variant {
            name: "mount.fuse → nydus-overlayfs",
            argv: os(&[
                &"/sbin/mount.fuse",
                &"overlay",
                &target,
                &"-o",
                &format!("{data},{extra}"),
                &"-t",
                &"nydus-overlayfs",
            ]),
        },
    ];
    let stats = measure(&variants, &target, ROUNDS);
    let floor = micros(stats[0].median);
    println!(
        "{:<34} {:>10} {:>17} {:>9}",
        "per mount (2 layers)", "median µs", "p10–p90 µs", "× floor"
    );
    for (variant, s) in variants.iter().zip(&stats) {
        println!(
            "{:<34} {:>10.0} {:>8.0}–{:<8.0} {:>9.2}",
            variant.name,
            micros(s.median),
            micros(s.p10),
            micros(s.p90),
            micros(s.median) / floor
        );
    }
    let direct = &stats[3];
    let ratio = micros(direct.median) / floor;
    let share = micros(direct.median) / micros(stats[4].median) * 100.0;
    let rss = max_rss_kib(&maxrss, &variants[3].argv, &target);
    let floor_rss = max_rss_kib(&maxrss, &variants[0].argv, &target);
    let binary = file_kib(helper()).unwrap_or(0.0);
    println!();
    println!("{:<44} {:>10}   target", "target", "measured");
    println!(
        "{:<44} {:>9.2}×   ≤ 1.15×  {}",
        "helper direct vs mount(2) floor",
        ratio,
        verdict(ratio <= 1.15)
    );
    // A process that does nothing but mount(2) takes this share of the same path:
    // the lowest share any helper can have on this machine.
    let floor_share = floor / micros(stats[4].median) * 100.0;
    println!(
        "{:<44} {:>9.0} %   ≤ 30 %   {}   (a static C mount(2) in its place: {floor_share:.0} %)",
        "helper's share of the mount.fuse path",
        share,
        verdict(share <= 30.0)
    );
    println!(
        "{:<44} {:>6} KiB   ≤ 1536   {}   (mount(2) floor: {floor_rss} KiB)",
        "max RSS of the helper",
        rss,
        verdict(rss <= 1536)
    );
    println!(
        "{:<44} {:>6.0} KiB   ≤ 1024   {}",
        "stripped helper binary",
        binary,
        verdict(binary <= 1024.0)
    );
    for (what, dir, ext) in [
        (".deb", "target/debian", "deb"),
        (".rpm", "target/generate-rpm", "rpm"),
    ] {
        match first_file(dir, ext).and_then(file_kib) {
            Some(kib) => println!(
                "{:<44} {:>6.0} KiB",
                format!("{what} package (both binaries)"),
                kib
            ),
            None => println!(
                "{:<44} {:>10}",
                format!("{what} package"),
                "(run make package)"
            ),
        }
    }

    // Scale: the new mount API floor against the helper, by layer count.
    println!(
        "\n{:<8} {:>6} {:>11} {:>12} {:>7} {:>15} {:>15}",
        "layers", "path", "floor µs", "helper µs", "ratio", "floor µs/layer", "helper µs/layer"
    );
    for path_len in [40, 200] {
        let mut points = Vec::new();
        for count in [1, 2, 16, 130, 500] {
            let lowers = layers(base, count, path_len);
            let mut floor_args = os(&[&floor_fsmount, &target, &upper, &workdir]);
            floor_args.extend(lowers.iter().map(|l| l.as_os_str().to_os_string()));
            let options = format!("lowerdir={},{up},{extra},dev,suid", join(&lowers));
            let variants = [
                Variant {
                    name: "floor",
                    argv: floor_args,
                },
                Variant {
                    name: "nydus-overlayfs",
                    argv: os(&[&helper(), &"overlay", &target, &"-o", &options]),
                },
            ];
            let rounds = if count >= 130 { ROUNDS / 3 } else { ROUNDS };
            let s = measure(&variants, &target, rounds);
            let (f, h) = (micros(s[0].median), micros(s[1].median));
            points.push((count as f64, f, h));
            println!(
                "{:<8} {:>5}B {:>11.0} {:>12.0} {:>7.2}",
                count,
                path_len,
                f,
                h,
                h / f
            );
        }
        let slope = |pick: fn(&(f64, f64, f64)) -> f64| {
            let n = points.len() as f64;
            let (sx, sy) = points
                .iter()
                .fold((0.0, 0.0), |(sx, sy), p| (sx + p.0, sy + pick(p)));
            let (mx, my) = (sx / n, sy / n);
            let cov: f64 = points.iter().map(|p| (p.0 - mx) * (pick(p) - my)).sum();
            let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let b = cov / var;
            let ss_res: f64 = points
                .iter()
                .map(|p| (pick(p) - (my + b * (p.0 - mx))).powi(2))
                .sum();
            let ss_tot: f64 = points.iter().map(|p| (pick(p) - my).powi(2)).sum();
            (b, 1.0 - ss_res / ss_tot)
        };
        let (floor_slope, floor_r2) = slope(|p| p.1);
        let (helper_slope, helper_r2) = slope(|p| p.2);
        println!(
            "{:<8} {:>5}B {:>11} {:>12} {:>7} {:>15.2} {:>15.2}   linear fit R² floor {:.3}, helper {:.3}",
            "fit", path_len, "", "", "", floor_slope, helper_slope, floor_r2, helper_r2
        );
        let last = points.last().unwrap();
        println!(
            "{:<8} at 500 layers the kernel's own work (the floor) is {:.0} % of the helper's time\n",
            "",
            last.1 / last.2 * 100.0
        );
    }
}
