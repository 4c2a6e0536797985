// The drop-in as an ES module (what esm-hooks.mjs maps node:net to).
import { createRequire } from 'node:module';

const net = createRequire(import.meta.url)('./index.js');
export default net;
export const {
  BlockList, SocketAddress, connect, createConnection, createServer, isIP, isIPv4, isIPv6,
  Server, Socket, Stream, getDefaultAutoSelectFamily, setDefaultAutoSelectFamily,
  getDefaultAutoSelectFamilyAttemptTimeout, setDefaultAutoSelectFamilyAttemptTimeout,
} = net;
