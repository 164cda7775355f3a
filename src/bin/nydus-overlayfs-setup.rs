//! nydus-overlayfs-setup: the admin command. Parses its arguments and hands
//! them to the library.

use std::process::ExitCode;

use clap::Parser;
use nydus_overlayfs::setup::cli::{self, SetupArgs};

fn main() -> ExitCode {
    match cli::run(SetupArgs::parse()) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            eprintln!("nydus-overlayfs-setup: {error}");
            ExitCode::from(error.exit().code())
        }
    }
}
