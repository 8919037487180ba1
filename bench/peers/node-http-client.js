// The http-client case for node: N keep-alive GETs, C in flight, with http.request and
// a keep-alive agent ("request"), or with fetch ("fetch"). Prints rps=... total_ms=...
const http = require('http');
const [port, total = 100000, inflight = 20, mode = 'request'] = process.argv.slice(2);
const N = Number(total);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(inflight) });
const t0 = process.hrtime.bigint();
let sent = 0, done = 0, failed = 0;

function finish() {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`requests=${done} total_ms=${ms.toFixed(1)} rps=${Math.round(done * 1000 / ms)} failed=${failed}`);
  agent.destroy();
}
function next(ok) {
  if (!ok) failed++;
  done++;
  if (done === N) return finish();
  one();
}
function one() {
  if (sent >= N) return;
  sent++;
  if (mode === 'fetch') {
    fetch(`http://127.0.0.1:${port}/`).then((r) => r.arrayBuffer().then(() => next(r.status === 200)),
      () => next(false));
    return;
  }
  const req = http.request({ host: '127.0.0.1', port: Number(port), path: '/', agent }, (res) => {
    res.on('data', () => {});
    res.on('end', () => next(res.statusCode === 200));
  });
  req.on('error', () => next(false));
  req.end();
}
for (let i = 0; i < Number(inflight); i++) one();
