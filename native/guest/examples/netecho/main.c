/* netecho — the cluster network, end to end. The master takes its address (DHCP), listens on TCP, and forks
 * `clones` clones; every clone asks DHCP for its own address, connects to the master (host number 1 of its
 * subnet), streams `mib` MiB of a vmid pattern and checks the echo, prints its address and MAC, then exits
 * with 0 (verified) or 1. The master echoes every connection at once, joins, and does it all again for each
 * of `rounds` (each round forks a master whose network state the rounds before changed). It prints one line:
 *     netecho: N clones echoed N MiB, all verified
 * or "netecho: ... FAILED (...)" with exit code 1. With linger=S it then keeps listening S seconds, closing
 * whatever connects, and says how many did (a cluster's outsiders should not get through).
 * Args: clones=2 mib=1 rounds=1 linger=0 port=7007 timeout=120 (seconds). Needs a VM with a NIC (`net`). */
#include <sf.h>
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
#include <sfguest/time.h>
#include "netecho/echo.h"

SF_PROGRAM_NAME("netecho");

static int clone_main(unsigned vmid, uint32_t bytes, uint16_t port) {
  char ip[16], master[16];
  int r = sf_net_init(30000);
  if (r < 0) {
    printf("netecho vmid=%u: no address: %s\n", vmid, sf_net_strerror(r));
    return 1;
  }
  uint32_t to = netecho_master_ip(sf_ip(), sf_netmask());
  int s = sf_socket(SF_SOCK_STREAM);
  sf_set_timeout(s, 60000);
  r = s < 0 ? s : sf_connect(s, to, port);
  if (r < 0) {
    printf("netecho vmid=%u (%s): connect to %s:%u: %s\n", vmid, sf_ip_format(sf_ip(), ip), sf_ip_format(to, master),
           port, sf_net_strerror(r));
    return 1;
  }
  long bad = netecho_client(s, vmid, bytes);
  sf_close(s);
  uint8_t mac[6];
  sf_mac(mac);
  printf("netecho vmid=%u (%s %02x:%02x:%02x:%02x:%02x:%02x): %u bytes to %s, %s\n", vmid, sf_ip_format(sf_ip(), ip),
         mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], bytes, sf_ip_format(to, master),
         bad == 0  ? "echo verified"
         : bad > 0 ? "echo WRONG"
                   : sf_net_strerror((int)bad));
  return bad == 0 ? 0 : 1;
}

/* One round: a ticket, a fork, every clone's echo served and verified. Returns the clones that took part
 * (all verified), or -1 after printing why not. Clones never return from here. */
static int round_of(int l, unsigned long long clones, uint32_t bytes, uint16_t port, unsigned long long timeout) {
  char ticket[SF_TICKET_SIZE + 1];
  int n = sf_request_ticket((int)clones, ticket);
  if (n < 0) {
    printf("netecho: no clone ticket: %s\n", sf_errmsg());
    return -1;
  }
  int vmid = sf_clone(ticket);
  if (vmid < 0) {
    printf("netecho: clone failed: %s\n", sf_errmsg());
    return -1;
  }
  if (vmid > 0) {
    sf_close(l); /* the parent's listener is of no use here */
    sf_exit_status(clone_main((unsigned)vmid, bytes, port));
    return -1; /* not reached: sf_exit_status ends the clone */
  }

  static uint32_t per[16];
  long long echoed = netecho_serve(l, (unsigned)n, (unsigned)(timeout * 1000), per);
  static struct sf_hc_exit exits[16];
  int joined = sf_join_results(ticket, exits, 16);
  int ok = echoed == (long long)n * bytes && joined == n;
  for (int i = 0; ok && i < n; i++) ok = exits[i].how == SF_CLONE_EXITED && exits[i].status == 0 && per[i] == bytes;
  if (ok) return n;
  printf("netecho: %d clones, %lld of %lld bytes echoed (%s), join %d: FAILED\n", n, echoed < 0 ? 0 : echoed,
         (long long)n * bytes, echoed < 0 ? sf_net_strerror((int)echoed) : "ok", joined);
  for (int i = 0; joined > 0 && i < joined && i < 16; i++)
    if (exits[i].how != SF_CLONE_EXITED || exits[i].status != 0)
      printf("netecho: clone %u ended how=%u status=%d\n", exits[i].vmid, exits[i].how, exits[i].status);
  return -1;
}

/* Keeps the listener open `seconds`, closing every connection at once; returns how many came. */
static unsigned linger(int l, unsigned long long seconds) {
  unsigned came = 0;
  uint64_t end = sf_time_ns() + seconds * 1000000000ull;
  while (sf_time_ns() < end) {
    if (sf_readable(l) > 0) {
      int c = sf_accept(l, 0, 0);
      if (c >= 0) {
        came++;
        sf_close(c);
      }
    }
    sf_net_wait(10);
  }
  return came;
}

int main(int argc, char **argv) {
  unsigned long long clones, mib, port, timeout, rounds, lingering;
  if (sf_arg_u64(argc, argv, "clones", 2, &clones) || sf_arg_u64(argc, argv, "mib", 1, &mib) ||
      sf_arg_u64(argc, argv, "port", NETECHO_PORT, &port) || sf_arg_u64(argc, argv, "timeout", 120, &timeout) ||
      sf_arg_u64(argc, argv, "rounds", 1, &rounds) || sf_arg_u64(argc, argv, "linger", 0, &lingering))
    return 64;
  if (clones < 1 || clones > 16 || mib < 1 || mib > 1024 || port < 1 || port > 65535 || rounds < 1 || rounds > 8 ||
      lingering > 600) {
    printf("netecho: need 1 <= clones <= 16, 1 <= mib <= 1024, a TCP port, 1 <= rounds <= 8, linger <= 600\n");
    return 64;
  }
  uint32_t bytes = (uint32_t)(mib << 20);
  char ip[16];
  int r = sf_net_init(0);
  if (r < 0) {
    printf("netecho: the network did not come up: %s\n", sf_net_strerror(r));
    return 1;
  }
  printf("netecho master: %s, listening on port %llu\n", sf_ip_format(sf_ip(), ip), port);
  int l = sf_socket(SF_SOCK_STREAM);
  r = l < 0 ? l : sf_listen(l, (uint16_t)port);
  if (r < 0) {
    printf("netecho: listen: %s\n", sf_net_strerror(r));
    return 1;
  }

  int total = 0;
  for (unsigned long long k = 0; k < rounds; k++) {
    int n = round_of(l, clones, bytes, (uint16_t)port, timeout);
    if (n < 0) return 1;
    total += n;
  }
  if (rounds > 1)
    printf("netecho: %d clones echoed %d MiB in %llu rounds, all verified\n", total, (int)(total * mib), rounds);
  else printf("netecho: %d clones echoed %d MiB, all verified\n", total, (int)(total * mib));
  if (lingering > 0) {
    printf("netecho master: lingering %llu s on port %llu\n", lingering, port);
    printf("netecho master: %u connections while lingering\n", linger(l, lingering));
  }
  return 0;
}
