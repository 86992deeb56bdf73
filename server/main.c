/*
 * main: subcommands of mta-sts-host. Placeholder until the command layer
 * lands.
 */
#include <stdio.h>

int main(void)
{
    puts("mta-sts-host " MTA_STS_HOST_VERSION);
    return 0;
}
