// A stand-in for the Hugging Face hub on 127.0.0.1 for the fetch paths: /ORG/NAME/resolve/REV/PATH
// serves a file with the headers the hub sends (X-Repo-Commit, X-Linked-Etag = sha256 for LFS
// files, ETag), answers HEAD, and counts the GET requests.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubServer {
  base: string;
  gets: string[];
  close(): Promise<void>;
}

export const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function startHub(files: Map<string, Uint8Array>): Promise<HubServer> {
  const gets: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const lfs = !path.endsWith('.json');
    const headers: Record<string, string> = { 'content-length': String(body.length), 'x-repo-commit': COMMIT };
    if (lfs) headers['x-linked-etag'] = `"${sha256(body)}"`;
    else headers.etag = `"${createHash('sha1').update(body).digest('hex')}"`;
    if (req.method === 'HEAD') {
      res.writeHead(200, headers).end();
      return;
    }
    gets.push(path);
    res.writeHead(200, headers).end(Buffer.from(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, gets, close: () => new Promise((r) => server.close(() => r())) };
}
