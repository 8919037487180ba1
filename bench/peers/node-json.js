// Encode and decode a ~1 MiB document (12,400 items) R times: the same document as json-bench.lua.
const R = Number(process.argv[2] || 100);
const doc = { items: [] };
for (let i = 0; i < 12400; i++) doc.items.push({ id: i, name: "item number " + i, tags: ["a", "b", "c"], price: i * 1.25, ok: i % 2 === 0 });
const text = JSON.stringify(doc);
const t0 = process.hrtime.bigint();
for (let i = 0; i < R; i++) { JSON.parse(JSON.stringify(doc)); }
const t1 = process.hrtime.bigint();
console.log(`json_bytes=${text.length} rounds=${R} total_ms=${Number(t1 - t0) / 1e6}`);
