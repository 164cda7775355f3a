# $1: 0 on erase, 1 on upgrade. Only an erase switches the node back, the
# same call as the .deb's prerm; its failure (a restart that would take
# running containers' filesystems down) fails the erase, nothing changed.
if [ "$1" -eq 0 ]; then
    nydus-overlayfs-setup package-remove
fi
