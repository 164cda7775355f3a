//! Arbitrary bytes through everything the helper does before the kernel:
//! argument parsing (the input split at NUL bytes into arguments), option
//! splitting, classification and flag resolution, lowerdir splitting and
//! unescaping, the effective mount as printed, and every error. No input
//! may panic, and a secret planted as the value of extraoption,
//! io.katacontainers.volume and an unknown option never appears in any output.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use nydus_overlayfs::cli::{self, Stop};
use nydus_overlayfs::overlay::{OverlayMount, join_lowerdir, split_lowerdir};

const SECRET: &str = "S3cr3t-r3g1stry-t0k3n";

fuzz_target!(|data: &[u8]| {
    let planted = format!("extraoption={SECRET},io.katacontainers.volume={SECRET},zz-token={SECRET}");
    // Only where the input does not itself hold the secret can it be told
    // whether the helper revealed it.
    let checkable = !data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
    let pieces: Vec<&[u8]> = data.split(|b| *b == 0).collect();

    // The command line, with the secret options added as containerd adds them.
    let args = std::iter::once(OsString::from("nydus-overlayfs"))
        .chain(pieces.iter().map(|p| OsString::from_vec(p.to_vec())))
        .chain([OsString::from("-o"), OsString::from(&planted)]);
    let printed = match cli::parse(args) {
        Ok(invocation) => {
            let mut options = invocation.option_strings();
            options.push(planted.as_bytes());
            match OverlayMount::from_options(b"overlay", invocation.target.clone(), &options) {
                Ok(mount) => mount.to_string(),
                Err(error) => error.to_string(),
            }
        }
        Err(Stop::Print(text)) => text,
        Err(Stop::Fail(error)) => error.to_string(),
    };
    assert!(!checkable || !printed.contains(SECRET), "secret printed: {printed}");

    // The pieces as option strings, as mount.fuse passes them.
    let mut options = pieces.clone();
    options.push(planted.as_bytes());
    let printed = match OverlayMount::from_options(b"overlay", PathBuf::from("/mnt"), &options) {
        Ok(mount) => mount.to_string(),
        Err(error) => error.to_string(),
    };
    assert!(!checkable || !printed.contains(SECRET), "secret printed: {printed}");

    // A lowerdir value: what splits joins back to what splits the same.
    if let Ok(layers) = split_lowerdir(data) {
        let joined = join_lowerdir(layers.iter().map(|l| (l.path.as_slice(), l.data_only)));
        assert_eq!(split_lowerdir(&joined).unwrap(), layers);
    }
});
