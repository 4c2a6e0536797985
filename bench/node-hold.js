// The memory case in Node: a net server on 127.0.0.1:0 that keeps every
// socket. Prints "PORTS <p>", then "HELD <n> <seconds>" once N connections
// are open; exits at EOF on stdin (or the timeout).
'use strict';
const net = require('net');
const n = Number(process.argv[2] || 10000);
const timeout = Number(process.argv[3] || 300) * 1000;
const sockets = [];
let t0 = 0;
const server = net.createServer((s) => {
  if (sockets.length === 0) t0 = process.hrtime.bigint();
  sockets.push(s);
  s.on('error', () => {});
  if (sockets.length === n) {
    const el = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(`HELD ${sockets.length} ${el.toFixed(6)}\n`);
  }
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, () => {
  process.stdout.write(`PORTS ${server.address().port}\n`);
});
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
setTimeout(() => process.exit(2), timeout).unref();
