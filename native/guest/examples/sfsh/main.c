/* sfsh — a shell on the serial console with the seed's user-domain tools (sfdotix, sfclone, sfmerge,
 * sfshutdown and the rest). With it the SnowFlock Getting Started is typed inside the VM, from the
 * dashboard's console or `sf console`; after a fork every clone comes back to a prompt of its own.
 * Args: none. */
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/stdio.h>
#include "sfsh/commands.h"
#include "sfsh/lineedit.h"

SF_PROGRAM_NAME("sfsh");

static struct lineedit le; /* static: its history is copied into every clone with the rest of memory */

static void echo(const char *s, size_t n) { sf_console_write(s, n); }

static void prompt(void) {
  printf("[vm %u] $ ", sf_vmid());
  sf_flush();
}

static void execute(char *line) {
  char *argv[SFSH_MAX_WORDS];
  int argc = sf_split_args(line, argv, SFSH_MAX_WORDS);
  if (argc == 0) return;
  const struct sfsh_command *c = sfsh_find(sfsh_commands, argv[0]);
  if (!c) {
    printf("sfsh: %s: command not found (help lists the commands)\n", argv[0]);
    return;
  }
  c->run(argc, argv);
}

int main(void) {
  le.write = echo;
  printf("sfsh on cluster %u, vm %u: type help for the commands\n", sf_clusterid(), sf_vmid());
  for (;;) {
    prompt();
    le_start(&le);
    enum le_status st;
    while ((st = le_feed(&le, getchar())) == LE_MORE) {
    }
    if (st != LE_LINE) continue; /* Ctrl-C drops the line; Ctrl-D does not end the VM's only shell */
    le_remember(&le, le.buf);
    execute(le.buf);
  }
}
