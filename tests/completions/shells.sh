#!/usr/bin/env bash
# nydus-overlayfs-setup's shell completions, as both packages ship them
# (the staged trees make package packed), loaded by the real shells: bash
# and fish are asked to complete, zsh to load the function.
# Run by `make test` after `make package`; needs bash, zsh and fish
# (make deps-completions).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"
DEB_ROOT=$REPO/target/pkgroot/deb
RPM_ROOT=$REPO/target/pkgroot/rpm
SUBCOMMANDS="enable disable status"

# bash_completes FILE WORDS...: what the function FILE registers with
# `complete -F` answers for the last word of the command line WORDS.
bash_completes() {
    local file=$1
    shift
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        function=$(complete -p nydus-overlayfs-setup | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
        "$function" nydus-overlayfs-setup "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' bash "$file" "$@"
}
# has_all "WORDS" OUTPUT: every word is a line of OUTPUT.
has_all() {
    local word
    for word in $1; do grep -qx -- "$word" <<<"$2" || { echo "missing: $word in: $(echo $2)"; return 1; }; done
}

for layout in "deb $DEB_ROOT /usr/share/zsh/vendor-completions" "rpm $RPM_ROOT /usr/share/zsh/site-functions"; do
    read -r format root zsh_dir <<<"$layout"
    step "The .$format's completions"
    bash_file=$root/usr/share/bash-completion/completions/nydus-overlayfs-setup
    fish_file=$root/usr/share/fish/vendor_completions.d/nydus-overlayfs-setup.fish
    zsh_file=$root$zsh_dir/_nydus-overlayfs-setup
    check "bash: 'nydus-overlayfs-setup <TAB>' offers $SUBCOMMANDS" \
        has_all "$SUBCOMMANDS" "$(bash_completes "$bash_file" nydus-overlayfs-setup '')"
    check "bash: 'nydus-overlayfs-setup enable --<TAB>' offers --restart" \
        has_all "--restart" "$(bash_completes "$bash_file" nydus-overlayfs-setup enable --)"
    check "fish: 'nydus-overlayfs-setup <TAB>' offers $SUBCOMMANDS" \
        has_all "$SUBCOMMANDS" "$(fish --no-config -c "source '$fish_file'; complete -C 'nydus-overlayfs-setup '" | cut -f1)"
    check "zsh: the file defines the completion function _nydus-overlayfs-setup" \
        zsh -f -c "autoload -Uz compinit && compinit -u -D; source '$zsh_file' 2>/dev/null; (( \$+functions[_nydus-overlayfs-setup] ))"
done
finish
