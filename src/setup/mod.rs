//! The admin side, `nydus-overlayfs-setup`: switching a node to
//! nydus-overlayfs and back, reporting its state, and what the packages'
//! maintainer scripts ask of the binary. None of it is reachable from the
//! mount helper, so no word containerd passes can trigger it.

pub mod cli;
pub mod containerd;
pub mod journal;
pub mod layout;
pub mod package;
pub mod probe;
pub mod snapshotter;
pub mod status;
pub mod switch;
pub mod toml_keys;
