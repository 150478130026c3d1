import { expect } from 'chai';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { compression, negotiateEncoding } from '../server/compression.js';

/** A raw HTTP GET that does not decode the body, so the test sees what went over the wire. */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Response compression (server/compression.ts)', () => {
  const big = { resourceType: 'Bundle', type: 'searchset', entry: Array.from({ length: 400 }, (_, i) => ({ resource: { resourceType: 'Observation', id: `o${i}`, status: 'final' } })) };
  // Larger than the synchronous limit used below, so the thread-pool path is exercised too.
  const huge = 'x'.repeat(300 * 1024);
  let server: Server;
  let port: number;

  before(async () => {
    const app = express();
    app.use(compression({ syncLimitBytes: 64 * 1024 }));
    app.get('/json', (_req, res) => {
      res.type('application/fhir+json').json(big);
    });
    app.head('/json', (_req, res) => {
      res.type('application/fhir+json').json(big);
    });
    app.get('/small', (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/huge', (_req, res) => {
      res.type('text/plain').send(huge);
    });
    app.get('/streamed', (_req, res) => {
      res.type('text/csv');
      for (let i = 0; i < 500; i++) res.write(`row,${i},some text\r\n`);
      res.end('last,row\r\n');
    });
    app.get('/png', (_req, res) => {
      res.type('image/png').send(Buffer.alloc(4096, 1));
    });
    app.get('/no-transform', (_req, res) => {
      res.setHeader('Cache-Control', 'no-transform');
      res.json(big);
    });
    app.get('/empty', (_req, res) => {
      res.status(204).end();
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('negotiates by q-value, with br > gzip > deflate on a tie; q=0 refuses; * covers the rest', () => {
    expect(negotiateEncoding(undefined)).to.equal(undefined);
    expect(negotiateEncoding('')).to.equal(undefined);
    expect(negotiateEncoding('gzip')).to.equal('gzip');
    expect(negotiateEncoding('gzip, deflate, br')).to.equal('br');
    expect(negotiateEncoding('br;q=0.5, gzip')).to.equal('gzip');
    expect(negotiateEncoding('br;q=0, gzip;q=0')).to.equal(undefined);
    expect(negotiateEncoding('identity')).to.equal(undefined);
    expect(negotiateEncoding('*')).to.equal('br');
    expect(negotiateEncoding('*;q=0.1, gzip;q=0.5')).to.equal('gzip');
    expect(negotiateEncoding('deflate')).to.equal('deflate');
    expect(negotiateEncoding('GZIP ; Q=1')).to.equal('gzip');
  });

  it('compresses a JSON body in each coding, with the right Content-Length and Vary, and it decodes to the same bytes', async () => {
    const plain = await get(port, '/json');
    expect(plain.headers['content-encoding']).to.equal(undefined);
    expect(plain.headers.vary).to.match(/Accept-Encoding/);
    expect(JSON.parse(plain.body.toString())).to.deep.equal(big);
    for (const [enc, decode] of [['gzip', gunzipSync], ['br', brotliDecompressSync], ['deflate', inflateSync]] as const) {
      const r = await get(port, '/json', { 'accept-encoding': enc });
      expect(r.status).to.equal(200);
      expect(r.headers['content-encoding']).to.equal(enc);
      expect(r.headers.vary).to.match(/Accept-Encoding/);
      expect(Number(r.headers['content-length'])).to.equal(r.body.length);
      expect(r.body.length).to.be.lessThan(plain.body.length / 5);
      expect(decode(r.body).equals(plain.body)).to.equal(true);
    }
  });

  it('compresses a body over the synchronous limit in the thread pool, and a body written in pieces', async () => {
    const r = await get(port, '/huge', { 'accept-encoding': 'gzip' });
    expect(r.headers['content-encoding']).to.equal('gzip');
    expect(Number(r.headers['content-length'])).to.equal(r.body.length);
    expect(gunzipSync(r.body).toString()).to.equal(huge);
    const s = await get(port, '/streamed', { 'accept-encoding': 'br' });
    expect(s.headers['content-encoding']).to.equal('br');
    const text = brotliDecompressSync(s.body).toString();
    expect(text.split('\r\n')).to.have.length(502);
    expect(text.endsWith('last,row\r\n')).to.equal(true);
  });

  it('leaves alone: small bodies, non-text types, no-transform, HEAD and 204', async () => {
    const small = await get(port, '/small', { 'accept-encoding': 'gzip' });
    expect(small.headers['content-encoding']).to.equal(undefined);
    expect(JSON.parse(small.body.toString())).to.deep.equal({ ok: true });
    const png = await get(port, '/png', { 'accept-encoding': 'gzip' });
    expect(png.headers['content-encoding']).to.equal(undefined);
    expect(png.body.length).to.equal(4096);
    const nt = await get(port, '/no-transform', { 'accept-encoding': 'gzip' });
    expect(nt.headers['content-encoding']).to.equal(undefined);
    expect(JSON.parse(nt.body.toString())).to.deep.equal(big);
    const head = await get(port, '/json', { 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.headers['content-encoding']).to.equal(undefined);
    expect(head.body.length).to.equal(0);
    const empty = await get(port, '/empty', { 'accept-encoding': 'gzip' });
    expect(empty.status).to.equal(204);
    expect(empty.headers['content-encoding']).to.equal(undefined);
  });
});
