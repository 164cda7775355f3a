# $1: 0 on erase, 1 on upgrade. Only an erase switches the node back, the
# same call as the .deb's prerm.
if [ "$1" -eq 0 ]; then
    nydus-overlayfs-setup package-remove
fi
