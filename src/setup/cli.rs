//! The `nydus-overlayfs-setup` command line, and what each command does.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use super::layout::Layout;
use super::probe::Version;
use super::switch::{self, Versions};
use super::{package, status};
use crate::error::Error;

const DESCRIPTION: &str = "\
Switches this node's containerd and nydus-snapshotter to mount Nydus snapshots with \
nydus-overlayfs, and back. enable adds the package's drop-ins to containerd's \
config.toml imports (and, on containerd 1.6/1.7, the CRI settings into config.toml \
itself) and sets [snapshot] enable_nydus_overlayfs = true (and nydus_overlayfs_path \
on nydus-snapshotter 0.15+) in nydus-snapshotter's config.toml. Edits keep comments \
and order, are written atomically, and are journaled in /var/lib/nydus-overlayfs so \
that disable restores each file byte for byte (or, if it was edited since, removes \
only our settings). Nothing is restarted unless --restart is given.

Settings (the two config paths) are read from /etc/nydus-overlayfs/setup.toml. \
If /etc/nydus-overlayfs/enable-on-install exists, installing or upgrading the \
package runs enable.";

macro_rules! exit_status {
    () => {
        "  0  done; for status: switched
  1  an error (nothing was changed)
  2  incorrect invocation
  3  status: not switched
  4  status: partly switched or broken (see the problems it lists)"
    };
}

pub const EXIT_STATUS: &str = exit_status!();

/// The files the man page lists.
pub const FILES: &str = "\
/etc/nydus-overlayfs/setup.toml            settings: the paths of the two config files
/etc/nydus-overlayfs/enable-on-install     the admin's opt-in: the package runs enable
/var/lib/nydus-overlayfs/                  the journal disable undoes enable from
/usr/share/nydus-overlayfs/containerd/     the containerd drop-ins enable imports";

#[derive(Parser, Debug)]
#[command(
    name = "nydus-overlayfs-setup",
    version,
    about = "Switch containerd and nydus-snapshotter to nydus-overlayfs, and back",
    long_about = DESCRIPTION,
    after_long_help = concat!("Exit status:\n", exit_status!()),
)]
pub struct SetupArgs {
    /// Work on the node whose root filesystem is DIR (an image being built)
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// The helper's path on the node [default: nydus-overlayfs beside this program]
    #[arg(long, global = true, value_name = "PATH")]
    pub helper: Option<PathBuf>,

    /// containerd's version, when it cannot be run to ask (e.g. 1.7)
    #[arg(long, global = true, value_name = "X.Y", value_parser = parse_version)]
    pub containerd_version: Option<Version>,

    /// nydus-snapshotter's version, when it cannot be run to ask
    #[arg(long, global = true, value_name = "X.Y", value_parser = parse_version)]
    pub snapshotter_version: Option<Version>,

    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Switch the node to nydus-overlayfs (twice changes nothing)
    Enable {
        /// Then restart nydus-snapshotter and containerd if something changed
        #[arg(long)]
        restart: bool,
    },
    /// Undo enable: restore every file it changed, remove what it added
    Disable {
        /// Then restart nydus-snapshotter and containerd if something changed
        #[arg(long)]
        restart: bool,
    },
    /// Say what is switched, what is missing and which helper containerd runs
    Status {
        /// Print JSON (schema 1) instead of text
        #[arg(long)]
        json: bool,
    },
    /// For the packages' post-install (both .deb and .rpm)
    #[command(hide = true)]
    PackageConfigure,
    /// For the packages' pre-removal (both .deb and .rpm)
    #[command(hide = true)]
    PackageRemove,
}

fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).ok_or_else(|| format!("'{text}' is not a version such as 1.7 or 2.1.4"))
}

pub fn command() -> clap::Command {
    SetupArgs::command()
}

/// Runs one command; returns the exit code.
pub fn run(args: SetupArgs) -> Result<u8, Error> {
    let layout = match args.helper {
        Some(helper) => Layout::new(&args.root, helper)?,
        None => Layout::for_this_binary(&args.root)?,
    };
    let versions = || Versions::detect(&layout, args.containerd_version, args.snapshotter_version);
    match args.action {
        Action::Enable { restart } => {
            let done = switch::enable(&layout, &switch::targets(&layout, versions())?)?;
            report_changes(&layout, &done, restart, "already switched; nothing changed")
        }
        Action::Disable { restart } => {
            let done = switch::disable(&layout)?;
            report_changes(&layout, &done, restart, "nothing to undo; nothing changed")
        }
        Action::Status { json } => {
            let status = status::status(&layout, versions());
            print!(
                "{}",
                if json {
                    status.to_json() + "\n"
                } else {
                    status.to_text()
                }
            );
            Ok(status.state.exit_code())
        }
        Action::PackageConfigure => Ok(report(package::configure(&layout))),
        Action::PackageRemove => Ok(report(package::remove(&layout))),
    }
}

fn report_changes(
    layout: &Layout,
    done: &[switch::Done],
    restart: bool,
    unchanged: &str,
) -> Result<u8, Error> {
    if done.is_empty() {
        println!("{unchanged}");
        return Ok(0);
    }
    for change in done {
        println!("{change}");
    }
    if restart {
        println!("{}", switch::restart_services(layout)?);
    } else {
        println!("restart nydus-snapshotter and containerd to apply (or pass --restart)");
    }
    Ok(0)
}

fn report(lines: Vec<String>) -> u8 {
    for line in lines {
        eprintln!("nydus-overlayfs-setup: {line}");
    }
    0
}
