# Network probes for the cluster network tests, run inside a namespace standing in for a VM or the outside:
# ICMP echo, an ARP who-has, TCP echo and TCP streams whose receiver reports the rate. Exit 0 = it worked.
import socket, struct, sys, time, os, select

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff

def ping(dst, src=None, count=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if src: s.bind((src, 0))
    rtts = []
    for seq in range(count):
        body = struct.pack('!BBHHH', 8, 0, 0, os.getpid() & 0xffff, seq) + b'snowflock'
        pkt = body[:2] + struct.pack('!H', csum(body)) + body[4:]
        t0 = time.perf_counter(); s.sendto(pkt, (dst, 0)); deadline = t0 + 1
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([s], [], [], left)[0]: return print('no reply') or 1
            data, addr = s.recvfrom(2048)
            hl = (data[0] & 15) * 4
            if addr[0] == dst and data[hl] == 0 and struct.unpack('!H', data[hl + 6:hl + 8])[0] == seq: break
        rtts.append((time.perf_counter() - t0) * 1e6)
    rtts.sort(); print('%.1f' % rtts[len(rtts) // 2]); return 0

def arp(iface, src_ip, dst_ip):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806)); s.bind((iface, 0))
    mac = s.getsockname()[4]
    frame = b'\xff' * 6 + mac + b'\x08\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(src_ip) + b'\0' * 6 + socket.inet_aton(dst_ip)
    s.send(frame); deadline = time.time() + 1
    while select.select([s], [], [], max(0, deadline - time.time()))[0]:
        d = s.recv(2048)
        if d[12:14] == b'\x08\x06' and struct.unpack('!H', d[20:22])[0] == 2 and d[28:32] == socket.inet_aton(dst_ip) and d[38:42] == socket.inet_aton(src_ip): return 0  # a reply to this request
    print('no ARP reply'); return 1

def serve(port, mode):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('0.0.0.0', port)); l.listen(8)
    print('ready', flush=True)
    while True:
        c, _ = l.accept()
        if mode == 'echo':
            c.sendall(c.recv(64)); c.close(); continue
        n = 0; t0 = None
        while True:
            d = c.recv(1 << 16)
            if not d: break
            if t0 is None: t0 = time.perf_counter()
            n += len(d)
        dt = time.perf_counter() - t0
        c.sendall(b'%d %.6f' % (n, dt)); c.close()

def connect(dst, port, nbytes=0):
    c = socket.create_connection((dst, port), timeout=2)
    if nbytes == 0:
        c.sendall(b'hi'); ok = c.recv(64) == b'hi'; return 0 if ok else 1
    c.settimeout(60); chunk = b'x' * 65536; left = nbytes
    while left > 0: left -= c.send(chunk[:min(left, len(chunk))])
    c.shutdown(socket.SHUT_WR); n, dt = c.recv(64).split()
    print('%.3f' % (int(n) * 8 / float(dt) / 1e6)); return 0  # Mbit/s seen by the receiver

cmd, args = sys.argv[1], sys.argv[2:]
try:
    if cmd == 'ping': sys.exit(ping(args[0], args[1] if len(args) > 1 and args[1] != '-' else None, int(args[2]) if len(args) > 2 else 1))
    if cmd == 'arp': sys.exit(arp(*args))
    if cmd == 'serve': serve(int(args[0]), args[1])
    if cmd == 'connect': sys.exit(connect(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 0))
except (OSError, ValueError) as e:
    print(e); sys.exit(1)
