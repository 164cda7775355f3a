/* The floor of "a process that mounts overlay": one mount(2), nothing else.
 * usage: floor-mount2 TARGET DATA */
#include <stdio.h>
#include <sys/mount.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 1;
	if (mount("overlay", argv[1], "overlay", 0, argv[2]) != 0) {
		perror("mount");
		return 32;
	}
	return 0;
}
