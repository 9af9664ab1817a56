// The network baselines the cluster-network benchmarks stand their figures beside (bench/net, bench/mpi): UDP
// round trips and a TCP stream between two namespaces (or within one, over its loopback), with python at both ends.
import { execFileSync, spawn } from 'node:child_process';

export interface NsBaseline {
  /** UDP round trip of 64 bytes, µs. */
  rtt_p50_us: number;
  rtt_p99_us: number;
  /** The best of 3 TCP streams of `streamMib` MiB, MB/s. */
  tcp_mb_s: number;
}

const r2 = (x: number) => +x.toFixed(2);

/**
 * A UDP echo and a TCP streamer on `address` in `serverNetns`, the client in `clientNetns` (the same namespace:
 * its loopback or own address). Python on both ends: a tight loop adds little, and it is there on every host.
 */
export async function nsBaseline(opts: {
  serverNetns: string;
  clientNetns: string;
  address: string;
  pings: number;
  streamMib: number;
}): Promise<NsBaseline> {
  const SERVER = [
    'import socket,sys,threading',
    'u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind((sys.argv[1],47790))',
    'def echo():',
    ' while True:',
    '  d,a=u.recvfrom(64);u.sendto(d,a)',
    'threading.Thread(target=echo,daemon=True).start()',
    't=socket.socket();t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);t.bind((sys.argv[1],47791));t.listen(4)',
    'buf=b"z"*65536',
    'while True:',
    ' c,_=t.accept()',
    ` for i in range(${opts.streamMib * 16}): c.sendall(buf)`,
    ' c.close()',
  ].join('\n');
  const CLIENT = [
    'import socket,sys,time,json',
    'u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.settimeout(1)',
    'out=[]',
    `for i in range(${opts.pings + 20}):`,
    ' t=time.perf_counter_ns();u.sendto(b"x"*64,(sys.argv[1],47790));u.recvfrom(64)',
    ' out.append(time.perf_counter_ns()-t)',
    'out=sorted(out[20:])',
    'best=0',
    'for k in range(3):',
    ' s=socket.create_connection((sys.argv[1],47791));t=time.perf_counter_ns();n=0;b=bytearray(1<<20)',
    ' while True:',
    '  r=s.recv_into(b)',
    '  if r==0: break',
    '  n+=r',
    ' best=max(best,n/((time.perf_counter_ns()-t)/1e9)/1e6);s.close()',
    'print(json.dumps({"p50":out[len(out)//2]/1e3,"p99":out[len(out)*99//100]/1e3,"mbs":best}))',
  ].join('\n');
  const server = spawn('ip', ['netns', 'exec', opts.serverNetns, 'python3', '-c', SERVER, opts.address], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const out = JSON.parse(
      execFileSync('ip', ['netns', 'exec', opts.clientNetns, 'python3', '-c', CLIENT, opts.address], {
        encoding: 'utf8',
        timeout: 60_000,
      }),
    ) as { p50: number; p99: number; mbs: number };
    return { rtt_p50_us: r2(out.p50), rtt_p99_us: r2(out.p99), tcp_mb_s: r2(out.mbs) };
  } finally {
    server.kill('SIGKILL');
  }
}
