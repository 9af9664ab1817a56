// The test servers of the multi-host harness's "outside" namespace (run there by scripts/hosts.mjs): an HTTP
// server on port 80 that names the address it was reached on, and a TCP echo server on port 7.
import http from 'node:http';
import net from 'node:net';

http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`snowflock outside ${req.socket.localAddress?.replace(/^::ffff:/, '')} ${req.method} ${req.url}\n`);
  })
  .listen(80);
net.createServer((socket) => socket.pipe(socket)).listen(7);
console.log('outside servers: http on 80, echo on 7');
