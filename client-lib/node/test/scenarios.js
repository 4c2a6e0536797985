'use strict';
// Differential scenarios: each is run once with Node's own net and once with
// the netd drop-in (run-scenario.js); both runs must record the same thing.
// Only what a program can rely on is recorded: per-object event sequences,
// data (chunking merged), error objects, return values. Ports and paths are
// aliased so that the two runs compare equal.
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const SOCK_EVENTS = ['connect', 'ready', 'data', 'end', 'finish', 'timeout', 'error', 'close'];

module.exports = {
  // Echo, plus address() right after listen() and the byte counters.
  echo(net, R) {
    const server = net.createServer((s) => {
      R.watch('accepted', s, SOCK_EVENTS);
      R.ev('accepted', 'remote', s.remoteAddress, s.remoteFamily, s.localPort === server.address().port);
      s.pipe(s);
    });
    R.watch('server', server, ['listening', 'close', 'error']);
    const ret = server.listen(0);
    R.ev('main', 'listen returns server', ret === server);
    const addr = server.address();
    R.alias(addr.port, 'PORT');
    R.ev('main', 'address after listen', addr);
    R.ev('main', 'listening after listen', server.listening);
    const c = net.connect(addr.port, '127.0.0.1', () => {
      R.ev('client', 'connect cb', c.remoteAddress, c.remotePort, c.remoteFamily, typeof c.localPort,
        c.address().family, c.readyState);
      R.ev('client', 'write returns', c.write('hello'));
      c.end(' world', () => R.ev('client-w', 'end cb'));
    });
    R.ev('client', 'connecting', c.connecting, c.readyState, c.pending);
    // The write side's 'finish' races the echo coming back: logged apart.
    R.watch('client', c, ['connect', 'ready', 'data', 'end', 'timeout', 'error', 'close']);
    R.watch('client-w', c, ['finish']);
    c.setEncoding('utf8');
    c.on('close', () => {
      R.ev('client', 'counters', c.bytesRead, c.bytesWritten, c.destroyed, c.readyState);
      server.close(() => R.ev('server', 'close cb', server.address(), server.listening));
    });
  },

  // 64 MiB of random bytes to an echo server and back, checked by hash;
  // write()'s return value and 'drain' drive the sender.
  big(net, R) {
    const total = 64 * 1024 * 1024;
    const block = crypto.randomBytes(1024 * 1024);
    const sent = crypto.createHash('sha256');
    const got = crypto.createHash('sha256');
    const server = net.createServer((s) => {
      let n = 0;
      s.on('data', (d) => { n += d.length; });
      s.on('end', () => R.ev('accepted', 'end', n));
      s.on('close', (h) => R.ev('accepted', 'close', h));
      s.pipe(s);
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1');
      let written = 0; let received = 0; let falses = 0; let drains = 0;
      c.on('data', (d) => { received += d.length; got.update(d); });
      c.on('drain', () => { drains++; pump(); });
      function pump() {
        while (written < total) {
          const chunk = block.subarray(0, Math.min(64 * 1024, total - written));
          // vary the data: xor-free variation by rotating the window
          const off = (written / 65536) % 16;
          const data = block.subarray(off * 65536, off * 65536 + chunk.length);
          sent.update(data);
          written += data.length;
          if (!c.write(data)) { falses++; return; }
        }
        c.end();
      }
      c.on('connect', pump);
      c.on('end', () => R.ev('client', 'end'));
      c.on('close', (h) => {
        R.ev('client', 'close', h, received, c.bytesWritten, c.bytesRead,
          sent.digest('hex') === got.digest('hex'), falses > 0, drains === falses);
        server.close();
      });
    });
  },

  // allowHalfOpen on both ends: the server answers after the client's FIN.
  halfOpen(net, R) {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      R.watch('accepted', s, SOCK_EVENTS);
      s.setEncoding('utf8');
      s.on('end', () => {
        R.ev('accepted', 'writable after end', s.writable, s.readyState);
        s.write('pong', () => R.ev('accepted', 'write cb'));
        setTimeout(() => s.end('!'), 50);
      });
    });
    server.listen(0, () => {
      const c = net.connect({ port: server.address().port, host: '127.0.0.1', allowHalfOpen: true });
      R.watch('client', c, SOCK_EVENTS);
      c.setEncoding('utf8');
      c.on('connect', () => c.end('ping'));
      c.on('finish', () => R.ev('client', 'state after finish', c.readyState, c.writable));
      c.on('close', () => server.close());
    });
  },

  // Without allowHalfOpen, the peer's FIN ends our side after 'end'; a write
  // after that is EPIPE "ended by the other party"; a write after our own
  // end() is ERR_STREAM_WRITE_AFTER_END.
  writeAfterEnd(net, R) {
    const server = net.createServer((s) => {
      R.watch('accepted', s, SOCK_EVENTS);
      s.on('end', () => {
        setTimeout(() => {
          s.write('late', (err) => R.ev('accepted', 'late write cb', err));
        }, 100);
      });
      s.resume();
    });
    server.listen(0, () => {
      const c = net.connect(server.address().port, '127.0.0.1', () => {
        c.end('bye');
        c.write('more', (err) => R.ev('client', 'write after end cb', err));
      });
      R.watch('client', c, ['connect', 'finish', 'error', 'close']);
      c.resume();
      c.on('close', () => server.close());
    });
  },

  refused(net, R) {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1', () => {
      const port = probe.address().port;
      R.alias(port, 'PORT');
      probe.close(() => {
        const c = net.connect(port, '127.0.0.1');
        R.watch('client', c, ['lookup', ...SOCK_EVENTS]);
        c.write('queued', (err) => R.ev('client', 'write cb', err));
        c.on('close', () => R.ev('client', 'after close', c.destroyed, c.remoteAddress, c.bufferSize));
      });
    });
  },

  inUse(net, R) {
    const a = net.createServer();
    a.listen(0, '127.0.0.1', () => {
      const port = a.address().port;
      R.alias(port, 'PORT');
      const b = net.createServer();
      R.watch('b', b, ['listening', 'error', 'close']);
      b.listen(port, '127.0.0.1');
      b.once('error', () => {
        R.ev('b', 'after error', b.listening, b.address());
        b.listen(0, '127.0.0.1', () => {
          R.ev('b', 'relisten', b.listening, b.address().port !== port);
          b.close(); a.close();
        });
      });
    });
  },

  // A name that does not resolve (through a custom lookup, as Node's options
  // allow: no network involved) and an IPC path that does not exist.
  notFound(net, R) {
    const lookup = (host, opts, cb) => {
      const e = new Error(`getaddrinfo ENOTFOUND ${host}`);
      Object.assign(e, { errno: -3008, code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: host });
      cb(e);
    };
    const c = net.connect({ port: 80, host: 'nonexistent.invalid', lookup });
    R.watch('dns', c, ['lookup', 'connect', 'error', 'close']);
    c.on('close', () => {
      const p = net.connect(path.join(R.alias(R.dir, 'DIR'), 'no-such.sock'));
      R.watch('ipc', p, ['connect', 'error', 'close']);
    });
  },

  // A custom lookup's address is the one connected to; 'lookup' per address.
  customLookup(net, R) {
    const server = net.createServer((s) => s.end('found'));
    server.listen(0, '127.0.0.1', () => {
      const seen = [];
      const lookup = (host, opts, cb) => {
        seen.push(host, Boolean(opts.all));
        if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
        else cb(null, '127.0.0.1', 4);
      };
      const c = net.connect({ port: server.address().port, host: 'my.service', lookup });
      R.ev('client', 'lookup called', ...seen);
      R.watch('client', c, ['lookup', 'connect', 'data', 'end', 'error', 'close']);
      c.setEncoding('utf8');
      c.on('connect', () => R.ev('client', 'remote', c.remoteAddress, c.remoteFamily));
      c.on('close', () => server.close());
    });
  },

  timeouts(net, R) {
    const s0 = new net.Socket();
    R.tryThrow('validate', 'setTimeout("a")', () => s0.setTimeout('a'));
    R.tryThrow('validate', 'setTimeout(-1)', () => s0.setTimeout(-1));
    R.tryThrow('validate', 'setTimeout(1, 5)', () => s0.setTimeout(1, 5));
    R.ev('validate', 'returns this', s0.setTimeout(0) === s0, s0.setNoDelay() === s0, s0.setKeepAlive(true) === s0);
    const server = net.createServer((s) => {
      s.on('data', () => {});
      s.on('close', () => server.close());
    });
    server.listen(0, () => {
      const c = net.connect({ port: server.address().port, host: '127.0.0.1', timeout: 150 });
      R.watch('client', c, SOCK_EVENTS);
      let n = 0;
      c.on('timeout', () => {
        n++;
        R.ev('client', 'timeout value', c.timeout);
        if (n === 1) { c.write('activity'); } else { c.setTimeout(0); c.end(); }
      });
    });
  },

  maxConnections(net, R) {
    let first;
    let port;
    let conns = 0;
    const server = net.createServer((s) => {
      R.ev('server', 'connection');
      s.on('close', () => R.ev('server', 'accepted close'));
      s.on('data', () => {});
      s.on('end', () => s.end());
      if (++conns === 1) {
        const second = net.connect(port, '127.0.0.1');
        second.on('connect', () => R.ev('second', 'connect'));
        second.on('error', () => {});
        second.on('close', () => R.ev('second', 'close'));
      }
    });
    server.maxConnections = 1;
    R.ev('server', 'maxConnections', server.maxConnections);
    server.on('drop', (d) => {
      R.ev('server', 'drop', d && Object.keys(d), d && d.localPort === server.address().port,
        d && d.remoteAddress, d && d.remoteFamily, d && d.localFamily);
      server.getConnections((err, n) => {
        R.ev('server', 'getConnections', err, n);
        first.end();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      port = server.address().port;
      first = net.connect(port, '127.0.0.1', () => R.ev('first', 'connect'));
      first.resume();
      first.on('close', (h) => {
        R.ev('first', 'close', h);
        server.close(() => R.ev('server', 'closed'));
      });
    });
  },

  ipc(net, R) {
    const dir = R.alias(R.dir, 'DIR');
    const p = path.join(dir, 's.sock');
    const server = net.createServer((s) => {
      R.watch('accepted', s, SOCK_EVENTS);
      R.ev('accepted', 'addresses', s.remoteAddress, s.address());
      s.pipe(s);
    });
    R.watch('server', server, ['listening', 'error', 'close']);
    server.listen(p);
    R.ev('server', 'address', server.address());
    server.on('listening', () => {
      R.ev('server', 'file exists', fs.existsSync(p));
      const other = net.createServer();
      R.watch('other', other, ['listening', 'error', 'close']);
      other.listen(p);
      const c = net.connect(p);
      R.watch('client', c, ['connect', 'ready', 'data', 'end', 'error', 'close']);
      R.watch('client-w', c, ['finish']);
      c.setEncoding('utf8');
      c.end('over a UNIX socket');
      c.on('close', () => server.close(() => R.ev('server', 'file after close', fs.existsSync(p))));
    });
  },

  // Unref'd server and sockets do not keep the process alive; a ref'd timer
  // does until it closes things.
  unrefExit(net, R) {
    const server = net.createServer((s) => {
      R.ev('server', 'connection');
      s.unref();
    });
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      const c = net.connect(server.address().port, '127.0.0.1', () => {
        R.ev('client', 'connect');
        c.unref();
        setTimeout(() => R.ev('main', 'timer fired'), 100);
      });
    });
    process.on('beforeExit', () => R.ev('process', 'beforeExit'));
  },

  // A connected client socket keeps the process alive until it is closed.
  refKeepsAlive(net, R) {
    const server = net.createServer((s) => {
      s.on('end', () => { R.ev('server', 'end'); s.end(); server.close(); });
      s.resume();
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1', () => {
        R.ev('client', 'connect');
        const t = setTimeout(() => { R.ev('client', 'ending'); c.end(); }, 200);
        t.unref(); // only the socket keeps the process alive now
      });
      c.resume();
      c.on('close', () => R.ev('client', 'close'));
    });
  },

  destroyWithError(net, R) {
    const server = net.createServer((s) => {
      R.watch('accepted', s, SOCK_EVENTS);
      s.resume();
      s.on('close', () => server.close());
    });
    server.listen(0, () => {
      const c = net.connect(server.address().port, '127.0.0.1', () => {
        const e = new Error('boom');
        e.code = 'EBOOM';
        const r = c.destroy(e);
        R.ev('client', 'destroy returns', r === c, c.destroyed);
        R.ev('client', 'second destroy returns', c.destroy() === c);
        c.write('x', (err) => R.ev('client', 'write after destroy cb', err));
      });
      R.watch('client', c, SOCK_EVENTS);
    });
  },

  // Pausing stops 'data' without losing any byte.
  pauseResume(net, R) {
    const payload = crypto.randomBytes(3 * 1024 * 1024);
    const server = net.createServer((s) => { s.end(payload); });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1');
      const h = crypto.createHash('sha256');
      let n = 0; let during = 0; let paused = false;
      c.on('data', (d) => {
        if (paused) during++;
        n += d.length; h.update(d);
        if (n > 256 * 1024 && n - d.length <= 256 * 1024) {
          c.pause(); paused = true;
          R.ev('client', 'isPaused', c.isPaused());
          setTimeout(() => { paused = false; c.resume(); }, 200);
        }
      });
      c.on('end', () => {
        R.ev('client', 'end', n, during, h.digest('hex') === crypto.createHash('sha256').update(payload).digest('hex'));
        server.close();
      });
    });
  },

  // Synchronous argument errors: same class, code and message.
  validation(net, R) {
    const t = (what, fn) => R.tryThrow('throws', what, fn);
    t('connect()', () => net.connect());
    t('connect({})', () => net.connect({}));
    t('connect({port:70000})', () => net.connect({ port: 70000 }));
    t('connect({port:-1})', () => net.connect({ port: -1 }));
    t('connect({port:true})', () => net.connect({ port: true }));
    t('connect("abc" as port)', () => net.connect({ port: 'abc' }));
    t('connect({path:5})', () => net.connect({ path: 5 }));
    t('connect localAddress', () => net.connect({ port: 80, localAddress: 'x' }));
    t('createServer("x")', () => net.createServer('x'));
    t('createServer(0)', () => net.createServer(0));
    t('createServer hwm', () => net.createServer({ highWaterMark: 'x' }));
    t('new Socket objectMode', () => new net.Socket({ objectMode: true }));
    t('listen({})', () => net.createServer().listen({}));
    t('listen(70000)', () => net.createServer().listen(70000));
    t('listen({port:"abc"})', () => net.createServer().listen({ port: 'abc' }));
    const s = net.createServer();
    s.listen(0);
    t('listen twice', () => s.listen(0));
    s.close();
    const sock = new net.Socket();
    t('write(5)', () => sock.write(5));
    t('write(null)', () => sock.write(null));
    R.ev('module', 'isIP', net.isIP('::ffff:1.2.3.4'), net.isIP('127.000.000.001'), net.isIPv4('1.2.3.4'), net.isIPv6('::1'));
    R.ev('module', 'exports', Object.keys(net).sort());
    R.ev('module', 'Server without new', net.Server() instanceof net.Server, net.Socket() instanceof net.Stream);
    R.ev('module', 'autoselect', typeof net.getDefaultAutoSelectFamily === 'function' && net.getDefaultAutoSelectFamily(),
      typeof net.getDefaultAutoSelectFamilyAttemptTimeout === 'function' && net.getDefaultAutoSelectFamilyAttemptTimeout());
    R.ev('module', 'classes', new net.Socket() instanceof require('stream').Duplex,
      net.createServer() instanceof require('events').EventEmitter, typeof net.BlockList, typeof net.SocketAddress);
    const closed = net.createServer();
    closed.close((err) => R.ev('closeNotRunning', 'cb', err));
    closed.on('close', () => R.ev('closeNotRunning', 'close'));
    const bare = new net.Socket();
    R.ev('bare', 'state', bare.readyState, bare.pending, bare.bufferSize, bare.bytesWritten, bare.remoteAddress, bare.address());
    bare.on('close', (h) => R.ev('bare', 'close', h));
    bare.destroy();
  },

  // write()'s return value, bufferSize and bytesWritten right after write,
  // while connecting (nothing can have been sent yet).
  writeAccounting(net, R) {
    const server = net.createServer((s) => { s.resume(); s.on('end', () => { s.end(); server.close(); }); });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect({ port: server.address().port, host: '127.0.0.1', highWaterMark: 8 });
      const rets = [];
      rets.push(c.write('abc'), c.bufferSize, c.bytesWritten);
      rets.push(c.write('L\'État'), c.bufferSize, c.bytesWritten);
      rets.push(c.write(Buffer.alloc(10)), c.bufferSize, c.bytesWritten);
      R.ev('client', 'while connecting', ...rets);
      R.watch('client', c, ['connect', 'drain', 'finish', 'close']);
      c.on('drain', () => R.ev('client', 'on drain', c.bufferSize, c.bytesWritten));
      c.on('connect', () => c.end());
      c.resume();
      c.on('finish', () => R.ev('client', 'on finish', c.bufferSize, c.bytesWritten));
    });
  },

  // http's agent opens its connections through require('net') (the drop-in
  // under register.js); http.Server stays on Node's own net in both runs.
  httpAgent(net, R) {
    const http = require('http');
    const server = http.createServer((req, res) => res.end(`hi ${req.method} ${req.url}`));
    server.listen(0, '127.0.0.1', () => {
      const req = http.get({ host: '127.0.0.1', port: server.address().port, path: '/x' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { body += d; });
        res.on('end', () => { R.ev('client', 'response', res.statusCode, body); server.close(); });
      });
      req.on('socket', (s) => R.ev('client', 'socket is net.Socket', s instanceof net.Socket));
      req.on('error', (e) => R.ev('client', 'error', e));
    });
  },

  // A net.Socket connects again after 'close' (Node reuses the object).
  reconnect(net, R) {
    let n = 0;
    const server = net.createServer((s) => { s.end(`conn ${++n}`); });
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      const c = new net.Socket();
      R.watch('client', c, ['connect', 'data', 'end', 'error', 'close']);
      c.setEncoding('utf8');
      let rounds = 0;
      c.on('close', () => {
        R.ev('client', 'state', c.destroyed, c.readyState);
        if (++rounds < 2) c.connect(port, '127.0.0.1');
        else server.close();
      });
      R.ev('client', 'connect returns', c.connect(port, '127.0.0.1') === c);
    });
  },

  // pauseOnConnect: nothing is read until resume(); then everything arrives.
  pauseOnConnect(net, R) {
    const server = net.createServer({ pauseOnConnect: true }, (s) => {
      R.ev('accepted', 'connection', s.isPaused(), s.bytesRead);
      setTimeout(() => {
        R.ev('accepted', 'before resume', s.bytesRead);
        s.setEncoding('utf8');
        R.watch('accepted', s, ['data', 'end', 'close']);
        s.on('end', () => { s.end(); server.close(); });
        s.resume();
      }, 100);
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1', () => c.end('early bytes'));
      c.resume();
      c.on('close', (h) => R.ev('client', 'close', h));
    });
  },

  // server.close() keeps existing connections; 'close' waits for the last.
  closeKeepsConnections(net, R) {
    const server = net.createServer((s) => {
      server.close(() => R.ev('server', 'close cb'));
      R.ev('server', 'after close()', server.listening, server.address());
      s.setEncoding('utf8');
      s.on('data', (d) => { R.data('accepted', d); s.end('still here'); });
      s.on('close', () => R.ev('accepted', 'close'));
      const late = net.connect(port, '127.0.0.1');
      late.on('error', (e) => R.ev('late', 'error', e.code));
      late.on('close', () => R.ev('late', 'close'));
    });
    let port;
    server.on('close', () => R.ev('server', 'close'));
    server.listen(0, '127.0.0.1', () => {
      port = server.address().port;
      R.alias(port, 'PORT');
      const c = net.connect(port, '127.0.0.1', () => setTimeout(() => c.write('hi'), 50));
      c.setEncoding('utf8');
      c.on('data', (d) => R.data('client', d));
      c.on('close', () => R.ev('client', 'close'));
    });
  },

  // A half-open socket that got the peer's FIN stops counting as active
  // (libuv stops the handle at EOF): with the rest unref'd, the process exits.
  halfOpenExit(net, R) {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('end', () => R.ev('accepted', 'end', s.writable));
      s.resume();
    });
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      const c = net.connect({ port: server.address().port, host: '127.0.0.1', allowHalfOpen: true });
      c.on('connect', () => c.end());
      c.on('finish', () => { R.ev('client', 'finish'); c.unref(); });
    });
  },

  // A relative IPC path is the program's (cwd-relative), not the daemon's.
  ipcRelative(net, R) {
    process.chdir(R.alias(R.dir, 'DIR'));
    const server = net.createServer((s) => s.end('rel'));
    server.listen('rel.sock', () => {
      R.ev('server', 'address', server.address(), fs.existsSync(path.join(R.dir, 'rel.sock')));
      const c = net.connect('rel.sock');
      c.setEncoding('utf8');
      c.on('data', (d) => R.data('client', d));
      c.on('close', () => server.close(() => R.ev('server', 'unlinked', !fs.existsSync(path.join(R.dir, 'rel.sock')))));
    });
  },

  // import('node:net') gives what require('net') gives (ESM loader hooks).
  esmImport(net, R) {
    Promise.all([import('node:net'), import('net')]).then(([a, b]) => {
      R.ev('esm', 'same as require', a.default === net, b.default === net,
        a.createServer === net.createServer, b.Socket === net.Socket);
    });
  },

  // resetAndDestroy: the peer sees ECONNRESET, the socket itself only 'close'.
  resetAndDestroy(net, R) {
    const server = net.createServer((s) => {
      R.watch('accepted', s, ['data', 'end', 'error', 'close']);
      s.on('close', () => server.close());
      s.write('hello');
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1');
      R.watch('client', c, ['connect', 'error', 'close']);
      c.once('data', () => R.ev('client', 'resetAndDestroy returns', c.resetAndDestroy() === c));
    });
  },

  // An AbortSignal given to connect destroys the socket with an AbortError.
  abortSignal(net, R) {
    const server = net.createServer((s) => { s.resume(); s.on('close', () => server.close()); });
    server.listen(0, '127.0.0.1', () => {
      const ac = new AbortController();
      const c = net.connect({ port: server.address().port, host: '127.0.0.1', signal: ac.signal });
      R.watch('client', c, ['connect', 'error', 'close']);
      c.on('connect', () => ac.abort());
    });
  },

  // Many connections at once through the one control connection.
  manyConnections(net, R) {
    const N = 64;
    const server = net.createServer((s) => s.pipe(s));
    server.listen(0, '127.0.0.1', () => {
      let done = 0; let ok = 0;
      for (let i = 0; i < N; i++) {
        const payload = crypto.randomBytes(10000 + i * 997);
        const c = net.connect(server.address().port, '127.0.0.1', () => c.end(payload));
        const parts = [];
        c.on('data', (d) => parts.push(d));
        c.on('close', (h) => {
          if (!h && Buffer.concat(parts).equals(payload)) ok++;
          if (++done === N) {
            server.getConnections((err, n) => {
              R.ev('server', 'all closed', ok, err, n);
              server.close(() => R.ev('server', 'closed'));
            });
          }
        });
      }
    });
  },

  // listen() on a host name resolves first: no address until 'listening'.
  listenHostname(net, R) {
    const server = net.createServer();
    server.listen(0, 'localhost');
    R.ev('server', 'right after listen', server.address(), server.listening);
    server.on('listening', () => {
      const a = server.address();
      R.ev('server', 'listening', typeof a.port, a.port > 0, server.listening);
      server.close();
    });
    server.on('close', () => R.ev('server', 'close'));
  },

  // setEncoding keeps multi-byte characters whole across chunks.
  encodings(net, R) {
    const text = 'héllo wörld ✓ 😀 '.repeat(5000);
    const server = net.createServer((s) => {
      const b = Buffer.from(text, 'utf8');
      for (let i = 0; i < b.length; i += 7) s.write(b.subarray(i, i + 7));
      s.end();
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect(server.address().port, '127.0.0.1');
      c.setEncoding('utf8');
      let got = ''; let bad = 0;
      c.on('data', (d) => { if (d.includes('\ufffd')) bad++; got += d; });
      c.on('end', () => { R.ev('client', 'text', got === text, bad, c.bytesRead); server.close(); });
      c.write('ünïcödé', 'latin1');
      c.write('6869', 'hex');
      c.end(Buffer.from('!'), () => R.ev('client', 'bytesWritten', c.bytesWritten));
    });
  },

  // listen() while 32 MiB of writes are on their way (for the drop-in: the
  // control connection has unsent output, so the listen cannot be a
  // synchronous round trip): the path, or an explicit port without host, is
  // still the address right after listen().
  listenWhileBusy(net, R) {
    const probe = net.createServer();
    probe.listen(0, () => {
      const port = R.alias(probe.address().port, 'PORT');
      probe.close(() => {
        const sink = net.createServer((s) => {
          let n = 0;
          s.on('data', (d) => { n += d.length; });
          s.on('end', () => { R.ev('sink', 'got', n); s.end(); sink.close(); });
        });
        sink.listen(0, '127.0.0.1', () => {
          const c = net.connect(sink.address().port, '127.0.0.1', () => {
            c.write(Buffer.alloc(32 * 1024 * 1024, 1));
            const a = net.createServer();
            a.listen(path.join(R.alias(R.dir, 'DIR'), 'busy.sock'));
            R.ev('a', 'right after listen', a.address(), a.listening);
            const b = net.createServer();
            b.listen(port);
            R.ev('b', 'right after listen', b.address(), b.listening);
            let n = 0;
            const both = () => { if (++n === 2) { a.close(); b.close(); c.end(); } };
            a.on('listening', () => { R.ev('a', 'listening', a.address()); both(); });
            b.on('listening', () => { R.ev('b', 'listening', b.address()); both(); });
          });
          c.on('close', () => R.ev('client', 'close'));
        });
      });
    });
  },
};

