// The hello case for node: the same bytes as the Stardust examples.
const http = require('http');
const body = "Hello world\n";
http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
  res.end(body);
}).listen(Number(process.argv[2] || 8081), "127.0.0.1");
