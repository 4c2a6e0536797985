// Node's own net in one process, the in-process baseline of the c2p and p2c
// cases: the same byte stream as the C programs (splitmix64 pattern of 8 MiB,
// repeated), built before the timed part.
//   node node-stream.js send PORT SIZE [TIMEOUT_S]: connects to the sink, writes
//     the stream in 256 KiB slices with write()/'drain', ends, waits for close;
//     prints {"bytes","elapsed","cpu"} as direct-send.
//   node node-stream.js recv PORT [TIMEOUT_S]: connects to the source and
//     compares every byte received with the stream (Buffer.compare, a memcmp:
//     less work than the C receivers' hash, so the baseline is not held back);
//     prints the receiver report (hash fields say "compared").
'use strict';
const net = require('net');

const LEN = 8 << 20;
const CHUNK = 256 << 10;
const [mode, portArg, a3, a4] = process.argv.slice(2);
const timeout = Number((mode === 'send' ? a4 : a3) || 300) * 1000;
setTimeout(() => { console.error('node-stream: timeout'); process.exit(2); }, timeout).unref();

function pattern() {
  const p = Buffer.alloc(LEN);
  const M = (1n << 64n) - 1n;
  let x = 0x6e657464n;
  for (let i = 0; i < LEN; i += 8) {
    x = (x + 0x9E3779B97F4A7C15n) & M;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & M;
    z ^= z >> 31n;
    p.writeBigUInt64LE(z, i);
  }
  return p;
}

const pat = pattern();
const cpu0 = process.cpuUsage();
const cpu = () => { const u = process.cpuUsage(cpu0); return (u.user + u.system) / 1e6; };
const now = () => Number(process.hrtime.bigint()) / 1e9;

if (mode === 'send') {
  const size = Number(a3);
  const s = net.connect(Number(portArg), '127.0.0.1');
  let sent = 0;
  let t0;
  const pump = () => {
    while (sent < size) {
      const off = sent % LEN;
      const n = Math.min(CHUNK, size - sent, LEN - off);
      sent += n;
      if (!s.write(pat.subarray(off, off + n))) return;
    }
    s.end();
  };
  s.on('connect', () => { t0 = now(); pump(); });
  s.on('drain', pump);
  s.on('data', () => {});
  s.on('error', (e) => { console.error('node-stream:', e.message); process.exit(1); });
  s.on('close', () => {
    process.stdout.write(JSON.stringify({ bytes: sent, elapsed: now() - t0, cpu: cpu() }) + '\n');
    process.exit(0);
  });
} else if (mode === 'recv') {
  const s = net.connect(Number(portArg), '127.0.0.1');
  let got = 0;
  let bad = 0;
  let t0 = 0;
  let t1 = 0;
  s.on('data', (b) => {
    if (got === 0) t0 = now();
    let i = 0;
    while (i < b.length) {
      const off = (got + i) % LEN;
      const n = Math.min(b.length - i, LEN - off);
      if (Buffer.compare(b.subarray(i, i + n), pat.subarray(off, off + n)) !== 0) bad++;
      i += n;
    }
    got += b.length;
  });
  s.on('end', () => { t1 = now(); });
  s.on('error', (e) => { console.error('node-stream:', e.message); process.exit(1); });
  s.on('close', () => {
    if (!t1) t1 = now();
    const ok = bad === 0;
    process.stdout.write(JSON.stringify({ bytes: got, hash: ok ? 'compared' : 'mismatch',
      expect: 'compared', hash_ok: ok, elapsed: got ? t1 - t0 : 0, cpu: cpu() }) + '\n');
    process.exit(0);
  });
} else {
  console.error('usage: node-stream.js send PORT SIZE [TIMEOUT_S] | recv PORT [TIMEOUT_S]');
  process.exit(2);
}
