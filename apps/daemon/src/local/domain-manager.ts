// The VMs of this host: boots domains sfmd placed here (native VirtualMachine), keeps each one's
// console replay, routes its guest API calls to sfmd as that domain, and reports its state changes.
import { stat } from 'node:fs/promises';
import { finalVmStates, VirtualMachine, type VmStateEvent } from '@snowflock/native';
import type { ConsoleChunk, DomainAddress, DomainBootSpec, DomainStateReport } from '../common/events.ts';
import { SfError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { SfmdClient } from '../common/sfmd-client.ts';
import { ConsoleRing } from './console-ring.ts';
import { answerGuestCall } from './guest-calls.ts';

export interface DomainManagerHooks {
  /** A tRPC client that acts for `domain` with this host's credentials. */
  clientFor(domain: DomainAddress): { client: SfmdClient; url: string };
  reportState(report: DomainStateReport): void;
  console(chunk: ConsoleChunk): void;
}

interface Domain { vm: VirtualMachine; ring: ConsoleRing }

const key = (a: DomainAddress) => `${a.clusterid}:${a.vmid}`;

function reportedState(state: VmStateEvent['state']): DomainStateReport['state'] {
  return state === 'destroyed' ? 'stopped' : state === 'created' ? 'running' : state;
}

/** Ended domains whose console replay is kept (oldest forgotten first). */
const KEEP_ENDED = 64;

export class DomainManager {
  readonly #domains = new Map<string, Domain>();
  readonly #ended = new Map<string, ConsoleRing>();

  constructor(private readonly log: Logger, private readonly hooks: DomainManagerHooks) {}

  get running(): number {
    return this.#domains.size;
  }

  /** The domains whose VMs run here now. */
  addresses(): DomainAddress[] {
    return [...this.#domains.keys()].map((id) => {
      const [clusterid, vmid] = id.split(':').map(Number);
      return { clusterid: clusterid!, vmid: vmid! };
    });
  }

  async boot(spec: DomainBootSpec): Promise<{ state: string }> {
    const id = key(spec);
    if (this.#domains.has(id)) throw new SfError('BAD_INPUT', `domain ${id} already runs on this host`);
    const image = await stat(spec.image).catch(() => null);
    if (!image?.isFile()) {
      throw new SfError('BAD_CONFIG', `guest image ${spec.image} is not a file on this host: build the guests (npm run build) or fix kernel in the seed config`);
    }
    let vm: VirtualMachine;
    try {
      vm = await VirtualMachine.create({
        vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, image: spec.image, cmdline: spec.args,
        clusterid: spec.clusterid, vmid: spec.vmid,
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new SfError(code === 'KVM_UNAVAILABLE' ? 'KVM_UNAVAILABLE' : code === 'BAD_INPUT' || code === 'BAD_IMAGE' ? 'BAD_CONFIG' : 'INTERNAL',
        `cannot create VM ${id}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const domain: Domain = { vm, ring: new ConsoleRing() };
    this.#domains.set(id, domain);
    const address = { clusterid: spec.clusterid, vmid: spec.vmid };
    vm.on('console', (data) => {
      domain.ring.write(data);
      this.hooks.console({ ...address, data });
    });
    let ended = false;
    vm.on('state', (event) => {
      // Only the first final state counts: the destroy that follows an exit is housekeeping.
      if (ended) return;
      ended = (finalVmStates as readonly string[]).includes(event.state);
      this.hooks.reportState({ ...address, state: reportedState(event.state), exitCode: event.state === 'exited' ? event.exitCode : null, reason: event.reason || null });
    });
    vm.on('exit', (event) => {
      this.log.info({ domain: id, state: event.state, exitCode: event.exitCode, reason: event.reason }, 'VM ended');
      // A finished VM's memory goes back at once; its console replay is kept a while longer.
      if (this.#domains.get(id) === domain) this.#retire(id, domain);
      if (event.state !== 'destroyed') void vm.destroy();
    });
    vm.onGuestCall = (call) => {
      const { client, url } = this.hooks.clientFor(address);
      return answerGuestCall(client, url, call);
    };
    try {
      await vm.boot();
    } catch (err) {
      this.#domains.delete(id);
      await vm.destroy();
      throw new SfError('INTERNAL', `VM ${id} did not boot: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.log.info({ domain: id, vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, image: spec.image }, 'VM booted');
    return { state: vm.state };
  }

  #retire(id: string, domain: Domain): void {
    this.#domains.delete(id);
    this.#ended.set(id, domain.ring);
    while (this.#ended.size > KEEP_ENDED) this.#ended.delete(this.#ended.keys().next().value!);
  }

  #get(address: DomainAddress): Domain {
    const domain = this.#domains.get(key(address));
    if (!domain) throw new SfError('DOMAIN_UNKNOWN', `domain ${key(address)} does not run on this host`);
    return domain;
  }

  async destroy(address: DomainAddress): Promise<{ state: string }> {
    const domain = this.#domains.get(key(address));
    if (!domain) return { state: 'stopped' }; // already gone: destroying is idempotent
    this.#retire(key(address), domain);
    await domain.vm.destroy();
    return { state: 'stopped' };
  }

  input(address: DomainAddress, data: Buffer): { accepted: number } {
    this.#get(address).vm.consoleInput(data);
    return { accepted: data.length };
  }

  replay(address: DomainAddress): { data: Buffer } {
    const ring = this.#domains.get(key(address))?.ring ?? this.#ended.get(key(address));
    if (!ring) throw new SfError('DOMAIN_UNKNOWN', `domain ${key(address)} has no console on this host`);
    return { data: ring.contents() };
  }

  async destroyAll(): Promise<void> {
    const all = [...this.#domains.values()];
    this.#domains.clear();
    await Promise.all(all.map((d) => d.vm.destroy()));
  }
}
