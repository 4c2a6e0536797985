'use strict';
// Runs one scenario of scenarios.js with whatever require('net') gives
// (Node's own, or the drop-in when started with -r ../register.js) and prints
// the recorded observations as one JSON line when the process exits.
const net = require('net');
const fs = require('fs');
const os = require('os');
const path = require('path');
const scenarios = require('./scenarios.js');

const name = process.argv[2];
const scenario = scenarios[name];
if (!scenario) { console.error(`unknown scenario ${name}`); process.exit(2); }

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netd-node-'));
const aliases = []; // [value, alias]
const logs = {};
const R = {
  dir,
  alias(value, as) { aliases.push([value, as]); return value; },
  ev(label, event, ...args) {
    (logs[label] || (logs[label] = [])).push(args.length ? [event, ...args.map(R.shape)] : [event]);
  },
  // Consecutive data events are merged: chunking is not observable API.
  data(label, chunk) {
    const l = logs[label] || (logs[label] = []);
    const last = l[l.length - 1];
    const s = Buffer.isBuffer(chunk) ? chunk.toString('latin1') : chunk;
    if (last && last[0] === 'data') last[1] += s; else l.push(['data', s]);
  },
  err(e) {
    if (!(e instanceof Error)) return e;
    const o = { class: e.constructor && e.constructor.name, name: e.name, message: e.message };
    for (const k of Object.keys(e)) o[k] = e[k];
    if (e.errors) o.errors = e.errors.map(R.err);
    return o;
  },
  shape(v) { return v instanceof Error ? R.err(v) : v; },
  // Calls fn and records what it threw, or 'ok'.
  tryThrow(label, what, fn) {
    try { fn(); R.ev(label, what, 'no throw'); } catch (e) { R.ev(label, what, R.err(e)); }
  },
  watch(label, emitter, events) {
    for (const ev of events) {
      if (ev === 'data') emitter.on('data', (d) => R.data(label, d));
      else emitter.on(ev, (...a) => R.ev(label, ev, ...a));
    }
  },
};

function normalize(obj) {
  return JSON.stringify(obj, (k, v) => {
    for (const [value, as] of aliases) {
      if (typeof v === 'number' && v === value) return `<${as}>`;
      if (typeof v === 'string') v = v.split(String(value)).join(`<${as}>`);
    }
    return v;
  });
}

process.on('exit', (code) => {
  R.ev('process', 'exit', code);
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(normalize(logs) + '\n');
});
const guard = setTimeout(() => { R.ev('process', 'guard timeout'); process.exit(3); }, Number(process.env.SCENARIO_TIMEOUT_MS || 30000));
guard.unref();
scenario(net, R);
