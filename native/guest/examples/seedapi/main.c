/* seedapi — a program written only from the SnowFlock 0.2c documentation (the C API of section 6 and
 * the Getting Started walkthrough), with nothing of Snowflock's own: standard headers and "sf.h".
 * Build it as a user would: sf guest build main.c -o seedapi.elf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sf.h"

static void show_tickets(void) {
  struct sf_result *res = LIST_TICKETS();
  int unused = 0, outstanding = 0;
  struct sf_ticket_list *t;
  if (res == NULL) {
    printf("LIST_TICKETS failed\n");
    return;
  }
  for (t = res->unused_tickets; t != NULL; t = t->next) unused++;
  for (t = res->outstanding_tickets; t != NULL; t = t->next) outstanding++;
  printf("Tickets in flight: %d unused, %d outstanding\n", unused, outstanding);
  FREE_SF_RES(res);
}

/* sfdotix N: a ticket for n clones, waiting for them. */
static int get_ticket(int n, char *ticket) {
  struct sf_result *res = REQUEST_VM_TICKET(n);
  if (res == NULL) {
    printf("REQUEST_VM_TICKET(%d) failed\n", n);
    return -1;
  }
  printf("Requested %d clones, %d allocations received.\n", n, res->rc.allowed_clones);
  strcpy(ticket, res->ticket);
  printf("Ticket is %s\n", ticket);
  FREE_SF_RES(res);
  return 0;
}

int main(void) {
  char first[SF_TICKET_SIZE + 1], second[SF_TICKET_SIZE + 1];
  struct sf_result *res;
  struct sf_clone_info *c;

  if (get_ticket(1, first) != 0) return 1;
  res = READ_TICKET_INFO(first);
  if (res == NULL) return 2;
  for (c = res->clone_list; c != NULL; c = c->next)
    printf("Allocation: vmid %d with %d processors\n", c->vmid, c->processors);
  printf("Ticket info is for %s ticket\n", strcmp(res->ticket, first) == 0 ? "the same" : "another");
  FREE_SF_RES(res);
  show_tickets();

  /* sfdoclone: fork semantics, the call returns in the master and in the clone. */
  res = CLONE_MASTER(first);
  if (res == NULL) {
    printf("CLONE_MASTER failed\n");
    return 3;
  }
  if (res->vmid != 0) {
    printf("I am clone %d of %d (ticket %s)\n", res->vmid, res->rc.number_clones, first);
    FREE_SF_RES(res);
    IC_EXIT();
    printf("IC_EXIT returned\n");
    return 4;
  }
  printf("I am the master with %d clones (original VM).\n", res->rc.number_clones);
  FREE_SF_RES(res);
  show_tickets();
  IC_JOIN(first);
  printf("Joined the clones of %s\n", first);
  show_tickets();

  /* The Python example of Getting Started: two clones, then merge them. */
  if (get_ticket(2, second) != 0) return 5;
  res = CLONE_MASTER(second);
  if (res == NULL) return 6;
  if (res->vmid != 0) {
    printf("I am clone %d of %d (ticket %s), waiting to be merged\n", res->vmid, res->rc.number_clones, second);
    for (;;) {
    }
  }
  printf("I am the master with %d clones (original VM).\n", res->rc.number_clones);
  FREE_SF_RES(res);
  printf("Attempting to merge virtual cluster...\n");
  if (MERGE_MASTER(second) == 0) printf("Successful merge for ticket %s\n", second);
  else printf("Merge failed for ticket %s\n", second);
  if (MERGE_MASTER(second) != 0) printf("Merging %s again is refused\n", second);

  /* min 0 without blocking: whatever fits, possibly nothing. Take everything, then ask for one more. */
  res = REQUEST_CLONE_TICKET(16, 0, 0, 0);
  if (res == NULL) return 7;
  strcpy(first, res->ticket);
  printf("Asked for up to 16 clones, %d received\n", res->rc.allowed_clones);
  FREE_SF_RES(res);
  res = REQUEST_CLONE_TICKET(1, 0, 0, 0);
  if (res == NULL) {
    printf("A request with min 0 failed\n");
    return 8;
  }
  printf("With nothing left, min 0 received %d allocations\n", res->rc.allowed_clones);
  FREE_SF_RES(res);
  DISPOSE_TICKET(first);
  show_tickets();

  printf("Shutting down the cluster\n");
  return SHUTDOWN_CLUSTER() == 0 ? 0 : 9;
}
