#!/usr/bin/env node
'use strict';
// Echo throughput of the Node drop-in (client-lib/node) against Node's own
// net: one process runs an echo server and a client, the client sends SIZE
// bytes and reads them back, checked by SHA-256; both ends use require('net'),
// Node's own or, with -r register.js, netd's.
//
//   node bench/node-dropin.js [--size 64M] [--runs 3] [--netd PATH-TO-netd]
//
// Starts a private netd (default build/daemon/netd) on a temporary socket.
// Prints one line per run and the median MB/s (1 MB = 10^6 bytes) per variant,
// then the median round-trip time of 2000 64-byte request/response exchanges.
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

function parseSize(s) {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase()];
}

if (process.argv[2] === '--child-pingpong') {
  // N request/response round trips of 64 bytes between a client and an echo server.
  const n = Number(process.argv[3]);
  const net = require('net');
  const server = net.createServer((s) => s.on('data', (d) => s.write(d)));
  server.listen(0, '127.0.0.1', () => {
    const c = net.connect(server.address().port, '127.0.0.1');
    const msg = Buffer.alloc(64, 'x');
    let left = n; let have = 0; let t0;
    c.on('connect', () => { t0 = process.hrtime.bigint(); c.write(msg); });
    c.on('data', (d) => {
      have += d.length;
      if (have < msg.length) return;
      have -= msg.length;
      if (--left > 0) { c.write(msg); return; }
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stdout.write(JSON.stringify({ ok: true, secs, rtt_us: secs / n * 1e6 }) + '\n');
      c.destroy(); server.close();
    });
  });
  return;
}

if (process.argv[2] === '--child') {
  const size = Number(process.argv[3]);
  const net = require('net');
  const block = crypto.randomBytes(1024 * 1024);
  const server = net.createServer((s) => s.pipe(s));
  server.listen(0, '127.0.0.1', () => {
    const t0 = process.hrtime.bigint();
    const c = net.connect(server.address().port, '127.0.0.1');
    const hs = crypto.createHash('sha256');
    const hr = crypto.createHash('sha256');
    let sent = 0; let got = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(64 * 1024, size - sent);
        const off = (sent / 65536) % 16 * 65536;
        const chunk = block.subarray(off, off + n);
        hs.update(chunk); sent += n;
        if (!c.write(chunk)) return;
      }
      c.end();
    };
    c.on('connect', pump);
    c.on('drain', pump);
    c.on('data', (d) => { got += d.length; hr.update(d); });
    c.on('end', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const ok = got === size && hs.digest('hex') === hr.digest('hex');
      process.stdout.write(JSON.stringify({ ok, bytes: got, secs }) + '\n');
      server.close();
      if (!ok) process.exitCode = 1;
    });
  });
  return;
}

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const size = parseSize(opt('--size', '64M'));
const runs = Number(opt('--runs', '3'));
const root = path.join(__dirname, '..');
const netdBin = opt('--netd', path.join(root, 'build', 'daemon', 'netd'));
const register = path.join(root, 'client-lib', 'node', 'register.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netd-bench-node-'));
const sock = path.join(tmp, 'netd.sock');
const daemon = spawn(netdBin, ['--foreground', `--socket=${sock}`, '--ready-fd=3'],
  { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
let ready = '';
daemon.stdio[3].on('data', (d) => {
  ready += d;
  if (!ready.includes('READY=1')) return;
  daemon.stdio[3].removeAllListeners('data');
  const results = { node: [], dropin: [] };
  let failed = false;
  for (let r = 0; r < runs; r++) {
    for (const variant of (r % 2 ? ['dropin', 'node'] : ['node', 'dropin'])) {
      const a = variant === 'dropin' ? ['-r', register] : [];
      const p = spawnSync(process.execPath, [...a, __filename, '--child', String(size)],
        { env: { ...process.env, NETD_SOCKET: sock }, encoding: 'utf8', timeout: 300000 });
      let res = null;
      try { res = JSON.parse(p.stdout.trim()); } catch (e) { /* below */ }
      if (!res || !res.ok) {
        failed = true;
        console.log(`${variant} run ${r + 1}: FAILED (status ${p.status}) ${p.stdout} ${p.stderr}`);
        continue;
      }
      const mbs = size / res.secs / 1e6;
      results[variant].push(mbs);
      console.log(`${variant} run ${r + 1}: ${size} bytes echoed in ${res.secs.toFixed(3)} s = ${mbs.toFixed(1)} MB/s`);
    }
  }
  // Latency: 64-byte request/response round trips.
  const rtts = { node: [], dropin: [] };
  for (let r = 0; r < runs; r++) {
    for (const variant of ['node', 'dropin']) {
      const a = variant === 'dropin' ? ['-r', register] : [];
      const p = spawnSync(process.execPath, [...a, __filename, '--child-pingpong', '2000'],
        { env: { ...process.env, NETD_SOCKET: sock }, encoding: 'utf8', timeout: 120000 });
      let res = null;
      try { res = JSON.parse(p.stdout.trim()); } catch (e) { /* below */ }
      if (!res) { failed = true; console.log(`${variant} ping-pong run ${r + 1}: FAILED ${p.stderr}`); continue; }
      rtts[variant].push(res.rtt_us);
      console.log(`${variant} ping-pong run ${r + 1}: 2000 round trips of 64 bytes, ${res.rtt_us.toFixed(1)} us each`);
    }
  }
  const median = (v) => { const s = [...v].sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : NaN; };
  const mn = median(results.node); const md = median(results.dropin);
  console.log(`median: node net ${mn.toFixed(1)} MB/s, netd drop-in ${md.toFixed(1)} MB/s (${(md / mn * 100).toFixed(0)} % of node)`);
  console.log(`median round trip: node net ${median(rtts.node).toFixed(1)} us, netd drop-in ${median(rtts.dropin).toFixed(1)} us`);
  daemon.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exitCode = failed ? 1 : 0;
});
daemon.on('exit', (code) => { if (!ready.includes('READY=1')) { console.error(`netd exited (${code}) before ready`); process.exit(2); } });
