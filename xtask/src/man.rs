//! The man pages, from the command-line definitions, so that --help and the
//! man pages are never kept twice: `cargo xtask man OUTDIR` writes
//! nydus-overlayfs.8, its alias mount.fuse.nydus-overlayfs.8, and
//! nydus-overlayfs-setup.8.

use std::io::Write;
use std::path::Path;

use nydus_overlayfs::cli;
use nydus_overlayfs::setup::cli as setup_cli;
use nydus_overlayfs::setup::error as setup_error;
use roff::{Roff, bold, roman};

/// Extra sections after OPTIONS: (title, preformatted text).
type Sections<'a> = &'a [(&'a str, &'a str)];

pub fn write(out_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    write_page(
        out_dir,
        cli::command(),
        Some(cli::SYNOPSIS),
        &[
            ("EXIT STATUS", cli::EXIT_STATUS),
            ("EXAMPLES", cli::EXAMPLES),
        ],
        "mount(8), mount.fuse(8), nydus-overlayfs-setup(8), containerd(8)",
    )?;
    write_page(
        out_dir,
        setup_cli::command(),
        None,
        &[
            ("EXIT STATUS", &setup_error::exit_status_text()),
            ("FILES", setup_cli::FILES),
        ],
        "nydus-overlayfs(8), containerd(8), systemctl(1)",
    )?;
    std::fs::write(
        out_dir.join("mount.fuse.nydus-overlayfs.8"),
        ".so man8/nydus-overlayfs.8\n",
    )
}

/// COMMANDS: each visible subcommand with its flags and what it does, on
/// this page (clap_mangen would point at one page per subcommand).
fn commands_section(roff: &mut Roff, command: &clap::Command) {
    let visible: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect();
    if visible.is_empty() {
        return;
    }
    roff.control("SH", ["COMMANDS"]);
    for sub in visible {
        let flags: Vec<String> = sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && a.get_long().is_some_and(|l| l != "help"))
            .map(|a| format!("[--{}]", a.get_long().unwrap_or_default()))
            .collect();
        roff.control("TP", []).text([bold(
            format!("{} {}", sub.get_name(), flags.join(" "))
                .trim_end()
                .to_string(),
        )]);
        roff.text([roman(
            sub.get_about().map(|a| a.to_string()).unwrap_or_default(),
        )]);
        for arg in sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && a.get_long().is_some_and(|l| l != "help"))
        {
            roff.control("br", []).text([roman(format!(
                "--{}: {}",
                arg.get_long().unwrap_or_default(),
                arg.get_help().map(|h| h.to_string()).unwrap_or_default()
            ))]);
        }
    }
}

fn write_page(
    out_dir: &Path,
    command: clap::Command,
    synopsis: Option<&[&str]>,
    sections: Sections,
    see_also: &str,
) -> std::io::Result<()> {
    let name = command.get_name().to_string();
    let man_command = &command.clone();
    let man = clap_mangen::Man::new(command).section("8");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    match synopsis {
        Some(lines) => {
            let mut roff = Roff::new();
            roff.control("SH", ["SYNOPSIS"]);
            for line in lines {
                roff.control("P", []).text([bold(*line)]);
            }
            roff.to_writer(&mut page)?;
        }
        None => man.render_synopsis_section(&mut page)?,
    }
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let mut rest = Roff::new();
    commands_section(&mut rest, man_command);
    for (title, text) in sections {
        rest.control("SH", [*title]).control("nf", []);
        for line in text.lines() {
            rest.text([roman(line.trim_start())]).control("br", []);
        }
        rest.control("fi", []);
    }
    rest.control("SH", ["SEE ALSO"]).text([roman(see_also)]);
    rest.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    std::fs::File::create(out_dir.join(format!("{name}.8")))?.write_all(&page)
}
