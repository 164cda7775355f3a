//! The shell completions of nydus-overlayfs-setup, from its clap
//! definition, so that they never drift from the command line:
//! `cargo xtask completions OUTDIR` writes
//! `nydus-overlayfs-setup` (bash), `_nydus-overlayfs-setup` (zsh) and
//! `nydus-overlayfs-setup.fish`, named as each shell looks them up in its
//! package-owned directory (`make install` puts them there).

use std::path::Path;

use clap_complete::{Shell, generate_to};
use nydus_overlayfs::setup::cli as setup_cli;

pub fn write(out_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    let mut command = setup_cli::command();
    let name = command.get_name().to_string();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let written = generate_to(shell, &mut command, &name, out_dir)?;
        // clap_complete names the bash file NAME.bash; bash-completion loads
        // completions/NAME on first use of NAME.
        if shell == Shell::Bash {
            let script = std::fs::read_to_string(&written)?;
            std::fs::write(out_dir.join(&name), bash_hyphen_fix(&script, &name))?;
            std::fs::remove_file(&written)?;
        }
    }
    Ok(())
}

/// clap_complete 4.6's bash script spells a hyphenated program's subcommand
/// states two ways (clap-rs/clap#6421): the loop that finds the subcommand
/// escapes `-` in the name as `__` (`nydus__overlayfs__setup__subcmd__enable`),
/// the `case` arms as `__subcmd__` (`nydus__subcmd__overlayfs__subcmd__...`),
/// so no arm matches and no subcommand's options ever complete. The arms are
/// given the loop's spelling (nothing changes once clap_complete agrees with
/// itself); tests/completions/shells.sh completes `enable --` to check.
fn bash_hyphen_fix(script: &str, name: &str) -> String {
    script.replace(&name.replace('-', "__subcmd__"), &name.replace('-', "__"))
}
