/* as-user UID PROGRAM ARGS...: runs PROGRAM as UID (group UID, no
 * supplementary groups). The test image has no setpriv(1) that can, and
 * containerd 1.6's ctr has no --user. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: as-user UID PROGRAM ARGS...\n");
        return 2;
    }
    uid_t id = (uid_t)strtoul(argv[1], NULL, 10);
    if (setgroups(0, NULL) != 0 || setgid(id) != 0 || setuid(id) != 0) {
        perror("as-user");
        return 1;
    }
    execv(argv[2], argv + 2);
    perror("as-user: exec");
    return 127;
}
