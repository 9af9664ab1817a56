/* The C half of program start, already in ring 3 (crt0 + cpu.c did the CPL0 part): validate the
 * boot info, set up the heap and argv from the boot arguments, run main, exit with its result.
 * Also answers who this VM is (sfguest/bootinfo.h). */
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/malloc.h>
#include <sfguest/stdio.h>
#include <sfguest/stdlib.h>
#include <sfguest/string.h>
#include <stdint.h>

/* Room kept free below the top of (low) RAM: nothing of ours lives there (the stacks are in
 * .bss), and a little slack is cheap. */
#define SF_HEAP_TOP_RESERVE (64u * 1024u)
#define SF_STACK_CANARY 0x5354414b43414e59ull /* "STAKCANY" */

extern char _end[];
extern char sf_stack_bottom[];
extern const char sf_program_name[] __attribute__((weak));
int main(int argc, char **argv);

static const struct sf_bootinfo *boot;
static char cmdline[SF_CMDLINE_MAX + 1];
static char *argv_store[SF_MAX_ARGS + 1];

const struct sf_bootinfo *sf_bootinfo(void) { return boot; }
/* Read fresh from the boot info each time: a fork (asked for by this program or by the host, at any
 * moment) resumes each clone with the VMM having written the clone's own vmid there. */
unsigned sf_vmid(void) { return ((const volatile struct sf_bootinfo *)boot)->vmid; }
unsigned sf_clusterid(void) { return boot->clusterid; }
unsigned long long sf_ram_bytes(void) { return boot->ram_bytes; }

int sf_stack_intact(void) { return *(volatile uint64_t *)sf_stack_bottom == SF_STACK_CANARY; }

static void bad_boot(const char *why) {
  char msg[128];
  int n = snprintf(msg, sizeof msg, "snowflock guest: %s\n", why);
  sf_console_write(msg, (size_t)n);
  sf_terminate(127);
}

static void load_cmdline(void) {
  uint64_t gpa = boot->cmdline_gpa ? boot->cmdline_gpa : SF_CMDLINE_GPA;
  uint64_t len = boot->cmdline_len;
  if (len > SF_CMDLINE_MAX) len = SF_CMDLINE_MAX;
  if (gpa >= boot->ram_bytes || len > boot->ram_bytes - gpa) len = 0; /* nonsense: no args */
  const char *src = (const char *)(uintptr_t)gpa;
  size_t i = 0;
  while (i < len && src[i]) {
    cmdline[i] = src[i];
    i++;
  }
  cmdline[i] = 0;
}

__attribute__((noreturn)) void sf_libc_start(const struct sf_bootinfo *bi) {
  *(volatile uint64_t *)sf_stack_bottom = SF_STACK_CANARY;

  if (!bi || bi->magic != SF_BOOTINFO_MAGIC) bi = (const struct sf_bootinfo *)SF_BOOTINFO_GPA;
  if (bi->magic != SF_BOOTINFO_MAGIC) bad_boot("no boot info (bad magic in rdi and at 0x600)");
  if (bi->abi_version != SF_ABI_VERSION) bad_boot("boot info has another ABI version");
  boot = bi;

  /* The heap is one contiguous range: it stops at the MMIO hole below 4 GiB (RAM beyond
   * SF_RAM_LOW_MAX continues at SF_RAM_HIGH_GPA and is left to the program). */
  uint64_t low_ram = bi->ram_bytes < SF_RAM_LOW_MAX ? bi->ram_bytes : SF_RAM_LOW_MAX;
  uintptr_t heap_start = (uintptr_t)_end;
  uintptr_t heap_limit = low_ram > SF_HEAP_TOP_RESERVE ? (uintptr_t)(low_ram - SF_HEAP_TOP_RESERVE) : 0;
  if (heap_limit < heap_start) heap_limit = heap_start; /* no heap: malloc returns NULL */
  sf_heap_init((void *)heap_start, (void *)heap_limit);

  load_cmdline();
  argv_store[0] = (char *)(&sf_program_name ? sf_program_name : "guest");
  int argc = 1 + sf_split_args(cmdline, argv_store + 1, SF_MAX_ARGS - 1);
  argv_store[argc] = 0;

  exit(main(argc, argv_store));
}
