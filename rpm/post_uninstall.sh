# $1: 0 on erase: drop the journal of a switch that could not be undone.
if [ "$1" -eq 0 ]; then
    rm -rf /var/lib/nydus-overlayfs
fi
