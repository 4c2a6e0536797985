'use strict';
// A drop-in for Node's `net` whose sockets and servers are owned by netd.
// One control connection per process (a UNIX socket to netd, opened lazily),
// JSON-RPC 2.0 lines both ways; see proto/PROTOCOL.md. Standard library only;
// runs on Node 18 and later.

// Node's own net: captured before register.js patches the loader (or, for a
// second copy of this file loaded after it, taken from the first copy).
const realNet = (() => {
  const n = require('net');
  return n._netd ? n._netd.realNet : n;
})();
const fs = require('fs');
const path = require('path');
const util = require('util');
const { EventEmitter } = require('events');
const stream = require('stream');

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const LINE_CHUNK = 512 * 1024; // raw bytes per socket.write line (base64 stays < 1 MiB)
// Write callbacks run on netd's reply, once the bytes reached the kernel, as
// Node's do. NETD_WRITE_WINDOW=N lets them run early while at most N bytes
// are unacknowledged (measured slower, see README; default 0: exact).
const WRITE_WINDOW = (() => {
  const n = Number(process.env.NETD_WRITE_WINDOW || 0);
  return Number.isFinite(n) && n >= 0 ? n : 0;
})();

// ---------------------------------------------------------------------------
// Errors shaped like Node's

function determineSpecificType(value) {
  if (value == null) return '' + value;
  if (typeof value === 'function' && value.name) return `function ${value.name}`;
  if (typeof value === 'object') {
    if (value.constructor && value.constructor.name) return `an instance of ${value.constructor.name}`;
    return util.inspect(value, { depth: -1 });
  }
  let inspected = util.inspect(value, { colors: false });
  if (inspected.length > 28) inspected = `${inspected.slice(0, 25)}...`;
  return `type ${typeof value} (${inspected})`;
}

function nodeError(Base, code, message) {
  const e = new Base(message);
  Object.defineProperty(e, 'toString', {
    value() { return `${this.name} [${code}]: ${this.message}`; },
    enumerable: false, writable: true, configurable: true,
  });
  e.code = code;
  // Node's stack starts with "Name [CODE]: message".
  if (typeof e.stack === 'string') {
    e.stack = e.stack.replace(/^[^\n:]*:/, `${e.name} [${code}]:`);
  }
  return e;
}

const E = {
  INVALID_ARG_TYPE: (name, what, actual) => {
    const kind = name.includes('.') ? 'property' : 'argument';
    return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE',
      `The "${name}" ${kind} must be ${what}. Received ${determineSpecificType(actual)}`);
  },
  INVALID_ARG_VALUE: (name, value, reason = 'is invalid') => {
    const type = name.includes('.') ? 'property' : 'argument';
    let inspected = util.inspect(value);
    if (inspected.length > 128) inspected = `${inspected.slice(0, 128)}...`;
    return nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${type} '${name}' ${reason}. Received ${inspected}`);
  },
  MISSING_ARGS: () => nodeError(TypeError, 'ERR_MISSING_ARGS',
    'The "options" or "port" or "path" argument must be specified'),
  SOCKET_BAD_PORT: (name, port, allowZero = true) => nodeError(RangeError, 'ERR_SOCKET_BAD_PORT',
    `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${determineSpecificType(port)}.`),
  INVALID_IP_ADDRESS: (ip) => nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${ip}`),
  SERVER_ALREADY_LISTEN: () => nodeError(Error, 'ERR_SERVER_ALREADY_LISTEN',
    'Listen method has been called more than once without closing.'),
  SERVER_NOT_RUNNING: () => nodeError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.'),
  SOCKET_CLOSED: () => nodeError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed'),
};

const RANGE_CODES = new Set(['ERR_SOCKET_BAD_PORT', 'ERR_OUT_OF_RANGE']);
const TYPE_CODES = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_MISSING_ARGS',
  'ERR_INVALID_IP_ADDRESS', 'ERR_UNKNOWN_ENCODING', 'ERR_INVALID_FD_TYPE', 'ERR_INVALID_HANDLE_TYPE']);

// A netd error object ({code, message, data}) as the error Node would make.
function fromWire(obj) {
  if (!obj || typeof obj !== 'object') return new Error(String(obj));
  const data = obj.data || {};
  const code = data.code;
  if (Array.isArray(data.errors)) {
    const errs = data.errors.map(fromWire);
    const e = new AggregateError(errs);
    e.code = code || (errs[0] && errs[0].code);
    return e;
  }
  if (typeof code === 'string' && code.startsWith('ERR_')) {
    const Base = RANGE_CODES.has(code) ? RangeError : TYPE_CODES.has(code) ? TypeError : Error;
    let msg = String(obj.message || code);
    if (obj.code === -32602 && msg.startsWith('Invalid params: ')) msg = msg.slice(16);
    return nodeError(Base, code, msg);
  }
  const e = new Error(String(obj.message || code || 'netd error'));
  if (code === 'EPIPE' && data.errno === undefined) { e.code = code; return e; }
  // UVException (listen) sets code before errno; ExceptionWithHostPort after.
  if (data.syscall === 'listen' && code !== undefined) e.code = code;
  if (data.errno !== undefined) e.errno = data.errno;
  if (code !== undefined) e.code = code;
  if (data.syscall !== undefined) e.syscall = data.syscall;
  if (data.hostname !== undefined) e.hostname = data.hostname;
  if (data.address !== undefined) e.address = data.address;
  if (data.port !== undefined) e.port = data.port;
  // Node's listen error on a path carries port -1 (UVExceptionWithHostPort).
  else if (data.syscall === 'listen' && typeof data.address === 'string' && !realNet.isIP(data.address)) e.port = -1;
  if (data.localAddress !== undefined) e.localAddress = data.localAddress;
  if (data.localPort !== undefined) e.localPort = data.localPort;
  return e;
}

// ---------------------------------------------------------------------------
// The control connection

function defaultSocketPath() {
  const env = process.env.NETD_SOCKET;
  if (env) return env;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (process.geteuid && process.geteuid() !== 0 && xdg) return path.join(xdg, 'netd', 'netd.sock');
  return '/run/netd/netd.sock';
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function pauseBriefly(spins) {
  if (spins > 200) Atomics.wait(sleeper, 0, 0, spins > 2000 ? 1 : 0.05);
}

// socket.data lines (the bulk of the traffic) are taken apart without JSON.parse
// or UTF-8 decoding; netd writes them in this one compact shape.
const DATA_PREFIX = Buffer.from('{"jsonrpc":"2.0","method":"socket.data","params":{"socket":');
const DATA_MID = Buffer.from(',"data":"');
const DATA_TAIL = Buffer.from('","encoding":"base64"}}');
function parseLine(line) {
  if (line.length > DATA_PREFIX.length + DATA_MID.length + DATA_TAIL.length &&
      line.compare(DATA_PREFIX, 0, DATA_PREFIX.length, 0, DATA_PREFIX.length) === 0) {
    let i = DATA_PREFIX.length;
    let id = 0;
    while (i < line.length && line[i] >= 48 && line[i] <= 57) id = id * 10 + (line[i++] - 48);
    const tailAt = line.length - DATA_TAIL.length;
    if (i > DATA_PREFIX.length && line.compare(DATA_MID, 0, DATA_MID.length, i, i + DATA_MID.length) === 0 &&
        line.compare(DATA_TAIL, 0, DATA_TAIL.length, tailAt, line.length) === 0) {
      const a = i + DATA_MID.length;
      if (line.indexOf(34, a) === tailAt) { // no other quote inside: plain base64
        return { method: 'socket.data', params: { socket: id, b64: line.latin1Slice(a, tailAt) } };
      }
    }
  }
  try { return JSON.parse(line.toString('utf8')); } catch (e) { return null; }
}

class Conn {
  constructor() {
    this.sock = null;
    this.path = null;
    this.nextId = 1;
    this.calls = new Map(); // id -> callback(err, result)
    this.handles = new Map(); // netd id -> Socket | Server
    this.preq = []; // lines written before the connection is up
    this.partial = [];
    this.inbox = [];
    this.inboxHead = 0;
    this.inSync = 0;
    this.syncId = 0;
    this.syncReply = undefined;
    this.draining = false;
    this.drainScheduled = false;
    this.live = 0; // ref'd, active handles
    this.refd = false;
    this.failed = null;
    this.connected = false;
  }

  ensure() {
    if (this.sock) return;
    this.path = defaultSocketPath();
    const sock = realNet.connect({ path: this.path });
    this.sock = sock;
    sock.unref();
    this.refd = false;
    this.updateRef();
    sock.on('connect', () => {
      this.connected = true;
      if (this.preq.length) { sock.write(this.preq.join('')); this.preq = []; }
    });
    sock.on('data', (chunk) => { this.feed(chunk); this.drain(); });
    sock.on('error', (err) => this.fail(err));
    sock.on('close', () => this.fail(null));
  }

  fail(err) {
    if (this.failed) return;
    let e;
    if (!this.connected && !fs.existsSync(this.path)) {
      e = new Error(`netd: no daemon at ${this.path} (set NETD_SOCKET to its control socket)`);
      e.code = 'ENOENT';
    } else if (!this.connected) {
      e = new Error(`netd: cannot reach the daemon at ${this.path}${err ? ` (${err.message})` : ''}`);
      e.code = err && err.code ? err.code : 'ECONNREFUSED';
    } else {
      e = new Error(err
        ? `netd: lost the control connection to ${this.path} (${err.message})`
        : `netd: the daemon closed the control connection ${this.path}`);
      e.code = err && err.code ? err.code : 'ECONNRESET';
    }
    e.syscall = this.connected ? 'read' : 'connect';
    e.address = this.path;
    this.failed = e;
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const cb of calls) cb(e);
    for (const h of [...this.handles.values()]) h._ctlFailed(e);
    this.handles.clear();
    if (this.sock) this.sock.unref();
  }

  line(obj) {
    return JSON.stringify(obj) + '\n';
  }

  writeLine(text, ascii) {
    if (this.failed) return;
    this.ensure();
    if (!this.connected) this.preq.push(text);
    else this.sock.write(text, ascii ? 'latin1' : 'utf8');
  }

  // A request with an id; cb(err, result) on its reply.
  call(method, params, cb) {
    const id = this.nextId++;
    if (this.failed) { const e = this.failed; process.nextTick(cb, e); return; }
    this.calls.set(id, cb);
    this.writeLine(this.line({ jsonrpc: '2.0', id, method, params }));
  }

  notify(method, params) {
    this.writeLine(this.line({ jsonrpc: '2.0', method, params }));
  }

  // socket.write with raw base64 text, built without JSON.stringify.
  writeData(sid, buf, cb) {
    const id = this.nextId++;
    if (this.failed) { process.nextTick(cb, this.failed); return; }
    this.calls.set(id, cb);
    this.writeLine('{"jsonrpc":"2.0","id":' + id + ',"method":"socket.write","params":{"socket":' + sid +
      ',"data":"' + buf.toString('base64') + '","encoding":"base64"}}\n', true);
  }

  canSync() {
    if (this.failed) return true; // answered at once with the failure
    this.ensure();
    const s = this.sock;
    if (!s._handle || typeof s._handle.fd !== 'number' || s._handle.fd < 0) return false;
    if (!this.connected) return true; // nothing handed to libuv yet: lines wait in preq
    return s.writableLength === 0 && !(s._handle.writeQueueSize > 0);
  }

  // A request answered synchronously: the line is written to the descriptor
  // directly and the reply read from it, events read meanwhile are kept for
  // later dispatch in order. Only when canSync(). Returns {result} or {error}.
  syncCall(method, params) {
    if (this.failed) return { error: this.failed };
    const fd = this.sock._handle.fd;
    const id = this.nextId++;
    let out = Buffer.from(this.preq.join('') + this.line({ jsonrpc: '2.0', id, method, params }));
    this.preq = [];
    let spins = 0;
    while (out.length) {
      let n;
      try { n = fs.writeSync(fd, out); } catch (e) {
        if (e.code === 'EAGAIN') { pauseBriefly(++spins); continue; }
        this.fail(e); return { error: this.failed };
      }
      out = out.subarray(n);
    }
    this.inSync++;
    const saveId = this.syncId; const saveReply = this.syncReply;
    this.syncId = id; this.syncReply = undefined;
    const buf = Buffer.allocUnsafe(256 * 1024);
    const deadline = Date.now() + 30000;
    spins = 0;
    try {
      while (this.syncReply === undefined) {
        let n;
        try { n = fs.readSync(fd, buf, 0, buf.length, null); } catch (e) {
          if (e.code === 'EAGAIN') {
            pauseBriefly(++spins);
            if ((spins & 1023) === 0 && Date.now() > deadline) {
              const t = new Error(`netd: no reply to ${method} within 30 s`);
              t.code = 'ETIMEDOUT';
              return { error: t };
            }
            continue;
          }
          this.fail(e); return { error: this.failed };
        }
        if (n === 0) { this.fail(null); return { error: this.failed }; }
        spins = 0;
        this.feed(Buffer.from(buf.subarray(0, n)));
      }
      const msg = this.syncReply;
      return msg.error ? { error: fromWire(msg.error), wire: msg.error } : { result: msg.result };
    } finally {
      this.syncId = saveId; this.syncReply = saveReply;
      this.inSync--;
      if (this.inboxHead < this.inbox.length) this.scheduleDrain();
    }
  }

  feed(chunk) {
    let start = 0;
    let nl;
    while ((nl = chunk.indexOf(10, start)) !== -1) {
      let line;
      if (this.partial.length) {
        this.partial.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.partial);
        this.partial = [];
      } else {
        line = chunk.subarray(start, nl);
      }
      start = nl + 1;
      if (line.length === 0) continue;
      const msg = parseLine(line);
      if (msg === null) continue;
      if (this.syncId && msg.id === this.syncId && msg.method === undefined) { this.syncReply = msg; continue; }
      this.inbox.push(msg);
    }
    if (start < chunk.length) this.partial.push(start === 0 ? chunk : chunk.subarray(start));
  }

  scheduleDrain() {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => { this.drainScheduled = false; this.drain(); });
  }

  drain() {
    if (this.inSync || this.draining) return;
    this.draining = true;
    try {
      while (this.inboxHead < this.inbox.length) {
        const msg = this.inbox[this.inboxHead];
        this.inbox[this.inboxHead++] = undefined;
        if (this.inboxHead > 1024 && this.inboxHead * 2 > this.inbox.length) {
          this.inbox = this.inbox.slice(this.inboxHead); this.inboxHead = 0;
        }
        this.dispatch(msg);
        if (this.inSync) break;
      }
      if (this.inboxHead === this.inbox.length) { this.inbox = []; this.inboxHead = 0; }
    } finally {
      this.draining = false;
      // A listener threw (the exception goes on as in Node): the rest still comes.
      if (this.inboxHead < this.inbox.length && !this.inSync) this.scheduleDrain();
    }
  }

  dispatch(msg) {
    if (Array.isArray(msg)) { for (const m of msg) this.dispatch(m); return; }
    if (msg.method === undefined) {
      const cb = this.calls.get(msg.id);
      if (!cb) return;
      this.calls.delete(msg.id);
      if (msg.error) cb(fromWire(msg.error), undefined, msg.error);
      else cb(null, msg.result);
      return;
    }
    const p = msg.params || {};
    const dot = msg.method.indexOf('.');
    const kind = msg.method.slice(0, dot);
    const ev = msg.method.slice(dot + 1);
    const h = this.handles.get(kind === 'server' ? p.server : p.socket);
    if (h) h._onEvent(ev, p);
  }

  adjustLive(delta) {
    this.live += delta;
    this.updateRef();
  }

  updateRef() {
    if (!this.sock) return;
    const want = this.live > 0 && !this.failed;
    if (want !== this.refd) {
      this.refd = want;
      if (want) this.sock.ref(); else this.sock.unref();
    }
  }
}

let conn = null;
function getConn() {
  if (!conn) conn = new Conn();
  conn.ensure();
  return conn;
}

// Liveness bookkeeping shared by Socket and Server: a handle keeps the
// process alive while it is ref'd and active (libuv's rule).
function updateLive(h) {
  const want = h._refd && h._isActive();
  if (want !== h._live) {
    h._live = want;
    getConn().adjustLive(want ? 1 : -1);
  }
}

// ---------------------------------------------------------------------------
// Argument helpers

function validatePort(port, name = 'Port', allowZero = true) {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) || port > 0xFFFF || (port === 0 && !allowZero)) {
    throw E.SOCKET_BAD_PORT(name, port, allowZero);
  }
  return port | 0;
}

function isPipeName(s) {
  return typeof s === 'string' && !(Number(s) >= 0);
}

const normalizeArgs = realNet._normalizeArgs || function normalizeArgs(args) {
  let arr;
  if (args.length === 0) { arr = [{}, null]; return arr; }
  const arg0 = args[0];
  let options = {};
  if (typeof arg0 === 'object' && arg0 !== null) options = arg0;
  else if (isPipeName(arg0)) options.path = arg0;
  else { options.port = arg0; if (args.length > 1 && typeof args[1] === 'string') options.host = args[1]; }
  const cb = args[args.length - 1];
  return [options, typeof cb === 'function' ? cb : null];
};

function familyOf(addr) {
  const v = realNet.isIP(addr);
  return v === 6 ? 'IPv6' : v === 4 ? 'IPv4' : undefined;
}

// ---------------------------------------------------------------------------
// Socket


function Socket(options) {
  if (!(this instanceof Socket)) return new Socket(options);
  if (typeof options === 'number') options = { fd: options };
  else options = { ...options };
  if (options.objectMode) throw E.INVALID_ARG_VALUE('options.objectMode', options.objectMode, 'is not supported');
  if (options.readableObjectMode) throw E.INVALID_ARG_VALUE('options.readableObjectMode', options.readableObjectMode, 'is not supported');
  if (options.writableObjectMode) throw E.INVALID_ARG_VALUE('options.writableObjectMode', options.writableObjectMode, 'is not supported');
  if (options.fd !== undefined || options.handle !== undefined) {
    throw E.INVALID_ARG_VALUE('options.fd', options.fd !== undefined ? options.fd : options.handle,
      'is not supported by netd (sockets live in the daemon)');
  }
  const accepted = options[kAccept];
  options.allowHalfOpen = Boolean(options.allowHalfOpen);
  options.emitClose = false;
  options.autoDestroy = true;
  options.decodeStrings = false;
  stream.Duplex.call(this, options);

  this.connecting = false;
  this._host = null;
  this._pendingOps = [];
  this._id = null;
  this._idPending = false;
  this._netdClosed = true; // no netd lifecycle yet
  this._netdPaused = false;
  this._destroyCb = null;
  this._closeEmitted = false;
  this._refd = true;
  this._live = false;
  this._inflight = 0;
  this._waiting = null;
  this._bytesDispatched = 0;
  this.bytesRead = 0;
  this._sockname = null;
  this._peername = null;
  this._ipc = false;
  this.server = null;
  this._server = null;
  this._timeoutMs = 0;
  this._opts = {
    noDelay: Boolean(options.noDelay),
    keepAlive: Boolean(options.keepAlive),
    keepAliveInitialDelay: options.keepAliveInitialDelay,
    highWaterMark: options.highWaterMark,
  };
  this.on('end', onReadableStreamEnd);

  if (accepted) {
    const a = accepted;
    this._id = a.id;
    this._netdClosed = false;
    this._ipc = a.ipc;
    this._netdPaused = Boolean(a.pauseOnConnect);
    this._connected = true;
    if (!a.ipc) {
      this._peername = { address: a.remoteAddress, family: a.remoteFamily, port: a.remotePort };
      this._sockname = { address: a.localAddress, family: a.remoteFamily, port: a.localPort };
    }
    getConn().handles.set(this._id, this);
    if (a.pauseOnConnect) stream.Duplex.prototype.pause.call(this); // Node: isPaused() is true
    updateLive(this);
  }
  if (options.signal) addSignal(this, options.signal);
}
Object.setPrototypeOf(Socket.prototype, stream.Duplex.prototype);
Object.setPrototypeOf(Socket, stream.Duplex);
const kAccept = Symbol('netdAccept');

class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options);
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
  }
}

function addSignal(sock, signal) {
  const onAbort = () => {
    sock.destroy(new AbortError(undefined, { cause: signal.reason }));
  };
  if (signal.aborted) process.nextTick(onAbort);
  else {
    process.nextTick(() => {
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('close', () => signal.removeEventListener('abort', onAbort));
    });
  }
}

function onReadableStreamEnd() {
  if (!this.allowHalfOpen) this.write = writeAfterFIN;
}

function writeAfterFIN(chunk, encoding, cb) {
  if (!this.writableEnded) return stream.Duplex.prototype.write.call(this, chunk, encoding, cb);
  if (typeof encoding === 'function') { cb = encoding; encoding = null; }
  const er = new Error('This socket has been ended by the other party');
  er.code = 'EPIPE';
  if (typeof cb === 'function') process.nextTick(cb, er);
  this.destroy(er);
  return false;
}

Socket.prototype._isActive = function() {
  if (this._id === null && !this._idPending) return false;
  if (this._inflight > 0 || this._finalPending) return true; // replies to come
  if (this._netdClosed && !this._idPending) return false;
  if (this.connecting || this._idPending) return true;
  if (this.destroyed) return true; // waiting for netd's close
  if (this._eof) return false; // libuv stops a stream's handle at EOF
  return !this._netdPaused;
};

// Run fn(id) now if the socket has its netd id, else once it has.
Socket.prototype._withId = function(fn) {
  if (this._id !== null && !this._idPending) fn(this._id);
  else this._pendingOps.push(fn);
};

Socket.prototype.connect = function(...args) {
  let normalized;
  if (Array.isArray(args[0]) && args[0][kNormalized]) normalized = args[0];
  else normalized = normalizeArgs(args);
  const options = normalized[0];
  const cb = normalized[1];
  if (this.write !== Socket.prototype.write) this.write = Socket.prototype.write;
  if (this.destroyed) {
    this._undestroy();
    this._peername = null;
    this._sockname = null;
    this._closeEmitted = false;
    this.bytesRead = 0;
    this._bytesDispatched = 0;
    this._netdPaused = false;
    this._destroyCb = null;
    this._inflight = 0;
    this._waiting = null;
    this._held = null;
    this._preConnectWrites = 0;
    this._eof = false;
  }
  const p = {};
  const { path: ipcPath } = options;
  if (ipcPath) {
    if (typeof ipcPath !== 'string') throw E.INVALID_ARG_TYPE('options.path', 'of type string', ipcPath);
    p.path = ipcPath;
    this._ipc = true;
  } else {
    const { localAddress, localPort } = options;
    let { port, host } = options;
    if (localAddress && !realNet.isIP(localAddress)) throw E.INVALID_IP_ADDRESS(localAddress);
    if (localPort !== undefined && typeof localPort !== 'number') {
      throw E.INVALID_ARG_TYPE('options.localPort', 'of type number', localPort);
    }
    if (typeof port !== 'undefined') {
      if (typeof port !== 'number' && typeof port !== 'string') {
        throw E.INVALID_ARG_TYPE('options.port', 'one of type number or string', port);
      }
      port = validatePort(port);
    } else {
      throw E.MISSING_ARGS();
    }
    host = host || 'localhost';
    if (typeof host !== 'string') throw E.INVALID_ARG_TYPE('options.host', 'of type string', host);
    p.port = port;
    p.host = host;
    this._connectPort = port;
    if (options.family !== undefined && options.family !== null) {
      const f = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
      if (f !== 0 && f !== 4 && f !== 6) throw E.INVALID_ARG_VALUE('options.family', options.family, 'must be one of: 0, 4, 6');
      p.family = f;
    }
    if (options.hints) p.hints = options.hints;
    if (localAddress) p.localAddress = localAddress;
    if (localPort) p.localPort = localPort;
    let asf = options.autoSelectFamily;
    if (asf === undefined || asf === null) asf = realNet.getDefaultAutoSelectFamily ? realNet.getDefaultAutoSelectFamily() : false;
    p.autoSelectFamily = Boolean(asf);
    let ast = options.autoSelectFamilyAttemptTimeout;
    if (ast === undefined || ast === null) ast = realNet.getDefaultAutoSelectFamilyAttemptTimeout ? realNet.getDefaultAutoSelectFamilyAttemptTimeout() : 250;
    p.autoSelectFamilyAttemptTimeout = Math.max(10, ast | 0);
    this._ipc = false;
    this._target = realNet.isIP(host) ? { address: host, family: familyOf(host), port } : null;
    this._lookups = 0;
    this._host = host;
  }
  if (cb !== null) this.once('connect', cb);
  this.connecting = true;
  this._everConnecting = true;
  this._connected = false;
  this._netdClosed = false;
  const first = this._id === null;
  this._idPending = first;
  updateLive(this);
  if (!p.path && typeof options.lookup === 'function' && !realNet.isIP(p.host)) {
    // A custom lookup runs here, as in Node; netd then gets the address.
    this._lookupThenConnect(options.lookup, p, first);
    return this;
  }
  this._startConnect(p, first);
  return this;
};

Socket.prototype._lookupThenConnect = function(lookup, p, first) {
  const host = p.host;
  const dnsopts = { family: p.family || 0, hints: p.hints || 0 };
  if (p.autoSelectFamily && dnsopts.family !== 4 && dnsopts.family !== 6 && !p.localAddress) dnsopts.all = true;
  const gen = this._lookupGen = (this._lookupGen || 0) + 1;
  const fail = (err) => {
    this.emit('lookup', err, undefined, undefined, host);
    process.nextTick(() => {
      if (this._lookupGen !== gen || !this.connecting) return;
      this._idPending = false;
      this._netdClosed = true;
      this.connecting = false;
      updateLive(this);
      this.destroy(err);
    });
  };
  lookup(host, dnsopts, (err, ip, family) => {
    if (this._lookupGen !== gen || !this.connecting || this.destroyed) return;
    if (err) { fail(err); return; }
    const list = Array.isArray(ip)
      ? ip.map((a) => ({ address: a.address, family: a.family }))
      : [{ address: ip, family }];
    const bad = list.find((a) => !realNet.isIP(a.address));
    if (list.length === 0 || bad) {
      fail(E.INVALID_IP_ADDRESS(bad ? bad.address : undefined));
      return;
    }
    for (const a of list) this.emit('lookup', null, a.address, a.family, host);
    const chosen = list[0];
    this._target = { address: chosen.address, family: familyOf(chosen.address), port: p.port };
    this._startConnect({ ...p, host: chosen.address, autoSelectFamily: false }, first);
  });
};

Socket.prototype._startConnect = function(p, first) {
  const c = getConn();
  if (first) {
    if (this._opts.noDelay) p.noDelay = true;
    if (this._opts.keepAlive) {
      p.keepAlive = true;
      if (this._opts.keepAliveInitialDelay) p.keepAliveInitialDelay = Math.max(0, this._opts.keepAliveInitialDelay | 0);
    }
    if (typeof this._opts.highWaterMark === 'number') p.highWaterMark = Math.max(0, this._opts.highWaterMark | 0);
    // netd's own allowHalfOpen:false ends the socket as soon as the FIN
    // arrives, before the program saw the last data; Node ends it after
    // 'end'. So netd always keeps it half open and the Duplex does Node's part.
    p.allowHalfOpen = true;
    if (this._timeoutMs) p.timeout = this._timeoutMs;
    this._netdCallPending = true;
    c.call('net.createConnection', p, (err, res) => {
      this._netdCallPending = false;
      this._idPending = false;
      if (err) {
        this._netdClosed = true;
        this.connecting = false;
        this._dropPendingOps();
        updateLive(this);
        this.destroy(err);
        return;
      }
      this._id = res.socket;
      c.handles.set(this._id, this);
      const ops = this._pendingOps; this._pendingOps = [];
      for (const op of ops) op(this._id);
      updateLive(this);
    });
  } else {
    p.socket = this._id;
    c.handles.set(this._id, this);
    c.notify('socket.resume', { socket: this._id }); // a pause of the last lifecycle must not hold this one
    c.call('socket.connect', p, (err) => {
      if (err && !this.destroyed) this.destroy(err);
    });
    if (this._timeoutMs) c.notify('socket.setTimeout', { socket: this._id, timeout: this._timeoutMs });
  }
};
const kNormalized = Symbol('normalized');

Socket.prototype._replayHeld = function() {
  const held = this._held;
  this._held = null;
  for (const [ev, p] of held) this._onEvent(ev, p);
};

Socket.prototype._onEvent = function(ev, p) {
  if (this._held) { this._held.push([ev, p]); return; }
  if (ev === 'connect' && this._preConnectWrites > 0) {
    // Node writes what was queued while connecting before 'connect' reaches
    // the program (its write callbacks and 'drain' come first): hold the
    // socket's events until netd has answered those writes.
    this._held = [[ev, p]];
    return;
  }
  switch (ev) {
    case 'data': {
      const buf = p.b64 !== undefined ? Buffer.from(p.b64, 'base64') : Buffer.from(p.data, p.encoding || 'base64');
      if (buf.length === 0) return;
      this.bytesRead += buf.length;
      if (!this.push(buf) && !this._netdPaused && !this._netdClosed) {
        this._netdPaused = true;
        getConn().notify('socket.pause', { socket: this._id });
        updateLive(this);
      }
      return;
    }
    case 'lookup': {
      const err = p.err ? fromWire(p.err) : null;
      if (!err) {
        this._lookups++;
        this._target = this._lookups === 1
          ? { address: p.address, family: p.family === 6 ? 'IPv6' : 'IPv4', port: this._target ? this._target.port : this._connectPort }
          : null;
      }
      this.emit('lookup', err, err ? undefined : p.address, err ? undefined : p.family, p.host);
      return;
    }
    case 'connect': {
      this.connecting = false;
      this._connected = true;
      if (!this._ipc && this._target) this._peername = this._target;
      updateLive(this);
      this._releaseWaiting();
      if (this.destroyed) return; // destroyed while connecting: Node emits no 'connect'
      this.emit('connect');
      this.emit('ready');
      return;
    }
    case 'ready': return;
    case 'drain': return; // the stream's own 'drain' is emitted from write callbacks
    case 'timeout': this._onTimeout(); return;
    case 'end':
      this._eof = true;
      updateLive(this);
      this.push(null);
      this.read(0);
      return;
    case 'error': {
      const err = fromWire(p.error);
      this._netdErrored = true;
      this.connecting = false;
      this.destroy(err);
      return;
    }
    case 'close': {
      this._netdClosed = true;
      this.connecting = false;
      getConn().handles.delete(this._id);
      this._failWrites();
      updateLive(this);
      if (this._destroyCb) { const cb = this._destroyCb; this._destroyCb = null; cb(); }
      return;
    }
    default:
  }
};

// Operations that waited for a netd id that will never come: writes fail at
// 'close' (their onClose hooks), an end just finishes.
Socket.prototype._dropPendingOps = function() {
  this._pendingOps = [];
  this._inflight = 0;
  this._preConnectWrites = 0;
  this._finalPending = false;
};

Socket.prototype._ctlFailed = function(err) {
  this._netdClosed = true;
  if (this._idPending) this._dropPendingOps();
  this._idPending = false;
  this.connecting = false;
  this._failWrites(err);
  updateLive(this);
  if (!this.destroyed) this.destroy(err);
  else if (this._destroyCb) { const cb = this._destroyCb; this._destroyCb = null; cb(); }
};

Socket.prototype._onTimeout = function() {
  this.emit('timeout');
};

Socket.prototype._read = function(n) {
  if (this._netdPaused && !this._netdClosed) {
    this._netdPaused = false;
    this._withId((id) => getConn().notify('socket.resume', { socket: id }));
    updateLive(this);
  }
};

Socket.prototype.pause = function() {
  return stream.Duplex.prototype.pause.call(this);
};
Socket.prototype.resume = function() {
  return stream.Duplex.prototype.resume.call(this);
};

// Writes: each chunk goes out as socket.write lines (at most LINE_CHUNK bytes
// each); the write callback runs on netd's reply to the last of them.
Socket.prototype._writeBuf = function(buf, cb) {
  const n = buf.length;
  this._bytesDispatched += n;
  const c = getConn();
  const pieces = [];
  if (n === 0) pieces.push(buf);
  for (let off = 0; off < n; off += LINE_CHUNK) pieces.push(buf.subarray(off, Math.min(n, off + LINE_CHUNK)));
  const w = { n, cb, called: false, left: pieces.length, err: null, pre: this.connecting || this._idPending };
  if (w.pre) this._preConnectWrites = (this._preConnectWrites || 0) + 1;
  this._inflight += n;
  this._withId((id) => {
    for (const piece of pieces) {
      c.writeData(id, piece, (err) => {
        if (err && !w.err) w.err = err;
        if (--w.left > 0) return;
        if (w.err && !this._connected && w.onClose) {
          // Node fails writes that waited for a connection at 'close'.
          this._inflight -= n;
          updateLive(this);
          if (w.pre && --this._preConnectWrites === 0 && this._held) this._replayHeld();
          return;
        }
        this._inflight -= n;
        if (!w.called) {
          w.called = true;
          if (w.onClose) this.removeListener('close', w.onClose);
          if (this._waiting === w) this._waiting = null;
          w.cb(w.err);
        } else if (w.err) {
          this._lateWriteError(w.err);
        }
        this._releaseWaiting();
        updateLive(this);
        if (w.pre && --this._preConnectWrites === 0 && this._held) this._replayHeld();
      });
    }
  });
  if (this._canComplete()) { w.called = true; cb(); } else this._waiting = w;
  if (!w.called && !this._connected && this.connecting) {
    w.onClose = () => {
      if (w.called) return;
      w.called = true;
      if (this._waiting === w) this._waiting = null;
      cb(nodeError(Error, 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION',
        'Socket closed before the connection was established'));
    };
    this.once('close', w.onClose);
    this.once('connect', () => this.removeListener('close', w.onClose));
  }
  updateLive(this);
};

Socket.prototype._canComplete = function() {
  return WRITE_WINDOW > 0 && this._inflight <= WRITE_WINDOW && this._id !== null &&
    !this._idPending && !this.connecting && !this.destroyed;
};

Socket.prototype._releaseWaiting = function() {
  const w = this._waiting;
  if (w && !w.called && this._canComplete()) {
    this._waiting = null;
    w.called = true;
    w.cb();
  }
};

Socket.prototype._lateWriteError = function(err) {
  // The write callback already ran (write window): the socket fails instead,
  // so that no byte is lost without an error.
  if (!this.destroyed) this.destroy(err);
};

Socket.prototype._failWrites = function() {};

Socket.prototype._write = function(chunk, encoding, cb) {
  const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
  this._writeBuf(buf, cb);
};

Socket.prototype._writev = function(chunks, cb) {
  const bufs = chunks.map(({ chunk, encoding }) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk));
  this._writeBuf(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs), cb);
};

Socket.prototype._final = function(cb) {
  if (this._id === null && !this._idPending) { cb(); return; }
  this._finalPending = true;
  updateLive(this);
  this._withId((id) => {
    getConn().call('socket.end', { socket: id }, () => {
      this._finalPending = false;
      updateLive(this);
      cb();
    });
  });
};

Socket.prototype._destroy = function(exception, cb) {
  this.connecting = false;
  if (this._server) {
    const server = this._server;
    this._server = null;
    server._connections--;
    server._emitCloseIfDrained();
  }
  if (this._netdClosed && !this._idPending) {
    cb(exception);
    const bare = this._id === null && !this._everConnecting; // never had a handle: Node emits 'close' with no argument
    process.nextTick(() => this._emitClose(exception, bare));
    updateLive(this);
    return;
  }
  if (this._idPending && !this._netdCallPending && this._id === null) {
    // A custom lookup still runs: no netd handle exists yet.
    this._lookupGen = (this._lookupGen || 0) + 1;
    this._idPending = false;
    this._netdClosed = true;
    this._dropPendingOps();
    cb(exception);
    process.nextTick(() => this._emitClose(exception));
    updateLive(this);
    return;
  }
  // Tell netd (unless it already tore the socket down) and wait for its close.
  if (!this._netdErrored) {
    this._withId((id) => getConn().notify('socket.destroy', { socket: id }));
  }
  cb(exception);
  this._destroyCb = () => setImmediate(() => this._emitClose(exception));
  updateLive(this);
};

Socket.prototype._emitClose = function(exception, bare) {
  if (this._closeEmitted) return;
  this._closeEmitted = true;
  this._netdErrored = false;
  if (bare) this.emit('close');
  else this.emit('close', Boolean(exception));
};

Socket.prototype.end = function(data, encoding, callback) {
  stream.Duplex.prototype.end.call(this, data, encoding, callback);
  return this;
};

Socket.prototype.destroySoon = function() {
  if (this.writable) this.end();
  if (this.writableFinished) this.destroy();
  else this.once('finish', this.destroy);
};

Socket.prototype.resetAndDestroy = function() {
  if (this._id !== null && !this._netdClosed) {
    if (this._ipc) throw nodeError(TypeError, 'ERR_INVALID_HANDLE_TYPE', 'This handle type cannot be sent');
    this._netdErrored = true; // netd closes it; no second destroy
    this._withId((id) => getConn().notify('socket.resetAndDestroy', { socket: id }));
    this.destroy();
  } else {
    this.destroy(E.SOCKET_CLOSED());
  }
  return this;
};

Socket.prototype.setTimeout = function(msecs, callback) {
  // Node's own validation, on a handle-less real socket (no side effects).
  validationSocket().setTimeout(msecs, callback);
  validationSocket().setTimeout(0);
  validationSocket().removeAllListeners('timeout');
  this.timeout = msecs;
  if (this.destroyed) return this;
  const ms = Math.trunc(msecs);
  this._timeoutMs = ms;
  if (ms === 0) {
    if (callback !== undefined) this.removeListener('timeout', callback);
  } else if (callback !== undefined) {
    this.once('timeout', callback);
  }
  if (this._id !== null || this._idPending) {
    this._withId((id) => getConn().notify('socket.setTimeout', { socket: id, timeout: Math.min(ms, 2147483647) }));
  }
  return this;
};
let vsock = null;
function validationSocket() {
  if (!vsock) vsock = new realNet.Socket();
  return vsock;
}

Socket.prototype.setNoDelay = function(enable) {
  const v = enable === undefined ? true : Boolean(enable);
  if (this._id === null && !this._idPending) { this._opts.noDelay = v; return this; }
  this._withId((id) => getConn().notify('socket.setNoDelay', { socket: id, noDelay: v }));
  return this;
};

Socket.prototype.setKeepAlive = function(enable, initialDelayMsecs) {
  const en = Boolean(enable);
  const delay = Math.max(0, ~~(initialDelayMsecs || 0));
  if (this._id === null && !this._idPending) {
    this._opts.keepAlive = en; this._opts.keepAliveInitialDelay = delay; return this;
  }
  this._withId((id) => getConn().notify('socket.setKeepAlive', { socket: id, enable: en, initialDelay: delay }));
  return this;
};

// Addresses: known locally for accepted sockets and IP-literal peers; else
// fetched with one synchronous socket.get (cached once connected).
Socket.prototype._fetchNames = function() {
  if (this._id === null || this._idPending || this._ipc) return false;
  const c = getConn();
  if (!c.canSync()) return false;
  const r = c.syncCall('socket.get', { socket: this._id });
  if (r.error) return false;
  const g = r.result;
  if (g.localAddress) this._sockname = { address: g.localAddress, family: g.localFamily, port: g.localPort };
  if (g.remoteAddress && !g.connecting) this._peername = { address: g.remoteAddress, family: g.remoteFamily, port: g.remotePort };
  return true;
};

Socket.prototype._getsockname = function() {
  if (this._ipc || (this._id === null && !this._idPending)) return {};
  if (!this._sockname && !this.connecting) this._fetchNames();
  return this._sockname || {};
};

Socket.prototype._getpeername = function() {
  if (this._ipc || (this._id === null && !this._idPending) || this.connecting) return this._peername || {};
  if (!this._peername && !this._netdClosed) this._fetchNames();
  return this._peername || {};
};

Socket.prototype.address = function() { return this._getsockname(); };

function protoGetter(name, fn) {
  Object.defineProperty(Socket.prototype, name, { get: fn, configurable: true, enumerable: false });
}
protoGetter('remoteAddress', function() { return this._getpeername().address; });
protoGetter('remoteFamily', function() { return this._getpeername().family; });
protoGetter('remotePort', function() { return this._getpeername().port; });
protoGetter('localAddress', function() { return this._getsockname().address; });
protoGetter('localPort', function() { return this._getsockname().port; });
protoGetter('localFamily', function() { return this._getsockname().family; });
protoGetter('_connecting', function() { return this.connecting; });
protoGetter('pending', function() { return (this._id === null && !this._idPending) || this.connecting || this._netdClosed; });
protoGetter('readyState', function() {
  if (this.connecting) return 'opening';
  if (this.readable && this.writable) return 'open';
  if (this.readable && !this.writable) return 'readOnly';
  if (!this.readable && this.writable) return 'writeOnly';
  return 'closed';
});
protoGetter('bufferSize', function() {
  if ((this._id !== null || this._idPending) && !this.destroyed) return this.writableLength;
  return undefined;
});
protoGetter('bytesWritten', function() {
  let bytes = this._bytesDispatched;
  const wb = this.writableBuffer;
  if (!wb) return undefined;
  for (const el of wb) bytes += Buffer.isBuffer(el.chunk) ? el.chunk.length : Buffer.byteLength(el.chunk, el.encoding);
  return bytes;
});

Socket.prototype.ref = function() {
  this._refd = true; updateLive(this); return this;
};
Socket.prototype.unref = function() {
  this._refd = false; updateLive(this); return this;
};

// ---------------------------------------------------------------------------
// Server

function Server(options, connectionListener) {
  if (!(this instanceof Server)) return new Server(options, connectionListener);
  EventEmitter.call(this);
  if (typeof options === 'function') {
    connectionListener = options;
    options = {};
    this.on('connection', connectionListener);
  } else if (options == null || typeof options === 'object') {
    options = { ...options };
    if (typeof connectionListener === 'function') this.on('connection', connectionListener);
  } else {
    throw E.INVALID_ARG_TYPE('options', 'of type object', options);
  }
  if (options.highWaterMark !== undefined && typeof options.highWaterMark !== 'number') {
    throw E.INVALID_ARG_TYPE('options.highWaterMark', 'of type number', options.highWaterMark);
  }
  this._connections = 0;
  this._id = null;
  this._listening = false;
  this._listenPending = false;
  this._address = null;
  this._refd = true;
  this._live = false;
  this._ipc = false;
  this._maxConnections = undefined;
  this.allowHalfOpen = options.allowHalfOpen || false;
  this.pauseOnConnect = !!options.pauseOnConnect;
  this.noDelay = Boolean(options.noDelay);
  this.keepAlive = Boolean(options.keepAlive);
  this.keepAliveInitialDelay = ~~((options.keepAliveInitialDelay || 0) / 1000);
  this.highWaterMark = options.highWaterMark;
  this._serverOptions = options;
}
Object.setPrototypeOf(Server.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Server, EventEmitter);

Object.defineProperty(Server.prototype, 'listening', {
  get() { return this._listening || Boolean(this._listenPending && this._provisional); },
  configurable: true, enumerable: true,
});
Object.defineProperty(Server.prototype, 'maxConnections', {
  get() { return this._maxConnections; },
  set(v) { this._maxConnections = v; this._pushMax(); },
  configurable: true, enumerable: true,
});

Server.prototype._wireMax = function() {
  const v = this._maxConnections;
  if (v === undefined || v === null || typeof v !== 'number' || Number.isNaN(v)) return null;
  if (v <= 0) return NODE_MAJOR < 21 && v === 0 ? null : 0; // Node < 21: 0 means no limit
  return Math.min(2147483647, Math.floor(v));
};

Server.prototype._pushMax = function() {
  if (this._id === null) return;
  getConn().notify('server.set', { server: this._id, maxConnections: this._wireMax() });
};

Server.prototype._isActive = function() {
  return this._listening || this._listenPending || this._netdClosing > 0;
};

Server.prototype._createHandle = function() {
  const o = this._serverOptions;
  const p = { allowHalfOpen: true }; // see Socket.prototype.connect
  if (o.pauseOnConnect) p.pauseOnConnect = true;
  if (o.noDelay) p.noDelay = true;
  if (o.keepAlive) p.keepAlive = true;
  if (o.keepAliveInitialDelay) p.keepAliveInitialDelay = Math.max(0, o.keepAliveInitialDelay | 0);
  if (typeof o.highWaterMark === 'number' && o.highWaterMark >= 0) p.highWaterMark = Math.floor(o.highWaterMark);
  return p;
};

Server.prototype.listen = function(...args) {
  const normalized = normalizeArgs(args);
  let options = normalized[0];
  const cb = normalized[1];
  if (this._listening || this._listenPending) throw E.SERVER_ALREADY_LISTEN();
  if (cb !== null) this.once('listening', cb);
  // listen(port, host, backlog[, cb]) / listen(path, backlog)
  const backlogFromArgs = (typeof args[1] === 'number' && (options.path !== undefined)) ? args[1]
    : (typeof args[2] === 'number' ? args[2] : undefined);
  if (options.handle !== undefined || options._handle !== undefined || typeof options.fd === 'number') {
    throw E.INVALID_ARG_VALUE('options', options, 'is not supported by netd (listen on a handle or fd)');
  }
  if (args.length === 0 || typeof args[0] === 'function' ||
      (typeof options.port === 'undefined' && 'port' in options) || options.port === null) {
    options = { ...options, port: 0 };
  }
  const backlog = options.backlog !== undefined ? options.backlog : backlogFromArgs;
  const p = {};
  if (typeof options.port === 'number' || typeof options.port === 'string') {
    p.port = validatePort(options.port, 'options.port');
    if (options.host !== undefined && options.host !== null) p.host = options.host;
    if (options.ipv6Only) p.ipv6Only = true;
    if (options.reusePort) p.reusePort = true;
    this._ipc = false;
  } else if (options.port === undefined && typeof options.path === 'string' && options.path !== '') {
    p.path = options.path;
    if (options.readableAll) p.readableAll = true;
    if (options.writableAll) p.writableAll = true;
    this._ipc = true;
  } else {
    throw E.INVALID_ARG_VALUE('options', options, 'must have the property "port" or "path"');
  }
  if (typeof backlog === 'number' && backlog >= 0) p.backlog = Math.floor(backlog);
  if (options.signal) {
    const signal = options.signal;
    const onAbort = () => this.close();
    if (signal.aborted) process.nextTick(onAbort);
    else { signal.addEventListener('abort', onAbort, { once: true }); this.once('close', () => signal.removeEventListener('abort', onAbort)); }
  }
  const c = getConn();
  const hostIsName = p.host !== undefined && !realNet.isIP(p.host);
  this._listenGen = (this._listenGen || 0) + 1;
  const gen = this._listenGen;
  if (!hostIsName && c.canSync()) {
    // Node binds synchronously here: so does this, to make address() answer now.
    if (this._id === null) {
      const r = c.syncCall('net.createServer', this._createHandle());
      if (r.error) { process.nextTick(() => this.emit('error', r.error)); return this; }
      this._id = r.result.server;
      c.handles.set(this._id, this);
      if (this._maxConnections !== undefined) this._pushMax();
    }
    p.server = this._id;
    const r = c.syncCall('server.listen', p);
    if (r.error) {
      process.nextTick(() => this.emit('error', r.error));
      return this;
    }
    this._listening = true;
    this._address = this._ipc ? p.path : r.result; // Node: the path as given, even relative
    updateLive(this);
    process.nextTick(() => { if (this._listening && this._listenGen === gen) this.emit('listening'); });
    return this;
  }
  // A host name (or a busy control connection): the answer comes later.
  // What can be known without netd is answered meanwhile, as Node would:
  // the path, or an explicit port on the wildcard or an IP literal.
  this._provisional = null;
  if (!hostIsName) {
    if (p.path) this._provisional = p.path;
    else if (p.port) {
      this._provisional = p.host !== undefined
        ? { address: p.host, family: familyOf(p.host), port: p.port }
        : { address: '::', family: 'IPv6', port: p.port };
    }
  }
  this._listenPending = true;
  updateLive(this);
  const doListen = () => {
    p.server = this._id;
    c.call('server.listen', p, (err, res) => {
      if (this._listenGen !== gen || !this._listenPending) return;
      this._listenPending = false;
      if (err) {
        updateLive(this);
        if (err.code !== 'ERR_SERVER_NOT_RUNNING') this.emit('error', err);
        return;
      }
      this._listening = true;
      this._address = this._ipc ? p.path : res;
      updateLive(this);
      this.emit('listening');
    });
  };
  if (this._id === null) {
    c.call('net.createServer', this._createHandle(), (err, res) => {
      if (err) { this._listenPending = false; updateLive(this); this.emit('error', err); return; }
      this._id = res.server;
      c.handles.set(this._id, this);
      if (this._maxConnections !== undefined) this._pushMax();
      if (this._listenGen === gen && this._listenPending) doListen();
    });
  } else {
    doListen();
  }
  return this;
};

Server.prototype._onEvent = function(ev, p) {
  switch (ev) {
    case 'connection': {
      if (!this._listening || p.server !== this._id) {
        // closed locally meanwhile (or an earlier listen's): Node would never have accepted it
        getConn().notify('socket.destroy', { socket: p.socket });
        return;
      }
      const socket = new Socket({
        [kAccept]: {
          id: p.socket, ipc: this._ipc, pauseOnConnect: this.pauseOnConnect,
          remoteAddress: p.remoteAddress, remotePort: p.remotePort, remoteFamily: p.remoteFamily,
          localAddress: p.localAddress, localPort: p.localPort,
        },
        allowHalfOpen: this.allowHalfOpen,
        highWaterMark: this.highWaterMark,
      });
      this._connections++;
      socket.server = this;
      socket._server = this;
      this.emit('connection', socket);
      return;
    }
    case 'drop': {
      if (this._ipc || p.remoteAddress == null) { this.emit('drop'); return; }
      this.emit('drop', {
        localAddress: p.localAddress, localPort: p.localPort, localFamily: p.localFamily,
        remoteAddress: p.remoteAddress, remotePort: p.remotePort, remoteFamily: p.remoteFamily,
      });
      return;
    }
    case 'close':
      getConn().handles.delete(p.server);
      return;
    default: // listening/error: handled through the listen reply
  }
};

Server.prototype._ctlFailed = function(err) {
  const was = this._listening || this._listenPending;
  this._listening = false; this._listenPending = false; this._address = null;
  this._id = null;
  updateLive(this);
  if (was) this.emit('error', err);
};

Server.prototype.address = function() {
  if (this._listening) return this._address;
  if (this._listenPending && this._provisional) return this._provisional;
  return null;
};

Server.prototype.close = function(cb) {
  if (typeof cb === 'function') {
    if (!this._listening && !this._listenPending) {
      this.once('close', function close() { cb(E.SERVER_NOT_RUNNING()); });
    } else {
      this.once('close', cb);
    }
  }
  if (this._id !== null && (this._listening || this._listenPending)) {
    // 'close' waits for netd too: then the IPC path is unlinked, as in Node.
    this._netdClosing = (this._netdClosing || 0) + 1;
    getConn().call('server.close', { server: this._id }, () => {
      this._netdClosing--;
      updateLive(this);
      this._emitCloseIfDrained();
    });
    this._id = null; // netd's server is closed for good; a later listen makes a new one
  }
  this._listening = false;
  this._listenPending = false;
  this._address = null;
  updateLive(this);
  this._emitCloseIfDrained();
  return this;
};

Server.prototype._emitCloseIfDrained = function() {
  if (this._listening || this._listenPending || this._connections || this._netdClosing) return;
  process.nextTick(() => this.emit('close'));
};

Server.prototype.getConnections = function(cb) {
  const n = this._connections;
  process.nextTick(cb, null, n);
  return this;
};

Server.prototype.ref = function() { this._refd = true; updateLive(this); return this; };
Server.prototype.unref = function() { this._refd = false; updateLive(this); return this; };

if (Symbol.asyncDispose) {
  Server.prototype[Symbol.asyncDispose] = function() {
    if (!this._listening && !this._listenPending) return Promise.resolve();
    return new Promise((resolve, reject) => this.close((err) => (err ? reject(err) : resolve())));
  };
}

// ---------------------------------------------------------------------------
// Module functions

function createServer(options, connectionListener) {
  return new Server(options, connectionListener);
}

function connect(...args) {
  const normalized = normalizeArgs(args);
  const options = normalized[0];
  if (args.length === 0 || (options.port === undefined && options.path == null)) throw E.MISSING_ARGS();
  const socket = new Socket(options);
  if (options.timeout) socket.setTimeout(options.timeout);
  normalized[kNormalized] = true;
  return Socket.prototype.connect.call(socket, normalized);
}

module.exports = {
  _createServerHandle: realNet._createServerHandle,
  _normalizeArgs: normalizeArgs,
  _setSimultaneousAccepts: realNet._setSimultaneousAccepts,
  BlockList: realNet.BlockList,
  SocketAddress: realNet.SocketAddress,
  connect,
  createConnection: connect,
  createServer,
  isIP: realNet.isIP,
  isIPv4: realNet.isIPv4,
  isIPv6: realNet.isIPv6,
  Server,
  Socket,
  Stream: Socket,
  getDefaultAutoSelectFamily: realNet.getDefaultAutoSelectFamily,
  setDefaultAutoSelectFamily: realNet.setDefaultAutoSelectFamily,
  getDefaultAutoSelectFamilyAttemptTimeout: realNet.getDefaultAutoSelectFamilyAttemptTimeout,
  setDefaultAutoSelectFamilyAttemptTimeout: realNet.setDefaultAutoSelectFamilyAttemptTimeout,
};
for (const k of Object.keys(module.exports)) if (module.exports[k] === undefined) delete module.exports[k];
Object.defineProperty(module.exports, '_netd', {
  value: { realNet, socketPath: defaultSocketPath, fromWire, get connection() { return conn; } },
  enumerable: false,
});
