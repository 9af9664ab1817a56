/* What the VMM told this guest at boot (struct sf_bootinfo, abi.h), and who this VM is now:
 * after sf_clone()/CLONE_MASTER returns in a clone, sf_vmid() answers the clone's own vmid. */
#ifndef SFGUEST_BOOTINFO_H
#define SFGUEST_BOOTINFO_H

#include <snowflock/abi.h>

/* The boot info the guest started with (validated: magic and ABI version). */
const struct sf_bootinfo *sf_bootinfo(void);
/* 0 in the master, 1..n in clones; starts as bootinfo->vmid and follows CLONE_MASTER's answer. */
unsigned sf_vmid(void);
unsigned sf_clusterid(void);
unsigned long long sf_ram_bytes(void);

/* Internal: libsf records the vmid a CLONE_MASTER answer gave this VM. */
void sf_set_vmid(unsigned vmid);

#endif /* SFGUEST_BOOTINFO_H */
