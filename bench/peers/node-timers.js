// Schedule and fire N timers with random delays up to 1 s.
const N = Number(process.argv[2] || 1000000);
let fired = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) setTimeout(() => { fired++; }, Math.floor(Math.random() * 1001));
const t1 = process.hrtime.bigint();
process.on('exit', () => {
  const t2 = process.hrtime.bigint();
  if (fired !== N) throw new Error("fired " + fired);
  console.log(`timers=${N} schedule_ms=${Number(t1 - t0) / 1e6} total_ms=${Number(t2 - t0) / 1e6}`);
});
