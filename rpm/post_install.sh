# $1: 1 on install, 2 on upgrade. The same call as the .deb's postinst.
nydus-overlayfs-setup package-configure
