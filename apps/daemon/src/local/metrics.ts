// Samples this host's load for the once-a-second host:metrics event: cpu utilisation from
// /proc/stat deltas, memory from /proc/meminfo, the 1-minute load average and uptime, and the
// counters of the guest calls its VMs made (how many the per-VM rate limit held back or refused).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { HostMetrics } from '../common/events.ts';
import type { GuestCallCounts } from './guest-call-limit.ts';

interface CpuTimes {
  busy: number;
  total: number;
}

function readCpuTimes(): CpuTimes | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle + iowait are the not-busy part.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

export function readMemAvailable(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux, or /proc hidden: fall back to what node knows.
  }
  return os.freemem();
}

export class MetricsSampler {
  #last = readCpuTimes();

  sample(domainsRunning: number, guestCalls?: GuestCallCounts): HostMetrics {
    const now = readCpuTimes();
    let cpuUtilization = 0;
    if (now && this.#last && now.total > this.#last.total) {
      cpuUtilization = Math.min(1, Math.max(0, (now.busy - this.#last.busy) / (now.total - this.#last.total)));
    }
    this.#last = now;
    return {
      sampledAt: Date.now(),
      cpuUtilization,
      load1: os.loadavg()[0] ?? 0,
      memTotal: os.totalmem(),
      memAvailable: readMemAvailable(),
      domainsRunning,
      uptimeSeconds: os.uptime(),
      ...(guestCalls ? { guestCalls: { ...guestCalls } } : {}),
    };
  }
}
