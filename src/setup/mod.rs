//! The admin side, `nydus-overlayfs-setup`: switching a node to
//! nydus-overlayfs and back, reporting its state, and what the packages'
//! maintainer scripts ask of the binary. None of it is reachable from the
//! mount helper, so no word containerd passes can trigger it.
//!
//! Every command runs facts → plan → apply → report: [`facts`] reads the
//! node once (through [`rootfs`], inside its root), [`plan`] decides from
//! those facts alone, [`apply`] carries a plan out under the node's
//! [`lock`] with the [`journal`], and [`report`] says what the node does.
//! [`restart`] restarts, after a switch, the services that read a changed
//! file, never taking running containers' filesystems down.

pub mod apply;
pub mod cli;
pub mod config_edit;
pub mod containerd;
pub mod error;
pub mod facts;
pub mod flavor;
pub mod install;
pub mod installer;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod nodeadm;
pub mod package;
pub mod plan;
pub mod probe;
pub mod report;
pub mod restart;
pub mod rootfs;
pub mod snapshotter;
pub mod text_form;
pub mod unit;
