//! Writes the man page nydus-overlayfs(8) from the command-line definition,
//! so that --help and the man page are never kept twice:
//! `cargo run --example gen-man -- OUTDIR`.

use std::path::PathBuf;

use nydus_overlayfs::cli;
use roff::{Roff, bold, roman};

fn main() -> std::io::Result<()> {
    let out_dir = PathBuf::from(std::env::args_os().nth(1).expect("usage: gen-man OUTDIR"));
    std::fs::create_dir_all(&out_dir)?;
    let man = clap_mangen::Man::new(cli::command()).section("8");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    let mut synopsis = Roff::new();
    synopsis.control("SH", ["SYNOPSIS"]);
    for line in cli::SYNOPSIS {
        synopsis.control("P", []).text([bold(*line)]);
    }
    synopsis.to_writer(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let mut rest = Roff::new();
    for (title, text) in [
        ("EXIT STATUS", cli::EXIT_STATUS),
        ("EXAMPLES", cli::EXAMPLES),
    ] {
        rest.control("SH", [title]).control("nf", []);
        for line in text.lines() {
            rest.text([roman(line.trim_start())]).control("br", []);
        }
        rest.control("fi", []);
    }
    rest.control("SH", ["SEE ALSO"]).text([roman(
        "mount(8), mount.fuse(8), nydus-overlayfs-setup(8), containerd(8)",
    )]);
    rest.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    std::fs::write(out_dir.join("nydus-overlayfs.8"), page)
}
