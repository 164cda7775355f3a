//! One lock per node, held by enable and disable from reading the configs
//! to their last write, so that a package's post-install and a
//! configuration-management run that overlap take turns. It is a `flock`
//! on a file in the journal's directory, inside the node's root: a second
//! run waits (saying, after a second, whose pid it waits for), then does its
//! own work on what the first left. status never takes it: every file is
//! replaced by rename, so a reader sees the old or the new bytes.
//!
//! The lock file is removed on release (and the directory with it when the
//! journal is empty), so that a node switched back holds nothing of ours. A
//! run that waited on the removed file sees that it is gone once it gets
//! the lock, and starts over.

use std::io::{self, Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use super::rootfs::{Missing, NodeFs, Resolved};

/// How long a run waits for another before giving up.
pub const WAIT_LIMIT: Duration = Duration::from_secs(120);
/// When a waiting run says whom it waits for.
const SAY_AFTER: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(20);

pub struct NodeLock {
    file: std::fs::File,
    resolved: Resolved,
}

impl NodeLock {
    /// Takes the lock at `path` on the node, waiting for another holder at
    /// most `limit`; `waiting` is told once whom it waits for.
    pub fn acquire(
        node: &NodeFs,
        path: &Path,
        limit: Duration,
        waiting: &mut dyn FnMut(Option<u32>),
    ) -> Result<NodeLock, String> {
        let start = Instant::now();
        let mut said = false;
        let failed = |e: io::Error| format!("{}: {e}", path.display());
        loop {
            // The directory may go between the walk and the open, when the
            // run before this one releases: then walk again.
            let opened = node
                .resolve(path, Missing::Create)
                .and_then(|resolved| Ok((resolved.open_for_lock()?, resolved)));
            let (fd, resolved): (OwnedFd, Resolved) = match opened {
                Ok(opened) => opened,
                Err(e) if e.kind() == io::ErrorKind::NotFound && start.elapsed() < limit => {
                    continue;
                }
                Err(e) => return Err(failed(e)),
            };
            match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    if !resolved.is_same_file(&fd) {
                        continue; // removed by the run we waited for
                    }
                    let mut file = std::fs::File::from(fd);
                    file.set_len(0).map_err(failed)?;
                    writeln!(file, "{}", std::process::id()).map_err(failed)?;
                    return Ok(NodeLock { file, resolved });
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    let waited = start.elapsed();
                    if waited >= limit {
                        let holder =
                            holder_pid(fd).map_or(String::new(), |pid| format!(" (pid {pid})"));
                        return Err(format!(
                            "another nydus-overlayfs-setup{holder} has held {} for {} s; let it finish, then run this again",
                            path.display(),
                            waited.as_secs()
                        ));
                    }
                    if waited >= SAY_AFTER && !said {
                        waiting(holder_pid(fd));
                        said = true;
                    }
                    std::thread::sleep(POLL);
                }
                Err(e) => return Err(failed(e.into())),
            }
        }
    }

    /// Deletes the lock file, and its directory when nothing else is in it,
    /// then releases the lock.
    pub fn release(self) {
        let _ = self.resolved.remove();
        self.resolved.remove_empty_dirs(1);
        drop(self.file);
    }
}

/// The pid the holder wrote into the lock file, if it got that far.
fn holder_pid(fd: OwnedFd) -> Option<u32> {
    let mut file = std::fs::File::from(fd);
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
