'use strict';
// Differential tests: every scenario of scenarios.js runs once with Node's
// own net and once with the netd drop-in (node -r register.js) against a
// private netd, and both must record the same observations.
// NETD_BIN names the daemon (ctest passes the one the tree built).
const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const scenarios = require('./scenarios.js');

const here = __dirname;
const register = path.join(here, '..', 'register.js');
const netdBin = process.env.NETD_BIN || path.join(here, '..', '..', '..', 'build', 'daemon', 'netd');
const only = process.env.SCENARIOS ? process.env.SCENARIOS.split(',') : null;

let daemon = null;
let tmp = null;
let sockPath = null;

function startNetd() {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netd-nodetest-'));
  sockPath = path.join(tmp, 'netd.sock');
  // Names resolve from a private hosts file only: no network involved.
  fs.writeFileSync(path.join(tmp, 'resolv.conf'), '');
  fs.writeFileSync(path.join(tmp, 'hosts'), '127.0.0.1 localhost\n::1 localhost ip6-localhost\n');
  daemon = spawn(netdBin, ['--foreground', `--socket=${sockPath}`, '--ready-fd=3',
    `--resolv-conf=${path.join(tmp, 'resolv.conf')}`, `--hosts-file=${path.join(tmp, 'hosts')}`],
  { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  return new Promise((resolve, reject) => {
    let got = '';
    const t = setTimeout(() => reject(new Error('netd did not become ready in 10 s')), 10000);
    daemon.stdio[3].on('data', (d) => {
      got += d;
      if (got.includes('READY=1')) { clearTimeout(t); resolve(); }
    });
    daemon.on('exit', (code) => { clearTimeout(t); reject(new Error(`netd exited with ${code} before ready`)); });
  });
}

function run(name, withNetd) {
  const args = withNetd ? ['-r', register, path.join(here, 'run-scenario.js'), name]
    : [path.join(here, 'run-scenario.js'), name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, NETD_SOCKET: sockPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = ''; let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const kill = setTimeout(() => child.kill('SIGKILL'), 40000);
    child.on('exit', (code, signal) => {
      clearTimeout(kill);
      const line = out.trim().split('\n').pop();
      let parsed = null;
      try { parsed = JSON.parse(line); } catch (e) { /* reported below */ }
      if (!parsed) {
        reject(new Error(`${withNetd ? 'drop-in' : 'node'} run of ${name} printed no record ` +
          `(exit ${code}, signal ${signal})\nstdout: ${out}\nstderr: ${err}`));
        return;
      }
      resolve({ log: parsed, stderr: err });
    });
  });
}

test.describe('node net drop-in vs Node\'s own net', { concurrency: 1 }, () => {
  test.before(startNetd);
  test.after(() => {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGTERM');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });
  for (const name of Object.keys(scenarios)) {
    if (only && !only.includes(name)) continue;
    test.it(name, async (t) => {
      if (name === 'esmImport' && typeof require('node:module').register !== 'function') {
        t.skip('this Node has no module.register: ES module imports are not redirected (README)');
        return;
      }
      const [native, dropin] = await Promise.all([run(name, false), run(name, true)]);
      const hung = (log) => (log.process || []).some((e) => e[0] === 'guard timeout');
      assert.ok(!hung(native.log), `the scenario hangs with Node's own net: ${JSON.stringify(native.log)}`);
      assert.deepStrictEqual(dropin.log, native.log,
        `drop-in differs from Node's net\nstderr of the drop-in run:\n${dropin.stderr}`);
    });
  }

  // Not differential: with no daemon, servers and sockets fail with a clear
  // error instead of hanging, and the process still exits by itself.
  test.it('no daemon: a clear error, and the process exits', async () => {
    const script = `
      const net = require('net');
      const out = [];
      const s = net.createServer().listen(0);
      s.on('error', (e) => out.push(['server', e.code, e.message]));
      const c = net.connect(80, '127.0.0.1');
      c.on('error', (e) => out.push(['client', e.code, e.message]));
      c.on('close', (h) => out.push(['client close', h]));
      process.on('exit', () => console.log(JSON.stringify(out)));`;
    const missing = path.join(os.tmpdir(), `netd-none-${process.pid}.sock`);
    const child = spawn(process.execPath, ['-r', register, '-e', script], {
      env: { ...process.env, NETD_SOCKET: missing }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (c, sig) => { clearTimeout(t); resolve(sig || c); });
    });
    assert.strictEqual(code, 0, `exit ${code}, output ${out}`);
    const msg = `netd: no daemon at ${missing} (set NETD_SOCKET to its control socket)`;
    assert.deepStrictEqual(JSON.parse(out), [
      ['server', 'ENOENT', msg], ['client', 'ENOENT', msg], ['client close', true],
    ]);
  });

  // Not differential (Node's side would need a DNS server): netd's resolver
  // failure arrives as the error Node's getaddrinfo failure is.
  test.it('a name netd cannot resolve: Node\'s ENOTFOUND error and lookup event', async () => {
    const script = `
      const net = require('net');
      const out = [];
      const c = net.connect(80, 'nonexistent.invalid');
      c.on('lookup', (err, a, f, h) => out.push(['lookup', err && err.message, a, f, h]));
      c.on('error', (e) => out.push(['error', e.constructor.name, e.message, { ...e }]));
      c.on('close', (h) => out.push(['close', h]));
      process.on('exit', () => console.log(JSON.stringify(out)));`;
    const child = spawn(process.execPath, ['-r', register, '-e', script], {
      env: { ...process.env, NETD_SOCKET: sockPath }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.on('exit', (c, sig) => { clearTimeout(t); resolve(sig || c); });
    });
    assert.strictEqual(code, 0, `exit ${code}, output ${out}`);
    const msg = 'getaddrinfo ENOTFOUND nonexistent.invalid';
    assert.deepStrictEqual(JSON.parse(out), [
      ['lookup', msg, null, null, 'nonexistent.invalid'],
      ['error', 'Error', msg, { errno: -3008, code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nonexistent.invalid' }],
      ['close', true],
    ]);
  });
});
