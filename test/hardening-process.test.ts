import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, connect, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';

/**
 * Issue 15, items 9, 10, 11, 14 and 15, against the real listener (server/main.ts) in its own process:
 * draining on SIGTERM with keep-alive clients, slow request bodies, busy ports, keep-alive timeouts,
 * and Node's own error answers as OperationOutcomes.
 */
describe('hardening: the server process (issue 15)', function () {
  this.timeout(120_000);
  let sandbox: Sandbox;
  let dataDir: string;
  const children: ChildProcess[] = [];

  before(async () => {
    sandbox = await startSandbox({ useEnv: false, generate: { count: 3, seed: 9 } });
    dataDir = mkdtempSync(join(tmpdir(), 'ipr-hardening-'));
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sandbox?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const serviceEnv = (env: Record<string, string> = {}) => ({
    ...process.env,
    DATABASE_URL: '',
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'info',
    GP_FHIR_URL: sandbox.urls.gp,
    HOSPITAL_FHIR_URL: sandbox.urls.hospital,
    SOCIAL_CARE_URL: sandbox.urls.socialCare,
    ...env,
  });

  /** Spawns a script; collects stderr and stdout lines. */
  const run = (script: string, env: NodeJS.ProcessEnv) => {
    const child = spawn(process.execPath, ['--import', 'tsx/esm', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const out: string[] = [];
    let stderr = '';
    createInterface({ input: child.stdout! }).on('line', (l) => out.push(l));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, out, stderr: () => stderr, exited };
  };

  /** Starts the service on an ephemeral port; resolves with its base URL once it says it is listening. */
  const startService = async (env: Record<string, string> = {}) => {
    const p = run('server/main.ts', serviceEnv(env));
    const deadline = Date.now() + 90_000;
    for (;;) {
      const line = p.out.find((l) => l.includes('integrated record service listening'));
      if (line) return { ...p, base: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`service did not start: ${p.stderr()}`);
      await sleep(100);
    }
  };

  describe('item 11: start-up failures are one clear line and a non-zero exit', () => {
    let busy: NetServer;
    let port: number;
    before(async () => {
      busy = createNetServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
      port = (busy.address() as { port: number }).port;
    });
    after(() => new Promise((r) => busy.close(r)));

    it('the service on a busy port names PORT and exits 1', async () => {
      const p = run('server/main.ts', serviceEnv({ PORT: String(port) }));
      expect(await p.exited).to.equal(1);
      // oidc-provider (web sign-in) prints its own "Unsupported runtime" warning on Node 20 when loaded.
      const lines = p.stderr().trim().split('\n').filter((l) => !l.startsWith('oidc-provider WARNING'));
      expect(lines, p.stderr()).to.have.length(1);
      expect(lines[0]).to.match(/port \d+ is already in use: set PORT to a free port/);
    });
    it('the sandbox on a busy port names SANDBOX_HOSPITAL_PORT and exits 1', async () => {
      const p = run('scripts/sandbox/main.ts', { ...process.env, SANDBOX_BUNDLE_DIRS: '', SANDBOX_GENERATE: '2', SANDBOX_GP_PORT: '0', SANDBOX_HOSPITAL_PORT: String(port), SANDBOX_SOCIAL_CARE_PORT: '0' });
      expect(await p.exited).to.equal(1);
      const lines = p.stderr().trim().split('\n');
      expect(lines, p.stderr()).to.have.length(1);
      expect(lines[0]).to.include('SANDBOX_HOSPITAL_PORT');
    });
    it('npm start (scripts/dev.ts) with a busy PORT: no banner, non-zero exit', async () => {
      const p = run('scripts/dev.ts', { ...process.env, ...serviceEnv({ PORT: String(port) }), SANDBOX_BUNDLE_DIRS: '', SANDBOX_GENERATE: '2', SANDBOX_GP_PORT: '0', SANDBOX_HOSPITAL_PORT: '0', SANDBOX_SOCIAL_CARE_PORT: '0' });
      const code = await p.exited;
      expect(code).to.not.equal(0);
      expect(p.out.join('\n')).not.to.include('Integrated patient record service (demo mode');
      expect(p.stderr()).to.include('set PORT to a free port');
    });
  });

  describe('a running service', () => {
    let svc: Awaited<ReturnType<typeof startService>>;
    before(async () => {
      svc = await startService({ HTTP_REQUEST_TIMEOUT_MS: '3000', HTTP_HEADERS_TIMEOUT_MS: '2000', SHUTDOWN_GRACE_MS: '20000' });
    });

    it('item 15: a request head too large (a huge header; 1,001 _type parameters) → 431 OperationOutcome', async () => {
      for (const head of [{ path: '/fhir/metadata', headers: { 'X-Big': 'x'.repeat(20_000) } as Record<string, string> }, { path: `/fhir/Patient/x/$everything?${Array.from({ length: 1001 }, () => '_type=AllergyIntolerance').join('&')}`, headers: {} as Record<string, string> }]) {
        const r = await send(`${svc.base}${head.path}`, { headers: head.headers });
        expect(r.status).to.equal(431);
        expect(r.headers['content-type']).to.match(/application\/fhir\+json/);
        const oo = JSON.parse(r.body) as { resourceType: string; issue: { details: { coding: { code: string }[] } }[] };
        expect(oo.resourceType).to.equal('OperationOutcome');
        expect(oo.issue[0]!.details.coding[0]!.code).to.equal('headers-too-large');
      }
    });

    it('item 10: a request body trickled slowly → 408 OperationOutcome within the request timeout, socket closed', async () => {
      const url = new URL(svc.base);
      const socket = connect(Number(url.port), url.hostname);
      let received = '';
      socket.on('data', (d) => (received += d));
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      const started = Date.now();
      socket.write('POST /fhir/Patient/_search HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nfam');
      const trickle = setInterval(() => socket.writable && socket.write('ily='), 500);
      await closed;
      clearInterval(trickle);
      const took = Date.now() - started;
      expect(took).to.be.within(2500, 8000);
      expect(received).to.match(/^HTTP\/1\.1 408 /);
      expect(received).to.match(/content-type: application\/fhir\+json/i);
      expect(received).to.include('"request-timeout"');
    });

    it('item 14: an idle keep-alive connection outlives a client pool idle timeout (no close race); Keep-Alive advertises 65 s', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await send(`${svc.base}/healthz`, { agent });
        expect(first.headers['keep-alive']).to.equal('timeout=65');
        await sleep(6000); // longer than Node's default keepAliveTimeout (5 s), shorter than ours
        const second = await send(`${svc.base}/healthz`, { agent });
        expect(second.status).to.equal(200);
        expect(second.reused, 'the same connection was reused').to.equal(true);
      } finally {
        agent.destroy();
      }
    });

    it('item 9: SIGTERM drains — Connection: close, no more requests per connection, in-flight finish, early exit 0', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      // One slow request in flight (the GP health check answers after 1.5 s)…
      sandbox.faults.gp.set({ latencyMs: 2500 });
      const startedAt = Date.now();
      let answeredAt = 0;
      const inFlight = send(`${svc.base}/readyz`, { agent }).finally(() => (answeredAt = Date.now()));
      // …and a client sending requests back to back on its keep-alive connections.
      const afterSignal: { status: number; connection: string | undefined }[] = [];
      let signalled = 0;
      let stopClient = false;
      const client = (async () => {
        while (!stopClient) {
          // Sent once the service has logged that it is shutting down (the signal has been handled).
          const sentWhileDraining = svc.out.some((l) => l.includes('shutting down'));
          const r = await send(`${svc.base}/healthz`, { agent }).catch(() => undefined);
          if (!r) break; // the server no longer accepts connections
          if (sentWhileDraining) afterSignal.push({ status: r.status, connection: r.headers.connection as string | undefined });
        }
      })();
      await sleep(400);
      signalled = Date.now();
      svc.child.kill('SIGTERM');
      const slow = await inFlight;
      expect(slow.status, 'the in-flight request finished').to.be.oneOf([200, 503]);
      expect(answeredAt, 'answered after the signal').to.be.greaterThan(signalled);
      expect(slow.headers.connection, `answered ${answeredAt - startedAt} ms after it was sent`).to.equal('close');
      const code = await svc.exited;
      const tookMs = Date.now() - signalled;
      stopClient = true;
      await client;
      agent.destroy();
      sandbox.faults.gp.reset();
      expect(code).to.equal(0);
      expect(tookMs, 'exits once drained, long before the 20 s grace period').to.be.lessThan(8000);
      // At most one request per open connection after the signal, each told to close.
      expect(afterSignal.length).to.be.at.most(4);
      for (const r of afterSignal) expect(r.connection).to.equal('close');
      expect(await fetch(`${svc.base}/healthz`).then(() => 'connected', () => 'refused')).to.equal('refused');
    });
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One HTTP GET with node:http (so the agent and keep-alive are ours); the body as text. */
function send(url: string, opts: { agent?: Agent; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: opts.agent ?? false, headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
