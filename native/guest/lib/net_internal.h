/* Between the netif glue (net.c) and the socket layer (net_socket.c). Not installed. */
#ifndef SF_NET_INTERNAL_H
#define SF_NET_INTERNAL_H

#include <stdint.h>

/* 1 once sf_net_init brought the NIC up (the stack may still wait for DHCP). */
int sf_net_ready(void);
/* lwIP's index of the virtio netif: every socket's pcb is bound to it. */
uint8_t sf_net_netif_index(void);
/* Notifies the NIC of frames lwIP queued (no clock read, no receive: one exit, or none if nothing is new). */
void sf_net_flush(void);
/* The monotonic clock in ms as of the last sf_net_poll (lwIP's sys_now and every timeout use it). */
uint64_t sf_net_clock_ms(void);

#ifdef SF_HOST_TEST
/* The host tests' fake device moves frames here, at the top of every sf_net_poll (never inside lwIP). */
void sf_host_net_tick(void);
#endif

#endif /* SF_NET_INTERNAL_H */
