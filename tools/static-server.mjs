// A small static file server for the WebAssembly pages (web/): each URL prefix maps to a folder.
//   node tools/static-server.mjs PORT /=web /models/=../shared/models ...
// or imported: `const { url, close } = await serve({ '/': 'web', ... })` (port 0: any free one).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.bmp': 'image/bmp',
};

export function serve(mounts, port = 0) {
  // Longest prefix first, so /models/ wins over /.
  const table = Object.entries(mounts)
    .map(([prefix, dir]) => [prefix, resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const mount = table.find(([prefix]) => path.startsWith(prefix));
    if (!mount || req.method !== 'GET') return void res.writeHead(404).end();
    let file = resolve(join(mount[1], path.slice(mount[0].length)));
    if (file !== mount[1] && !file.startsWith(mount[1] + sep)) return void res.writeHead(403).end();
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Content-Length': size });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
  })));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [port, ...pairs] = process.argv.slice(2);
  const mounts = Object.fromEntries(pairs.map((p) => p.split('=')));
  const { url } = await serve(mounts, Number(port));
  console.log(`serving ${url} (Ctrl-C stops)`);
}
