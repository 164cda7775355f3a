/* Installed setuid root in the test image: prints the ids it runs with, so
 * the test can see whether the kernel honoured the setuid bit, which it does
 * only on a mount without nosuid. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid());
    return 0;
}
