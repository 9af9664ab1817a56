// sfmd.cfg's allocator choice and batch-scheduler settings: what a site writes to hand placement to Slurm or
// Grid Engine, and the BAD_CONFIG it gets (file, line, key, what to write) for each way of getting it wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SfError } from '../errors.ts';
import { DEFAULT_SCHEDULER_SETTINGS, nodeNameOf, parseSfmdConfig } from './index.ts';

const HOSTS = "cluster_hosts = [{'host': 'node1.site', 'cpus': 2, 'RAM': 1 << 30}, {'host': 'node2', 'cpus': 2, 'RAM': 1 << 30}]\n";

function badConfig(text: string, ...fragments: string[]): void {
  assert.throws(
    () => parseSfmdConfig(text),
    (err: unknown) => {
      assert.ok(err instanceof SfError && err.code === 'BAD_CONFIG', String(err));
      for (const f of fragments) assert.ok(err.message.includes(f), `'${f}' in: ${err.message}`);
      return true;
    },
  );
}

test('without an allocator line Snowflock places clones itself, with no scheduler settings in play', () => {
  const c = parseSfmdConfig(HOSTS);
  assert.equal(c.allocator, 'default');
  assert.deepEqual(c.scheduler, DEFAULT_SCHEDULER_SETTINGS);
});

test("allocator = 'slurm' with its partition, account, node names and environment", () => {
  const c = parseSfmdConfig(
    `${HOSTS}allocator = 'slurm'\nscheduler_queue = 'batch'\nscheduler_account = 'physics'\n` +
      "scheduler_node_names = {'node1.site': 'node1'}\nscheduler_env = {'SLURM_CONF': '/etc/slurm/site.conf'}\n",
  );
  assert.equal(c.allocator, 'slurm');
  assert.deepEqual(c.scheduler, {
    queue: 'batch',
    account: 'physics',
    parallelEnv: 'smp',
    nodeNames: { 'node1.site': 'node1' },
    env: { SLURM_CONF: '/etc/slurm/site.conf' },
  });
  // Hosts without an entry keep their own name; host names match whatever their case.
  assert.equal(nodeNameOf(c.scheduler!, 'NODE1.site'), 'node1');
  assert.equal(nodeNameOf(c.scheduler!, 'node2'), 'node2');
});

test("allocator = 'sge' with a queue and parallel environment", () => {
  const c = parseSfmdConfig(`${HOSTS}allocator = 'sge'\nscheduler_queue = 'snowflock.q'\nscheduler_parallel_env = 'mpi'\n`);
  assert.equal(c.allocator, 'sge');
  assert.equal(c.scheduler?.queue, 'snowflock.q');
  assert.equal(c.scheduler?.parallelEnv, 'mpi');
});

test('an unknown allocator is a config error naming the choices', () => {
  badConfig(`${HOSTS}allocator = 'ego'\n`, 'sfmd.cfg:2:', 'allocator', "'default' or 'slurm' or 'sge'", "got 'ego'");
  badConfig(`${HOSTS}allocator = None\n`, 'allocator', "'default' or 'slurm' or 'sge'");
});

test('node names for hosts not in cluster_hosts, and names no scheduler takes, are refused', () => {
  badConfig(`${HOSTS}scheduler_node_names = {'node3': 'n3'}\n`, 'sfmd.cfg:2:', 'scheduler_node_names', "'node3' is not in cluster_hosts");
  badConfig(`${HOSTS}scheduler_node_names = {'node2': 'n 2'}\n`, 'scheduler_node_names.node2', 'a node name');
  badConfig(`${HOSTS}scheduler_node_names = ['node2']\n`, 'scheduler_node_names', 'expected a dict');
  badConfig(`${HOSTS}scheduler_queue = 'a;b'\n`, 'scheduler_queue', 'a partition or queue name');
  badConfig(`${HOSTS}scheduler_env = {'1X': 'y'}\n`, 'scheduler_env', 'an environment variable name');
  badConfig(`${HOSTS}scheduler_partition = 'x'\n`, "unknown key 'scheduler_partition'");
});
