/* sfsh's command table (commands.c): the seed's user-domain tools, what this VM is, and the workloads. */
#ifndef SFSH_COMMANDS_H
#define SFSH_COMMANDS_H

#include "sfsh/cmdline.h"

extern const struct sfsh_command sfsh_commands[];

/* The built-in workloads of `run` (workloads.c): 0 on success and a verified result. */
int sfsh_run(int argc, char **argv);

#endif /* SFSH_COMMANDS_H */
