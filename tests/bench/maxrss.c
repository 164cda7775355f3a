/* maxrss COMMAND...: runs COMMAND and prints its peak resident set in KiB.
 * A child's ru_maxrss includes the memory of the process it was forked from
 * before exec, so the fork happens here, in a small static program, and not
 * in the (much larger) benchmark driver. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage usage;
	int status;
	pid_t pid;

	if (argc < 2)
		return 1;
	pid = fork();
	if (pid == 0) {
		execv(argv[1], argv + 1);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	printf("%ld\n", usage.ru_maxrss);
	return 0;
}
