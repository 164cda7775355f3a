//! nydus-overlayfs: parse the mount helper's arguments, build the overlay,
//! mount it. Every decision is made in the library.
//!
//! The helper runs once per container start, so its start-up is part of
//! every container's: with `no_main`, glibc calls this `main` directly and
//! std's runtime set-up (main-thread stack guard probing, which reads
//! /proc/self/maps, and a signal stack) is skipped. std works as usual:
//! glibc hands it the arguments before `main` (see docs/performance.md).
#![no_main]

use std::ffi::{c_char, c_int};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use nydus_overlayfs::cli::{self, Invocation, Stop};
use nydus_overlayfs::error::Error;
use nydus_overlayfs::overlay::OverlayMount;
use nydus_overlayfs::{mount, namespace};

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let result = match cli::parse(std::env::args_os()) {
        Ok(invocation) => mount_as_asked(&invocation),
        Err(Stop::Print(text)) => {
            print!("{text}");
            Ok(())
        }
        Err(Stop::Fail(error)) => Err(error),
    };
    let code = match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("nydus-overlayfs: {error}");
            error.exit_code().into()
        }
    };
    // std's runtime would flush stdout at exit; without it, flush here.
    let _ = std::io::stdout().flush();
    code
}

fn mount_as_asked(invocation: &Invocation) -> Result<(), Error> {
    if let Some(namespace) = &invocation.namespace {
        namespace::enter(namespace)?;
    }
    let source = invocation.source.as_bytes();
    let overlay = OverlayMount::from_options(
        source,
        invocation.target.clone(),
        &invocation.option_strings(),
    )?
    .with_sloppy(invocation.sloppy);
    let done = if invocation.fake {
        mount::check(&overlay)?;
        None
    } else {
        Some(mount::mount(&overlay)?)
    };
    if invocation.fake || invocation.verbose {
        println!("{overlay}");
    }
    if invocation.verbose && done == Some(mount::Done::AlreadyMounted) {
        println!("already mounted there with this upperdir and workdir; nothing done");
    }
    Ok(())
}
