// The nftables script's guest API rules: the port is reachable on a cluster's gateway only from that cluster's leg.
import assert from 'node:assert/strict';
import test from 'node:test';
import { nftScript, type ClusterRules } from './rules.ts';

const cluster = (clusterid: number, apiPort: number | null): ClusterRules => ({
  clusterid,
  bridge: `sf${clusterid}b`,
  vms: [{ tap: `sf${clusterid}v0`, mac: `02:00:00:00:0${clusterid}:00`, ip: `10.128.${clusterid}.1` }],
  router: {
    leg: `sf${clusterid}g`,
    outside: 'eth0',
    whitelist: [],
    gateway: `10.128.${clusterid}.254`,
    master: `10.128.${clusterid}.1`,
    inboundPorts: [],
    apiPort,
  },
});

test("the guest API port is open on a gateway only from its own cluster's leg, and dropped from anywhere else", () => {
  const input = nftScript([cluster(1, 7007), cluster(2, null)])
    .split('\n')
    .map((l) => l.trim());
  const at = (rule: string) => input.lastIndexOf(rule);
  const accept = at('iifname "sf1g" ip daddr 10.128.1.254 tcp dport 7007 accept');
  const drop = at('ip daddr 10.128.1.254 tcp dport 7007 drop');
  assert.ok(accept > 0 && drop > accept, 'accepted from the leg first, then dropped from anywhere else');
  assert.ok(drop < at('iifname "sf1g" drop'), "before the leg's catch-all in the input chain");
  assert.equal(input.filter((l) => l.includes('dport 7007')).length, 2, 'nothing for the cluster without the guest API');
});
