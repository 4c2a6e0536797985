'use strict';
// Preload with `node -r /path/to/client-lib/node/register.js app.js`: every
// require('net') / require('node:net') then returns the netd drop-in, and
// http(s) agents open their connections through it. NETD_SOCKET picks the daemon.
const Module = require('module');
const dropin = require('./index.js'); // captures Node's own net first

const origLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === 'net' || request === 'node:net') return dropin;
  return origLoad.apply(this, arguments);
};

// http's agents call net.createConnection through a reference taken when
// _http_agent loaded; point the prototype (and so globalAgent) at the drop-in.
try {
  const http = origLoad.call(Module, 'http', null, false);
  http.Agent.prototype.createConnection = dropin.createConnection;
} catch (e) { /* http unavailable: nothing to patch */ }

// ES modules: `import net from 'node:net'` too, where Node has loader hooks.
if (typeof Module.register === 'function') {
  try {
    Module.register('./esm-hooks.mjs', require('url').pathToFileURL(__filename));
  } catch (e) { /* hooks unavailable: CommonJS only (README, deviations) */ }
}

module.exports = dropin;
