/* What the VMM told this guest at boot (struct sf_bootinfo, abi.h), and who this VM is now: in a clone
 * sf_vmid() answers the clone's own vmid, whether the program forked itself or the host forked it. */
#ifndef SFGUEST_BOOTINFO_H
#define SFGUEST_BOOTINFO_H

#include <snowflock/abi.h>

/* The boot info the guest started with (validated: magic and ABI version). */
const struct sf_bootinfo *sf_bootinfo(void);
/* 0 in the master, 1..n in clones: bootinfo->vmid, which the VMM rewrites in each clone at the fork. */
unsigned sf_vmid(void);
unsigned sf_clusterid(void);
unsigned long long sf_ram_bytes(void);

#endif /* SFGUEST_BOOTINFO_H */
