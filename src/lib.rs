//! nydus-overlayfs: mounts the `fuse.nydus-overlayfs` mounts nydus-snapshotter
//! hands to containerd as plain overlayfs, with the Nydus-only options dropped
//! and every VFS option meaning what mount(8) says it means.

pub mod cli;
pub mod error;
pub mod mount;
pub mod namespace;
pub mod options;
pub mod overlay;
pub mod setup;
