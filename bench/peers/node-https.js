// The https hello for node, with the same test certificate as Stardust's peer.
const https = require('https');
const fs = require('fs');
const path = require('path');
const dir = path.join(__dirname, '..', '..', 'tests', 'fixtures', 'tls');
const body = "Hello world\n";
https.createServer({
  cert: fs.readFileSync(path.join(dir, 'localhost.pem')),
  key: fs.readFileSync(path.join(dir, 'localhost.key')),
}, (req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
  res.end(body);
}).listen(Number(process.argv[2] || 8443), "127.0.0.1");
