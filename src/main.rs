//! nydus-overlayfs: parse the mount helper's arguments, build the overlay,
//! mount it. Every decision is made in the library.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nydus_overlayfs::cli::{self, Invocation, Stop};
use nydus_overlayfs::error::Error;
use nydus_overlayfs::mount;
use nydus_overlayfs::overlay::OverlayMount;

fn main() -> ExitCode {
    let result = match cli::parse(std::env::args_os()) {
        Ok(invocation) => mount_as_asked(&invocation),
        Err(Stop::Print(text)) => {
            print!("{text}");
            Ok(())
        }
        Err(Stop::Fail(error)) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nydus-overlayfs: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn mount_as_asked(invocation: &Invocation) -> Result<(), Error> {
    if let Some(namespace) = &invocation.namespace {
        mount::enter_namespace(namespace)?;
    }
    let source = invocation.source.as_bytes();
    let overlay = OverlayMount::from_options(
        source,
        invocation.target.clone(),
        &invocation.option_strings(),
    )?;
    if invocation.fake {
        mount::open_dirs(&overlay)?;
    } else {
        mount::mount(&overlay, invocation.sloppy)?;
    }
    if invocation.fake || invocation.verbose {
        println!("{overlay}");
    }
    Ok(())
}
