// freePort(): a TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it), for daemons under test.
// Its own module so that the test kit other workspaces import (testing.ts) pulls in nothing else.
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
