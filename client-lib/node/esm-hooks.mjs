// ESM loader hooks (installed by register.js where Node has module.register,
// 18.19+, 20.6+): `import net from 'node:net'` / `'net'` resolve to the drop-in.
const dropin = new URL('./net.mjs', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if ((specifier === 'net' || specifier === 'node:net') && context.parentURL !== dropin) {
    return { url: dropin, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
