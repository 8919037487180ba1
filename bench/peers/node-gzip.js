// 64 KiB of JSON, gzip-compressed per request when asked, as http.server does.
const http = require('http');
const zlib = require('zlib');
const row = '{"word": "stardust", "n": 12345}\n';
const body = row.repeat(Math.ceil(65536 / row.length)).slice(0, 65536);
http.createServer((req, res) => {
  const accept = req.headers['accept-encoding'] || '';
  if (/\bgzip\b/.test(accept)) {
    const packed = zlib.gzipSync(body);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": "gzip", "Content-Length": packed.length, "Vary": "Accept-Encoding" });
    res.end(packed);
  } else {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
  }
}).listen(Number(process.argv[2] || 8081), "127.0.0.1");
