# $1: 0 on erase: systemd forgets the package's containerd drop-in, gone now
# (as the .deb's postrm; %systemd_postun does the same for units), and the
# journal of a switch that could not be undone is dropped.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null 2>&1 || :
    fi
    rm -rf /var/lib/nydus-overlayfs
fi
