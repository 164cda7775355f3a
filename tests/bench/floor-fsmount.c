/* The floor on the new mount API, for any number of layers: fsopen, one
 * fsconfig(lowerdir+) per layer by name, upper and work, create, fsmount,
 * move_mount. usage: floor-fsmount TARGET UPPER WORK LOWER... */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fs, mnt, i;

	if (argc < 5)
		return 1;
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
		goto fail;
	for (i = 4; i < argc; i++)
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", argv[i], 0) < 0)
			goto fail;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", argv[2], 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", argv[3], 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0 || move_mount(mnt, "", AT_FDCWD, argv[1], MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto fail;
	return 0;
fail:
	perror("mount");
	return 32;
}
