// Node's net echo server for the echo case: prints "PORT <p>", echoes the
// first connection (socket.pipe(socket)) and exits when it closes.
'use strict';
const net = require('net');
const timeout = Number(process.argv[2] || 300) * 1000;
const server = net.createServer((s) => {
  s.pipe(s);
  s.on('error', () => {});
  s.on('close', () => { server.close(); process.exit(0); });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
setTimeout(() => process.exit(2), timeout).unref();
