// What VirtualMachine's create and clone calls accept, checked before any native code runs and turned into what
// the binding takes. Boundary: the VM's option types and checks; generic value checks are argument-checks.ts's.
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

import type { NativeCloneOptions, NativeCloneShape, NativeRemoteCloneOptions, NativeVmConfig } from './addon.ts';
import {
  badInput,
  checkEndpoint,
  checkInterfaceAddress,
  checkTestFraction,
  describe,
  intInRange,
  isMulticastAddress,
} from './argument-checks.ts';
import { checkLiveSnapshot, inspectDescriptor, type VmSnapshot } from './fork.ts';
import { SfAbi } from './guest-abi.ts';
import { normalizeGuestReply, type GuestReply, type NormalizedGuestReply } from './guest-call.ts';
import { messageOf } from './message.ts';
import { checkCloneDiskOptions, checkDiskOptions, type CloneDiskOptions, type DiskOptions } from './disk-options.ts';
import { checkNetOptions, type NetOptions } from './net-options.ts';

export interface VirtualMachineOptions {
  /** 1..SfAbi.MAX_VCPUS (32, the ABI's limit); default 1. */
  vcpus?: number;
  /** Guest RAM in MiB, 16..65536 (64 GiB). */
  memoryMiB: number;
  /** Path of the guest ELF. */
  image: string;
  /** Boot arguments, at most 4095 UTF-8 bytes (SF_CMDLINE_MAX with its NUL), no NUL inside; default ''. */
  cmdline?: string;
  /** uint32; default 0. */
  clusterid?: number;
  /** uint32 (0 = master); default 0. */
  vmid?: number;
  /**
   * CPU privilege at entry. 'user' (default): ring 3 under the VMM's small supervisor — native speed
   * and SSE on software-virtualised KVM (kvm_pvm), where ring-0 code is emulated (~1 µs/instruction).
   * 'kernel': ring 0, for guests that set up their own descriptor tables.
   */
  privilege?: 'user' | 'kernel';
  /**
   * One virtio-net NIC in device slot 0 on an existing tap (sfld makes it), answering the guest's DHCP with this
   * identity; absent or null: no NIC. Such a VM cannot be forked yet.
   */
  net?: NetOptions | null;
  /**
   * One virtio-blk disk in the next free device slot (slot 1 after a NIC): `image` read-only under an overlay of
   * this VM's own in `overlayDir`. At a fork the disk is frozen with the memory; clones need their own overlayDir.
   */
  disk?: DiskOptions | null;
}

/** VirtualMachine.createClone()'s and becomeClone()'s options. */
export interface CloneOptions {
  vmid: number;
  lazy?: boolean;
  /**
   * How many of the master's vCPUs the clone runs (its processors, e.g. from a processor ticket): vCPUs 0 .. vcpus-1,
   * each as the master left it; the guest's boot info says so. Absent: all of them; more than the master has: refused.
   */
  vcpus?: number;
  cloneReply?: GuestReply;
  /** The clone's own NIC (tap, MAC, IP): required when the master has one; its guest sees a link change. */
  net?: NetOptions | null;
  /** The clone's own overlay over the fork's disk: required when the master has a disk. */
  disk?: CloneDiskOptions | null;
}

/** VirtualMachine.createRemoteClone()'s options (see there). */
export interface RemoteCloneOptions {
  vmid: number;
  server: string;
  /** How many of the master's vCPUs the clone runs, as for createClone. */
  vcpus?: number;
  bind?: string;
  cloneReply?: GuestReply;
  /** The clone's own NIC, as for createClone. */
  net?: NetOptions | null;
  /**
   * The clone's own overlay over the fork's disk, as for createClone: required when the master has a disk, whose
   * blocks this clone then reads lazily through the memserver (its writes stay in its overlay).
   */
  disk?: CloneDiskOptions | null;
  group?: string | null;
  interface?: string;
  /**
   * How long the memserver may stay silent (nothing received from it) before a page the clone waits for is given up
   * and the clone crashes, in ms (100 to 3 600 000; default 10 000). Waits are retried with back-off meanwhile, so a
   * server that pauses for less than this costs only time. Per host and fork: the first remote clone's value holds.
   */
  pageLivenessMs?: number;
  /** Test only: this fraction (0 to 0.5) of received page datagrams is discarded unread. */
  dropForTest?: number;
}

/** VirtualMachine.prepareClone()'s shape: the master's. */
export interface CloneShape {
  memoryMiB: number;
  vcpus?: number;
  privilege?: 'user' | 'kernel';
  /** A shell for a fork on another host (becomeRemoteClone); otherwise for this host's forks. */
  remote?: boolean;
}

const MiB = 1024 * 1024;
const utf8 = new TextEncoder();

function checkVcpus(value: unknown): number {
  return intInRange('vcpus', value ?? 1, 1, SfAbi.MAX_VCPUS);
}

function checkMemoryMiB(value: unknown): number {
  return intInRange('memoryMiB', value, 16, SfAbi.RAM_MAX / MiB, ' (16 MiB to 64 GiB)');
}

function checkPrivilege(value: unknown): 'user' | 'kernel' {
  const privilege = value ?? 'user';
  if (privilege !== 'user' && privilege !== 'kernel') badInput(`privilege must be 'user' or 'kernel', got ${describe(privilege)}.`);
  return privilege;
}

/** VirtualMachine.create()'s options, checked (the image must be a regular file), as the binding's config. */
export async function checkCreateOptions(options: VirtualMachineOptions): Promise<NativeVmConfig> {
  if (typeof options !== 'object' || options === null) badInput('VirtualMachine.create() needs an options object.');
  const vcpus = checkVcpus(options.vcpus);
  const memoryMiB = checkMemoryMiB(options.memoryMiB);
  const cmdline = options.cmdline ?? '';
  if (typeof cmdline !== 'string') badInput(`cmdline must be a string, got ${describe(cmdline)}.`);
  if (cmdline.includes('\0')) badInput('cmdline must not contain NUL characters.');
  // The guest gets it NUL-terminated in an SF_CMDLINE_MAX-byte area, so the text itself is one byte shorter.
  const cmdlineBytes = utf8.encode(cmdline).length;
  if (cmdlineBytes > SfAbi.CMDLINE_MAX - 1) {
    badInput(`cmdline is ${cmdlineBytes} bytes (UTF-8); the limit is ${SfAbi.CMDLINE_MAX - 1}.`);
  }
  const clusterid = intInRange('clusterid', options.clusterid ?? 0, 0, 0xffff_ffff);
  const vmid = intInRange('vmid', options.vmid ?? 0, 0, 0xffff_ffff);
  const image = options.image;
  if (typeof image !== 'string' || image === '') badInput(`image must be a file path, got ${describe(image)}.`);
  if (image.includes('\0')) badInput('image path must not contain NUL characters.');
  let info: Stats;
  try {
    info = await stat(image);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    badInput(`image ${image} cannot be used: ${why === 'ENOENT' ? 'it does not exist' : why}.`);
  }
  if (!info.isFile()) badInput(`image ${image} is not a regular file.`);
  const privilege = checkPrivilege(options.privilege);
  const net = checkNetOptions(options.net);
  const disk = await checkDiskOptions(options.disk);
  return { vcpus, ramBytes: memoryMiB * MiB, cmdline, clusterid, vmid, imagePath: image, privilege, net, disk };
}

/** createClone / becomeClone: the snapshot (live, from fork()) and the clone's options. */
export function checkCloneOptions(operation: string, snapshot: VmSnapshot, options: CloneOptions): NativeCloneOptions {
  checkLiveSnapshot(operation, snapshot);
  return checkCloneSpec(options);
}

/** A clone's options before its snapshot exists (forkInto makes the snapshot and the clones in one call). */
export function checkCloneSpec(options: CloneOptions): NativeCloneOptions {
  const vmid = intInRange('vmid', options.vmid, 0, 0xffff_ffff);
  if (options.lazy !== undefined && typeof options.lazy !== 'boolean') badInput(`lazy must be a boolean, got ${describe(options.lazy)}.`);
  const net = checkNetOptions(options.net);
  const disk = checkCloneDiskOptions(options.disk);
  const native: NativeCloneOptions = { vmid, lazy: options.lazy ?? false, cloneReply: checkCloneReply(options.cloneReply), net, disk };
  if (options.vcpus !== undefined) native.vcpus = checkVcpus(options.vcpus);
  return native;
}

/** A clone's answer to its pending sf_clone, checked like any reply; null when none is given. */
function checkCloneReply(reply: GuestReply | undefined): NormalizedGuestReply | null {
  if (reply === undefined) return null;
  try {
    return normalizeGuestReply(reply);
  } catch (error) {
    badInput(`cloneReply: ${messageOf(error)}`);
  }
}

/** prepareClone: the shell's shape as the binding takes it. */
export function checkCloneShape(shape: CloneShape): NativeCloneShape {
  const memoryMiB = checkMemoryMiB(shape.memoryMiB);
  const vcpus = checkVcpus(shape.vcpus);
  const privilege = checkPrivilege(shape.privilege);
  if (shape.remote !== undefined && typeof shape.remote !== 'boolean') badInput(`remote must be a boolean, got ${describe(shape.remote)}.`);
  return { ramBytes: memoryMiB * MiB, vcpus, privilege, ...(shape.remote ? { remote: true } : {}) };
}

/**
 * createRemoteClone: the descriptor (from a fork: it must carry a snapshot identity) and the options, as the
 * binding takes them, with the snapshot's id.
 */
export function checkRemoteCloneOptions(
  descriptor: Buffer,
  options: RemoteCloneOptions,
): { snapshotId: string; native: NativeRemoteCloneOptions } {
  if (!Buffer.isBuffer(descriptor)) badInput(`createRemoteClone() needs the descriptor as a Buffer, got ${describe(descriptor)}.`);
  const vmid = intInRange('vmid', options.vmid, 0, 0xffff_ffff);
  const server = checkEndpoint('server', options.server);
  const native: NativeRemoteCloneOptions = { vmid, lazy: true, cloneReply: null, server };
  if (options.vcpus !== undefined) native.vcpus = checkVcpus(options.vcpus);
  if (options.bind !== undefined) native.bind = checkEndpoint('bind', options.bind);
  if (options.group !== undefined && options.group !== null) {
    native.group = checkEndpoint('group', options.group);
    if (!isMulticastAddress(native.group)) badInput(`group must be a multicast address (224.0.0.0/4), got '${native.group}'.`);
  }
  if (options.interface !== undefined) native.interface = checkInterfaceAddress('interface', options.interface);
  if (options.dropForTest !== undefined) native.dropForTest = checkTestFraction('dropForTest', options.dropForTest);
  if (options.pageLivenessMs !== undefined) native.pageLivenessMs = intInRange('pageLivenessMs', options.pageLivenessMs, 100, 3_600_000);
  native.cloneReply = checkCloneReply(options.cloneReply);
  native.net = checkNetOptions(options.net);
  native.disk = checkCloneDiskOptions(options.disk);
  const snapshotId = inspectDescriptor(descriptor).snapshotId;
  if (!snapshotId) badInput('createRemoteClone(): the descriptor has no snapshot identity (not from a fork).');
  return { snapshotId, native };
}
