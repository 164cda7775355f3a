//! Restarting the services a switch concerns: only those that need it, and
//! never in a way that takes running containers' filesystems down.
//!
//! A unit needs a restart when a file it reads changed after its current
//! run started (the file's change time against the unit's start), whoever
//! changed it: our enable or disable, the admin, a package upgrade.
//!
//! Stopping nydus-snapshotter can take down the filesystems of running
//! containers: each Nydus image a container runs from is a FUSE mount under
//! the snapshotter's root, served by a nydusd, and the container's overlay
//! reads through it. The stop ends them when the snapshotter's config has
//! `cleanup_on_close = true` (it unmounts them and stops every nydusd on its
//! way out), or when the unit's `KillMode` (`control-group`, systemd's
//! default, or `mixed`) kills the nydusd running in its cgroup. Every read
//! of those containers then fails ("Transport endpoint is not connected").
//! Upstream's unit has `KillMode=process`: the nydusd survive, and the
//! restarted snapshotter takes them over. So before that restart the node
//! is looked at, and a restart that would end them is refused unless the
//! admin says to break them; what is safe (containerd: its containers run
//! on in their shims) is restarted all the same.
//!
//! Which units, in which order, and what each reads, is [`node_units`]; the
//! rest works on any such list.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::error::Error;
use super::facts::{CONTAINERD_ENTRY, Facts, SOURCE_ENTRY};
use super::probe;
use super::rootfs::NodeFs;
use super::snapshotter;
use super::unit;

pub const SNAPSHOTTER_UNIT: &str = "nydus-snapshotter.service";

/// A unit a switch may restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Its name in `status` (`nydus_snapshotter`, `containerd`; where the
    /// node's flavor has several units that may run containerd, each one's
    /// name, such as `rke2-server`).
    pub key: String,
    pub name: String,
    /// The node paths of the files it reads. One that is not there counts
    /// as changed when its directory changed (it may just have been removed).
    pub reads: Vec<PathBuf>,
    /// For nydus-snapshotter: what decides whether stopping it takes its
    /// filesystems down.
    pub guard: Option<SnapshotterGuard>,
}

/// What nydus-snapshotter's config says about its filesystems on stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotterGuard {
    pub root: PathBuf,
    pub cleanup_on_close: bool,
    pub fs_driver: String,
}

/// The units a switch concerns on this node, in the order they restart:
/// nydus-snapshotter (reading its config.toml), then the units that run
/// containerd on this flavor of node (containerd.service, k3s.service…),
/// reading every file containerd loads, every file enable may write for it
/// (the drop-in where its config imports a directory, MicroK8s's template,
/// Flatcar's unit drop-in…) and the files enable switched.
pub fn node_units(facts: &Facts) -> Vec<Unit> {
    let nydus = facts
        .nydus_settings
        .as_ref()
        .and_then(|settings| settings.as_ref().ok());
    // A config it cannot read: assume the worst of what it would do.
    let guard = SnapshotterGuard {
        root: PathBuf::from(nydus.map_or(snapshotter::DEFAULT_ROOT, |n| n.root.as_str())),
        cleanup_on_close: nydus.is_none_or(|n| n.cleanup_on_close),
        fs_driver: nydus
            .map_or(snapshotter::DEFAULT_FS_DRIVER, |n| n.fs_driver.as_str())
            .to_string(),
    };
    let mut containerd_reads: Vec<PathBuf> = facts
        .containerd_loads
        .files
        .iter()
        .map(|(path, _)| path.clone())
        .chain(facts.site.files_enable_may_write())
        .collect();
    containerd_reads.extend(facts.containerd_drop_in.clone());
    containerd_reads.extend(
        [CONTAINERD_ENTRY, SOURCE_ENTRY]
            .iter()
            .filter_map(|entry| facts.journal.get(entry).map(|e| e.path.clone())),
    );
    let mut seen = Vec::new();
    containerd_reads.retain(|path| {
        let new = !seen.contains(path);
        seen.push(path.clone());
        new
    });
    let containerd_units = &facts.site.units;
    std::iter::once(Unit {
        key: "nydus_snapshotter".to_string(),
        name: SNAPSHOTTER_UNIT.to_string(),
        reads: vec![facts.settings.nydus_config.clone()],
        guard: Some(guard),
    })
    .chain(containerd_units.iter().map(|name| Unit {
        key: match containerd_units.len() {
            1 => "containerd".to_string(),
            _ => name.trim_end_matches(".service").to_string(),
        },
        name: name.clone(),
        reads: containerd_reads.clone(),
        guard: None,
    }))
    .collect()
}

/// A unit as systemd runs it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub unit: Unit,
    pub observed: Observed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Why it cannot be told (no systemd runs this node; systemctl failed).
    Unknown(String),
    NotRunning,
    Running(Run),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub invocation_id: String,
    /// The files it reads that changed since this run started.
    pub changed: Vec<PathBuf>,
    /// Why stopping it now would take running containers' filesystems down.
    pub hazard: Option<Hazard>,
    /// systemd has not loaded its unit's files as they are now (a drop-in
    /// enable wrote, as on Flatcar): a restart needs a daemon-reload first.
    pub needs_reload: bool,
}

/// Why a stop of nydus-snapshotter ends the filesystems running containers
/// read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hazard {
    pub unit: String,
    /// How many nydusd-served mounts are under the root.
    pub mounts: usize,
    pub root: PathBuf,
    pub cause: Cause,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Its config unmounts them and stops the nydusd on stop.
    CleanupOnClose,
    /// The unit's KillMode kills these processes (pid, name) of its cgroup.
    Kills {
        kill_mode: String,
        daemons: Vec<(u32, String)>,
    },
}

impl Hazard {
    /// What stopping the unit would do, and why.
    pub fn why(&self) -> String {
        let mounts = match self.mounts {
            1 => "the Nydus filesystem".to_string(),
            n => format!("the {n} Nydus filesystems"),
        };
        let cause = match &self.cause {
            Cause::CleanupOnClose => {
                "its config has cleanup_on_close = true, which unmounts them on stop".to_string()
            }
            Cause::Kills { kill_mode, daemons } => format!(
                "KillMode={kill_mode} kills the nydusd in its cgroup ({})",
                daemons
                    .iter()
                    .map(|(pid, name)| format!("{name} {pid}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!(
            "stopping it would take down {mounts} under {} that running containers read from ({cause})",
            self.root.display()
        )
    }

    /// What the admin can change so that the restart is safe.
    pub fn fix(&self) -> &'static str {
        match self.cause {
            Cause::CleanupOnClose => "set cleanup_on_close = false in its config.toml",
            Cause::Kills { .. } => {
                "set KillMode=process in the unit, as upstream's nydus-snapshotter.service does"
            }
        }
    }
}

impl fmt::Display for Hazard {
    /// The refusal, in one line: why, and what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not restarting {}: {}; drain the node first, or {}, or pass --break-running-containers",
            self.unit,
            self.why(),
            self.fix()
        )
    }
}

/// The units as systemd runs them now.
pub fn inspect(node: &NodeFs, units: &[Unit]) -> Vec<Service> {
    let observed: Box<dyn Fn(&Unit) -> Observed> = if !probe::systemd_runs(node) {
        Box::new(|_| Observed::Unknown("systemd does not run this node".to_string()))
    } else {
        let clocks = Clocks::now();
        Box::new(move |unit| observe(node, unit, &clocks))
    };
    units
        .iter()
        .map(|unit| Service {
            unit: unit.clone(),
            observed: observed(unit),
        })
        .collect()
}

fn observe(node: &NodeFs, unit: &Unit, clocks: &Clocks) -> Observed {
    let props = match show(node, &unit.name) {
        Ok(props) => props,
        Err(why) => return Observed::Unknown(why),
    };
    let prop = |name: &str| props.get(name).map_or("", String::as_str);
    if !matches!(prop("ActiveState"), "active" | "reloading") {
        return Observed::NotRunning;
    }
    // When its process started; a unit with none, when it became active.
    let started_us = [
        "ExecMainStartTimestampMonotonic",
        "ActiveEnterTimestampMonotonic",
    ]
    .iter()
    .filter_map(|name| prop(name).parse::<u64>().ok())
    .find(|&us| us > 0)
    .unwrap_or(0);
    let changed = unit
        .reads
        .iter()
        .filter(|path| {
            changed_at(node, path)
                .is_some_and(|realtime_ns| clocks.to_monotonic_us(realtime_ns) > started_us as i128)
        })
        .cloned()
        .collect();
    let hazard = unit.guard.as_ref().and_then(|guard| {
        // The node's mounts: ours on this machine's root; from a pod, those
        // of the node's init (a pod's own table is not the node's).
        let proc = node.proc_dir();
        let table = match node.is_host_root() {
            true => proc.join("self/mountinfo"),
            false => proc.join("1/mountinfo"),
        };
        let mountinfo = fs::read_to_string(table).unwrap_or_default();
        let main_pid: u32 = prop("MainPID").parse().unwrap_or(0);
        // The unit's cgroup as this process sees the others' (systemd's
        // ControlGroup is relative to its own root, which a container's
        // /proc may not share): where its main process is.
        let control_group = fs::read_to_string(proc.join(format!("{main_pid}/cgroup")))
            .ok()
            .and_then(|text| systemd_cgroup(&text).map(str::to_string))
            .unwrap_or_else(|| prop("ControlGroup").to_string());
        let unit_cgroup = UnitCgroup {
            kill_mode: prop("KillMode").to_string(),
            control_group,
            main_pid,
        };
        let root = node.canonical(&guard.root).unwrap_or(guard.root.clone());
        hazard(
            &unit.name,
            &SnapshotterGuard {
                root,
                ..guard.clone()
            },
            &mountinfo,
            &unit_cgroup,
            &processes(&proc),
        )
    });
    Observed::Running(Run {
        invocation_id: prop("InvocationID").to_string(),
        changed,
        hazard,
        needs_reload: prop("NeedDaemonReload") == "yes",
    })
}

fn show(node: &NodeFs, unit: &str) -> Result<BTreeMap<String, String>, String> {
    let mut command = probe::node_program(node, "systemctl")
        .ok_or_else(|| "the node has no systemctl".to_string())?;
    command.arg("show");
    for property in [
        "ActiveState",
        "InvocationID",
        "ExecMainStartTimestampMonotonic",
        "ActiveEnterTimestampMonotonic",
        "KillMode",
        "ControlGroup",
        "MainPID",
        "NeedDaemonReload",
    ] {
        command.args(["-p", property]);
    }
    let output = command
        .arg(unit)
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if !output.status.success() {
        return Err(format!("systemctl show {unit} failed"));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// When the file at `path` last changed (its ctime, in ns of the realtime
/// clock); for a path that is not there, when its directory last changed.
fn changed_at(node: &NodeFs, path: &Path) -> Option<i128> {
    let ctime = |node_path: &Path| {
        fs::metadata(node.host_path(node_path))
            .ok()
            .map(|m| m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128)
    };
    match node.canonical(path) {
        Some(file) => ctime(&file),
        None => ctime(&node.canonical(path.parent()?)?),
    }
}

/// systemd dates a unit's start on the monotonic clock, the kernel a file's
/// change on the realtime clock: the offset between them, now.
struct Clocks {
    realtime_minus_monotonic_ns: i128,
}

impl Clocks {
    fn now() -> Clocks {
        use rustix::time::{ClockId, clock_gettime};
        let ns = |t: rustix::time::Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        let monotonic = ns(clock_gettime(ClockId::Monotonic));
        let realtime = ns(clock_gettime(ClockId::Realtime));
        Clocks {
            realtime_minus_monotonic_ns: realtime - monotonic,
        }
    }

    fn to_monotonic_us(&self, realtime_ns: i128) -> i128 {
        (realtime_ns - self.realtime_minus_monotonic_ns) / 1000
    }
}

/// A unit's cgroup and how systemd stops it.
pub struct UnitCgroup {
    pub kill_mode: String,
    pub control_group: String,
    pub main_pid: u32,
}

/// A process: pid, name, and the text of /proc/PID/cgroup.
pub type Process = (u32, String, String);

fn processes(proc: &Path) -> Vec<Process> {
    let Ok(entries) = fs::read_dir(proc) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let dir = entry.path();
            let name = fs::read_to_string(dir.join("comm")).ok()?;
            let cgroup = fs::read_to_string(dir.join("cgroup")).ok()?;
            Some((pid, name.trim_end().to_string(), cgroup))
        })
        .collect()
}

/// Whether stopping the snapshotter unit would take down the nydusd-served
/// mounts under its root (as /proc/self/mountinfo lists them), and why.
pub fn hazard(
    unit: &str,
    guard: &SnapshotterGuard,
    mountinfo: &str,
    unit_cgroup: &UnitCgroup,
    processes: &[Process],
) -> Option<Hazard> {
    let mounts = served_mounts(mountinfo, &guard.root, &guard.fs_driver);
    if mounts == 0 {
        return None;
    }
    let cause = if guard.cleanup_on_close {
        Cause::CleanupOnClose
    } else {
        // control-group: SIGTERM to all; mixed: SIGTERM to the main
        // process, SIGKILL to the rest. process and none spare them.
        if !matches!(unit_cgroup.kill_mode.as_str(), "control-group" | "mixed") {
            return None;
        }
        let daemons: Vec<(u32, String)> = processes
            .iter()
            .filter(|(pid, _, cgroup)| {
                *pid != unit_cgroup.main_pid && in_cgroup(cgroup, &unit_cgroup.control_group)
            })
            .map(|(pid, name, _)| (*pid, name.clone()))
            .collect();
        if daemons.is_empty() {
            return None;
        }
        Cause::Kills {
            kill_mode: unit_cgroup.kill_mode.clone(),
            daemons,
        }
    };
    Some(Hazard {
        unit: unit.to_string(),
        mounts,
        root: guard.root.clone(),
        cause,
    })
}

/// The mounts under `root` that a nydusd serves: FUSE mounts, and with
/// fs_driver fscache, EROFS ones.
fn served_mounts(mountinfo: &str, root: &Path, fs_driver: &str) -> usize {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mount_point = unescape(mount.split(' ').nth(4)?);
            let fs_type = fs.split(' ').next()?;
            Some((mount_point, fs_type.to_string()))
        })
        .filter(|(mount_point, fs_type)| {
            let served = fs_type == "fuse"
                || fs_type.starts_with("fuse.")
                || (fs_driver == "fscache" && fs_type == "erofs");
            served && Path::new(mount_point).starts_with(root) && Path::new(mount_point) != root
        })
        .count()
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0')),
                );
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a /proc/PID/cgroup text puts the process at or below `group`
/// in the hierarchy systemd tracks units in.
fn in_cgroup(cgroup: &str, group: &str) -> bool {
    !group.is_empty()
        && systemd_cgroup(cgroup).is_some_and(|path| {
            path == group
                || path
                    .strip_prefix(group)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The path in a /proc/PID/cgroup text of the hierarchy systemd tracks units
/// in: cgroup v1's name=systemd, else cgroup v2's.
fn systemd_cgroup(cgroup: &str) -> Option<&str> {
    let path_of = |wanted: &str| {
        cgroup.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next(), fields.next()?, fields.next()?);
            (controllers == wanted).then_some(path)
        })
    };
    path_of("name=systemd").or_else(|| path_of(""))
}

/// What a restart did to one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Restarted { changed: Vec<PathBuf>, forced: bool },
    Current,
    NotRunning,
    Refused(Hazard),
    Unknown(String),
}

/// Restarts, in order, each running unit a file of which changed since it
/// started; a nydus-snapshotter whose stop would take running containers'
/// filesystems down only if `break_running`.
pub fn restart(
    node: &NodeFs,
    units: &[Unit],
    break_running: bool,
) -> Result<Vec<(String, Outcome)>, Error> {
    let mut outcomes = Vec::new();
    let mut reloaded = false;
    for service in inspect(node, units) {
        // systemd says so, or (a drop-in in a directory new since its last
        // reload, which its cache does not see) a unit file it loads changed.
        let needs_reload = matches!(&service.observed, Observed::Running(run)
            if run.needs_reload || run.changed.iter().any(|path| unit::is_unit_file(path)));
        let outcome = decide(service.observed, break_running);
        if matches!(outcome, Outcome::Restarted { .. }) {
            if needs_reload && !reloaded {
                systemctl(node, &["daemon-reload"])?;
                reloaded = true;
            }
            systemctl(node, &["try-restart", &service.unit.name])?;
        }
        outcomes.push((service.unit.name, outcome));
    }
    Ok(outcomes)
}

/// What to do with a unit, as systemd runs it.
fn decide(observed: Observed, break_running: bool) -> Outcome {
    match observed {
        Observed::Unknown(why) => Outcome::Unknown(why),
        Observed::NotRunning => Outcome::NotRunning,
        Observed::Running(run) if run.changed.is_empty() => Outcome::Current,
        Observed::Running(Run {
            hazard: Some(hazard),
            ..
        }) if !break_running => Outcome::Refused(hazard),
        Observed::Running(run) => Outcome::Restarted {
            changed: run.changed,
            forced: run.hazard.is_some(),
        },
    }
}

/// `systemctl ARGS…`; a failure names the unit's journal when there is one.
fn systemctl(node: &NodeFs, args: &[&str]) -> Result<(), Error> {
    let status = probe::node_program(node, "systemctl")
        .ok_or_else(|| Error::new("cannot run systemctl: the node has none"))?
        .args(args)
        .status()
        .map_err(|e| Error::new(format!("cannot run systemctl: {e}")))?;
    if status.success() {
        return Ok(());
    }
    Err(Error::new(match args {
        [_, unit] => format!(
            "systemctl {} failed; see journalctl -u {unit}",
            args.join(" ")
        ),
        _ => format!("systemctl {} failed", args.join(" ")),
    }))
}

/// The restart that would be refused once `changing` (node paths of files
/// about to change) have changed: a running unit that reads one of them, or
/// a changed file already, and whose stop is a hazard.
pub fn refused_after(node: &NodeFs, services: &[Service], changing: &[PathBuf]) -> Option<Hazard> {
    services.iter().find_map(|service| match &service.observed {
        Observed::Running(Run {
            hazard: Some(hazard),
            changed,
            ..
        }) => {
            let reads_changing = service.unit.reads.iter().any(|read| {
                let file = node.canonical(read).unwrap_or(read.clone());
                changing.contains(&file)
            });
            (reads_changing || !changed.is_empty()).then(|| hazard.clone())
        }
        _ => None,
    })
}

/// The running units that read a file changed since they started.
pub fn stale(services: &[Service]) -> Vec<&str> {
    services
        .iter()
        .filter(|service| matches!(&service.observed, Observed::Running(run) if !run.changed.is_empty()))
        .map(|service| service.unit.name.as_str())
        .collect()
}

impl Outcome {
    /// One line for the admin.
    pub fn describe(&self, unit: &str) -> String {
        let files = |changed: &[PathBuf]| {
            changed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Outcome::Restarted {
                changed,
                forced: false,
            } => format!(
                "restarted {unit}: {} changed since it started",
                files(changed)
            ),
            Outcome::Restarted {
                changed,
                forced: true,
            } => format!(
                "restarted {unit} (--break-running-containers): {} changed since it started",
                files(changed)
            ),
            Outcome::Current => {
                format!("{unit} already runs with the current config; not restarted")
            }
            Outcome::NotRunning => format!("{unit} is not running; not started"),
            Outcome::Refused(hazard) => hazard.to_string(),
            Outcome::Unknown(why) => format!("{unit}: not restarted: {why}"),
        }
    }
}

/// The `services` field of `status`: per unit, whether it runs with the
/// config on disk or still needs a restart.
pub fn status_json(services: &[Service]) -> Value {
    let mut fields = Map::new();
    for service in services {
        let (running, invocation, current, changed, hazard) = match &service.observed {
            Observed::Unknown(_) => (None, None, None, Vec::new(), None),
            Observed::NotRunning => (Some(false), None, None, Vec::new(), None),
            Observed::Running(run) => (
                Some(true),
                Some(run.invocation_id.clone()),
                Some(run.changed.is_empty()),
                run.changed.clone(),
                run.hazard.as_ref().map(ToString::to_string),
            ),
        };
        fields.insert(
            service.unit.key.to_string(),
            json!({
                "unit": service.unit.name,
                "running": running,
                "invocation_id": invocation,
                "runs_current_config": current,
                "changed_since_start": changed,
                "restart_would_break_containers": hazard,
            }),
        );
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/var/lib/containerd-nydus";

    // Two images served by dedicated nydusd, a container's overlay on one,
    // and unrelated mounts (one FUSE, outside the root).
    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:45 / /var/lib/containerd-nydus/snapshots/7/mnt rw,nosuid,nodev,relatime shared:20 - fuse rafs rw,user_id=0,group_id=0,default_permissions,allow_other
41 22 0:46 / /var/lib/containerd-nydus/snapshots/9/mnt rw,nosuid,nodev,relatime shared:21 - fuse rafs rw,user_id=0,group_id=0,default_permissions,allow_other
42 22 0:47 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw,relatime shared:22 - overlay overlay rw,lowerdir+=/var/lib/containerd-nydus/snapshots/7/mnt,upperdir=/var/lib/containerd-nydus/snapshots/8/fs
43 22 0:48 / /home/me/sshfs rw shared:23 - fuse.sshfs me@host: rw
";

    fn guard(cleanup_on_close: bool) -> SnapshotterGuard {
        SnapshotterGuard {
            root: PathBuf::from(ROOT),
            cleanup_on_close,
            fs_driver: "fusedev".to_string(),
        }
    }

    fn unit(kill_mode: &str) -> UnitCgroup {
        UnitCgroup {
            kill_mode: kill_mode.to_string(),
            control_group: "/system.slice/nydus-snapshotter.service".to_string(),
            main_pid: 100,
        }
    }

    fn processes() -> Vec<Process> {
        vec![
            (
                100,
                "containerd-nyd".into(),
                "1:name=systemd:/system.slice/nydus-snapshotter.service\n".into(),
            ),
            (
                101,
                "nydusd".into(),
                "12:cpu,cpuacct:/\n1:name=systemd:/system.slice/nydus-snapshotter.service\n0::/system.slice/nydus-snapshotter.service\n".into(),
            ),
            (
                200,
                "containerd".into(),
                "0::/system.slice/containerd.service\n".into(),
            ),
            (
                300,
                "other".into(),
                "0::/system.slice/nydus-snapshotter.service-other\n".into(),
            ),
        ]
    }

    #[test]
    fn a_stop_that_kills_or_unmounts_the_nydusd_is_a_hazard() {
        // (KillMode, cleanup_on_close, processes) → the cause, if any.
        let cases: [(&str, bool, Vec<Process>, Option<Cause>); 6] = [
            (
                "control-group",
                false,
                processes(),
                Some(Cause::Kills {
                    kill_mode: "control-group".into(),
                    daemons: vec![(101, "nydusd".into())],
                }),
            ),
            (
                "mixed",
                false,
                processes(),
                Some(Cause::Kills {
                    kill_mode: "mixed".into(),
                    daemons: vec![(101, "nydusd".into())],
                }),
            ),
            // Upstream's unit: the nydusd survive.
            ("process", false, processes(), None),
            ("process", true, processes(), Some(Cause::CleanupOnClose)),
            // The nydusd run elsewhere (another cgroup): the stop spares them.
            (
                "control-group",
                false,
                processes().into_iter().filter(|p| p.0 != 101).collect(),
                None,
            ),
            ("none", false, processes(), None),
        ];
        for (kill_mode, cleanup, processes, expected) in cases {
            let found = hazard(
                SNAPSHOTTER_UNIT,
                &guard(cleanup),
                MOUNTINFO,
                &unit(kill_mode),
                &processes,
            );
            assert_eq!(
                found.as_ref().map(|h| &h.cause),
                expected.as_ref(),
                "{kill_mode} {cleanup}"
            );
            if let Some(found) = found {
                assert_eq!(found.mounts, 2);
            }
        }
    }

    #[test]
    fn no_served_mount_no_hazard() {
        let mountinfo: String = MOUNTINFO
            .lines()
            .filter(|l| !l.contains(" rafs "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            hazard(
                SNAPSHOTTER_UNIT,
                &guard(true),
                &mountinfo,
                &unit("control-group"),
                &processes()
            ),
            None
        );
        // Another root: its mounts are not this snapshotter's.
        let elsewhere = SnapshotterGuard {
            root: PathBuf::from("/var/lib/containerd-nydus-other"),
            ..guard(true)
        };
        assert_eq!(
            hazard(
                SNAPSHOTTER_UNIT,
                &elsewhere,
                MOUNTINFO,
                &unit("control-group"),
                &processes()
            ),
            None
        );
    }

    #[test]
    fn fscache_images_are_erofs_mounts() {
        let mountinfo = "50 22 0:50 / /var/lib/containerd-nydus/snapshots/3/mnt ro shared:30 - erofs none ro,fsid=abc\n";
        let mut fscache = guard(true);
        assert_eq!(
            served_mounts(mountinfo, &fscache.root, &fscache.fs_driver),
            0
        );
        fscache.fs_driver = "fscache".into();
        assert_eq!(
            served_mounts(mountinfo, &fscache.root, &fscache.fs_driver),
            1
        );
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape(r"/var/lib/a\040b"), "/var/lib/a b");
        assert_eq!(unescape(r"/x\\y"), r"/x\\y");
        let mountinfo = "40 22 0:45 / /srv/nydus\\040root/snapshots/7/mnt rw - fuse rafs rw\n";
        assert_eq!(
            served_mounts(mountinfo, Path::new("/srv/nydus root"), "fusedev"),
            1
        );
    }

    #[test]
    fn the_refusal_is_one_line_with_why_and_what_to_do() {
        let line = hazard(
            SNAPSHOTTER_UNIT,
            &guard(false),
            MOUNTINFO,
            &unit("control-group"),
            &processes(),
        )
        .unwrap()
        .to_string();
        assert_eq!(
            line,
            "not restarting nydus-snapshotter.service: stopping it would take down the 2 Nydus filesystems under /var/lib/containerd-nydus that running containers read from (KillMode=control-group kills the nydusd in its cgroup (nydusd 101)); drain the node first, or set KillMode=process in the unit, as upstream's nydus-snapshotter.service does, or pass --break-running-containers"
        );
        assert!(!line.contains('\n'));
        let cleanup = hazard(
            SNAPSHOTTER_UNIT,
            &guard(true),
            MOUNTINFO,
            &unit("process"),
            &[],
        )
        .unwrap()
        .to_string();
        assert!(
            cleanup.contains("cleanup_on_close = true")
                && cleanup.contains("set cleanup_on_close = false"),
            "{cleanup}"
        );
    }

    #[test]
    fn a_unit_restarts_only_when_it_read_a_changed_file_and_its_stop_is_safe() {
        let hazard = hazard(
            SNAPSHOTTER_UNIT,
            &guard(false),
            MOUNTINFO,
            &unit("control-group"),
            &processes(),
        );
        let changed = vec![PathBuf::from("/etc/nydus/config.toml")];
        let run = |changed: &Vec<PathBuf>, hazard: &Option<Hazard>| {
            Observed::Running(Run {
                invocation_id: "id".into(),
                changed: changed.clone(),
                hazard: hazard.clone(),
                needs_reload: false,
            })
        };
        let restarted = |forced| Outcome::Restarted {
            changed: changed.clone(),
            forced,
        };
        let cases = [
            // (observed, --break-running-containers) → outcome
            (run(&vec![], &None), false, Outcome::Current),
            // Unchanged files: no restart, hazard or not.
            (run(&vec![], &hazard), true, Outcome::Current),
            (run(&changed, &None), false, restarted(false)),
            (
                run(&changed, &hazard),
                false,
                Outcome::Refused(hazard.clone().unwrap()),
            ),
            (run(&changed, &hazard), true, restarted(true)),
            (Observed::NotRunning, false, Outcome::NotRunning),
            (
                Observed::Unknown("no systemd".into()),
                false,
                Outcome::Unknown("no systemd".into()),
            ),
        ];
        for (observed, break_running, expected) in cases {
            assert_eq!(
                decide(observed.clone(), break_running),
                expected,
                "{observed:?}"
            );
        }
    }

    #[test]
    fn cgroups_match_whole_path_components() {
        let group = "/system.slice/nydus-snapshotter.service";
        assert!(in_cgroup(
            "0::/system.slice/nydus-snapshotter.service\n",
            group
        ));
        assert!(in_cgroup(
            "1:name=systemd:/system.slice/nydus-snapshotter.service/sub\n",
            group
        ));
        assert!(!in_cgroup(
            "0::/system.slice/nydus-snapshotter.service2\n",
            group
        ));
        // A v1 controller's hierarchy is not where systemd tracks units.
        assert!(!in_cgroup(
            "4:memory:/system.slice/nydus-snapshotter.service\n",
            group
        ));
        assert!(!in_cgroup("0::/\n", ""));
        // cgroup v1 (legacy): name=systemd tracks the unit, v2's line says /.
        assert!(in_cgroup(
            "1:name=systemd:/system.slice/nydus-snapshotter.service\n0::/\n",
            group
        ));
    }

    #[test]
    fn clocks_convert_realtime_to_monotonic() {
        let clocks = Clocks {
            realtime_minus_monotonic_ns: 1_000_000_000_000,
        };
        assert_eq!(clocks.to_monotonic_us(1_000_005_000_000), 5_000);
    }
}
