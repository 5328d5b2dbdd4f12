// Imported first by the sandbox child. Node's permission model does not cover signals, and without
// OS confinement the child shares the server's PID namespace and user: `process.kill(process.ppid)`
// would stop the server. A skill may signal only itself. (Under OS confinement the PID namespace
// already hides every other process; this is the second wall.)
const ownPid = process.pid;
const originalKill = process.kill.bind(process);

function refuse(pid) {
  const err = new Error(`sending a signal to process ${pid} is not allowed: a skill may only signal itself`);
  err.code = 'ERR_ACCESS_DENIED';
  return err;
}

process.kill = function guardedKill(pid, signal) {
  if (Number(pid) !== ownPid) throw refuse(pid);
  return originalKill(pid, signal);
};
// The internal entry point behind process.kill.
Object.defineProperty(process, '_kill', {
  value: function guardedInternalKill(pid) {
    throw refuse(pid);
  },
  writable: false,
  configurable: false,
});
