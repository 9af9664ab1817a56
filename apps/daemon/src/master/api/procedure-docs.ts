// One sentence per procedure for sfmd's OpenAPI document: what it does, in the seed API's words where it is
// one of its calls. Keyed like outputs.ts, so tsc asks for a sentence whenever a procedure gets an output schema.
import type { ProcedurePath } from './outputs.ts';

export const PROCEDURE_DOCS: Record<ProcedurePath, string> = {
  health: 'Whether sfmd answers, its version and how many hosts are online.',
  whoami: 'Who sfmd takes the caller for: a token (its name and role), a host (an sfld) or anonymous.',
  'ticket.request':
    'REQUEST_CLONE_TICKET: reserves resources for up to nclones clones of the master (procs: nclones counts processors); ' +
    'at least min (0 = 1); block waits for them (up to timeoutMs). The ticket and its allocation map.',
  'ticket.list': "LIST_TICKETS: the cluster's tickets not yet cloned (unused) and cloned but not merged (outstanding).",
  'ticket.info': "READ_TICKET_INFO: a ticket of the caller's cluster, with its allocation map (vmid → processors).",
  'ticket.dispose': "DISPOSE_TICKET: gives an unused ticket's resources back; the ticket cannot be used afterwards.",
  'clone.master':
    "CLONE_MASTER: forks the master into the ticket's clones (VM fork). The master's answer is vmid 0; each clone's " +
    'own call returns its vmid through its sfld.',
  'clone.merge': "MERGE_MASTER / IC_KILL: destroys the ticket's clones now (ticket null: those of every outstanding ticket).",
  'clone.join': 'IC_JOIN: waits until every clone of the ticket has exited or died (up to timeoutMs), then merges the ticket.',
  'clone.exit': "IC_EXIT: ends the calling clone with a status its master's join reports (from outside, its VM is destroyed).",
  'cluster.seed': 'sfseed: starts a new cluster, booting its master VM (CLUSTER:0) as the seed config describes.',
  'cluster.shutdown': "SHUTDOWN_CLUSTER: shuts the master down and ends the cluster's VMs.",
  'cluster.list': 'Every cluster, with its state and live domains.',
  'cluster.get': 'One cluster: its seed config, domains and tickets.',
  'state.hosts': 'sfstate: the hosts of sfmd.cfg with their capacity, what is used of it, KVM and last metrics.',
  'state.domains': 'sfstate: the live domains (all: ended ones too, the newest 1000 unless limit says), optionally of one cluster.',
  'host.get': 'One host, as state.hosts shows it.',
  'domain.console': 'What a domain printed on its console (the last 64 KiB its host keeps), as text.',
  'operations.list': 'The latest operations (seed, ticket, clone, merge, join, exit, shutdown ...), newest first.',
  'operations.page':
    'The operations a page at a time, newest first: of one cluster or all, of one kind or outcome; nextCursor fetches the older ones.',
  'operations.get': 'One operation, with its progress and outcome.',
  'operations.stats': 'Guest calls refused, by code, and the operation rows kept.',
  'doctor.check': 'sf doctor: compares the record with what the sflds run and lists every difference.',
  'doctor.repair': 'sf doctor --repair: mends the differences doctor.check finds.',
  'dashboard.overview': "The dashboard's first page: hosts, live domains and each host's recent metrics.",
  'dashboard.hostMetrics': "A host's recent metrics (one sample a second).",
  'dashboard.cluster': "The dashboard's cluster page: domains, tickets, operations and the clones' data-plane figures.",
  'dashboard.guests': 'The example guests this machine has built, with the seed configs to start them.',
  'dashboard.checkSeed': "Checks a seed config against cluster.seed's schema and answers each issue with its field.",
  'dashboard.merge': "An operator merges a cluster's clones (of one ticket, or all), with the result for each domain.",
  'dashboard.kill': 'An operator kills one domain of a cluster.',
  'dashboard.shutdown': 'An operator shuts a whole cluster down, with the result for each domain.',
  'dashboard.consoleInput': "Types text into a running domain's console.",
  'token.create':
    'sf token create: makes an API token with a role (read, operate or admin) and an optional lifetime; its secret is answered once.',
  'token.list': 'sf token list: every token with its role and state (active, revoked, expired); never a secret.',
  'token.revoke': 'sf token revoke: the token opens nothing from this answer on, open dashboard feeds included; it stays listed.',
};
