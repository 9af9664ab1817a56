/* netecho — the cluster network, end to end. The master takes its address (DHCP), listens on TCP, and forks
 * `clones` clones; every clone asks DHCP for its own address, connects to the master (host number 1 of its
 * subnet), streams `mib` MiB of a vmid pattern and checks the echo, then exits with 0 (verified) or 1.
 * The master echoes every connection at once, joins, and prints one line:
 *     netecho: N clones echoed N MiB, all verified
 * or "netecho: ... FAILED (...)" with exit code 1. Args: clones=2 mib=1 port=7007 timeout=120 (seconds).
 * Needs a VM with a NIC (the `net` option). */
#include <sf.h>
#include <sfguest/args.h>
#include <sfguest/bootinfo.h>
#include <sfguest/net.h>
#include <sfguest/stdio.h>
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
  printf("netecho vmid=%u (%s): %u bytes to %s, %s\n", vmid, sf_ip_format(sf_ip(), ip), bytes, sf_ip_format(to, master),
         bad == 0  ? "echo verified"
         : bad > 0 ? "echo WRONG"
                   : sf_net_strerror((int)bad));
  return bad == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  unsigned long long clones, mib, port, timeout;
  if (sf_arg_u64(argc, argv, "clones", 2, &clones) || sf_arg_u64(argc, argv, "mib", 1, &mib) ||
      sf_arg_u64(argc, argv, "port", NETECHO_PORT, &port) || sf_arg_u64(argc, argv, "timeout", 120, &timeout))
    return 64;
  if (clones < 1 || clones > 16 || mib < 1 || mib > 1024 || port < 1 || port > 65535) {
    printf("netecho: need 1 <= clones <= 16, 1 <= mib <= 1024, a TCP port\n");
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

  char ticket[SF_TICKET_SIZE + 1];
  int n = sf_request_ticket((int)clones, ticket);
  if (n < 0) {
    printf("netecho: no clone ticket: %s\n", sf_errmsg());
    return 1;
  }
  int vmid = sf_clone(ticket);
  if (vmid < 0) {
    printf("netecho: clone failed: %s\n", sf_errmsg());
    return 1;
  }
  if (vmid > 0) {
    sf_close(l); /* the parent's listener is of no use here */
    sf_exit_status(clone_main((unsigned)vmid, bytes, (uint16_t)port));
    return 1; /* not reached: sf_exit_status ends the clone */
  }

  static uint32_t per[16];
  long long echoed = netecho_serve(l, (unsigned)n, (unsigned)(timeout * 1000), per);
  static struct sf_hc_exit exits[16];
  int joined = sf_join_results(ticket, exits, 16);
  int ok = echoed == (long long)n * bytes && joined == n;
  for (int i = 0; ok && i < n; i++) ok = exits[i].how == SF_CLONE_EXITED && exits[i].status == 0 && per[i] == bytes;
  if (ok) {
    printf("netecho: %d clones echoed %d MiB, all verified\n", n, (int)(n * mib));
    return 0;
  }
  printf("netecho: %d clones, %lld of %lld bytes echoed (%s), join %d: FAILED\n", n, echoed < 0 ? 0 : echoed,
         (long long)n * bytes, echoed < 0 ? sf_net_strerror((int)echoed) : "ok", joined);
  for (int i = 0; joined > 0 && i < joined && i < 16; i++)
    if (exits[i].how != SF_CLONE_EXITED || exits[i].status != 0)
      printf("netecho: clone %u ended how=%u status=%d\n", exits[i].vmid, exits[i].how, exits[i].status);
  return 1;
}
