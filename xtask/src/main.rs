//! The build steps of nydus-overlayfs, in Rust (cargo's xtask convention;
//! the alias is in .cargo/config.toml). `make` runs them:
//!
//!   cargo xtask man OUTDIR                      the man pages (make man)
//!   cargo xtask completions OUTDIR              the setup command's shell completions
//!   cargo xtask rpm-metadata STAGED_ROOT OUT    cargo-generate-rpm's metadata for a staged tree
//!   cargo xtask image OUTDIR ARCH=DIR...        the node-installer image, an OCI archive (make image)

mod completions;
mod image;
mod man;
mod rpm_metadata;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask man OUTDIR | completions OUTDIR | \
    rpm-metadata STAGED_ROOT OUT.toml | image OUTDIR ARCH=RELEASE_DIR...";

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let step = args.first().and_then(|s| s.to_str()).unwrap_or_default();
    let result = match (step, &args[args.len().min(1)..]) {
        ("man", [out_dir]) => man::write(out_dir),
        ("completions", [out_dir]) => completions::write(out_dir),
        ("rpm-metadata", [root, out]) => rpm_metadata::write(root, out),
        ("image", [out_dir, arches @ ..]) => image::write(out_dir, arches),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask {step}: {error}");
            ExitCode::FAILURE
        }
    }
}
