/* A fake virtio-net device for the host tests (fake_vnet.c): the registers of slot 0 of abi.h's windows,
 * rings walked in host memory, frames queued both ways. It consumes tx on QueueNotify (as a device
 * thread would) and fills rx buffers only when the test asks (fake_vnet_fill_rx). */
#ifndef TESTS_FAKE_VNET_H
#define TESTS_FAKE_VNET_H

#include <stdint.h>

#define FAKE_FRAME_MAX 1600
#define FAKE_QUEUE 2048

struct fake_frame {
  uint32_t len;
  uint8_t data[FAKE_FRAME_MAX];
};

struct fake_vnet {
  int present;       /* 0: slot 0 reads as empty */
  unsigned ndevices; /* bootinfo.ndevices */
  uint64_t offered;  /* feature bits */
  uint8_t mac[6];
  uint16_t net_status; /* config status field */
  uint32_t generation;
  uint32_t status;
  uint64_t driver_features; /* what the driver accepted */
  int hold_tx;              /* 1: notifies on the tx queue are ignored (a stalled device) */
  int polls_tx;             /* 1: the device says NO_NOTIFY on tx and drains it at every fake_vnet_fill_rx */
  uint32_t notifies[2];
  uint32_t bad_descs; /* descriptors the device refused to read (out of bounds, bad length) */
  /* Frames the guest sent, oldest first (header stripped), and frames waiting for an rx buffer. */
  struct fake_frame from_guest[FAKE_QUEUE];
  unsigned from_head, from_len;
  struct fake_frame to_guest[FAKE_QUEUE];
  unsigned to_head, to_len;
};

extern struct fake_vnet fake;

void fake_vnet_reset(void);
/* Queues a frame for the guest; fake_vnet_fill_rx copies waiting frames into posted rx buffers. */
int fake_vnet_queue_to_guest(const void *frame, unsigned len);
void fake_vnet_fill_rx(void);
/* Returns one used rx buffer with a raw used length (no data written): malformed-frame tests. 0 if none. */
int fake_vnet_inject_used_len(uint32_t used_len);
/* The oldest frame the guest sent, or NULL. */
struct fake_frame *fake_vnet_pop_from_guest(void);
/* Flips the link bit (and/or the MAC) and bumps ConfigGeneration, as a device does on a link change. */
void fake_vnet_set_link(int up, const uint8_t *mac);

#endif /* TESTS_FAKE_VNET_H */
