/**
 * The baseline for the 7-source throughput ratio: a bare Express route that fetches every URL it is given
 * (`/bare?u=…&u=…`, the same source calls the service makes for that patient) in parallel and
 * concatenates their JSON — no auth, no index, no paging logic, no merge, no validation. Prints {"bare": url}.
 */
import express from 'express';

const app = express();
app.get('/bare', async (req, res) => {
  const u = req.query.u;
  const urls = (Array.isArray(u) ? u : [u]).filter((x): x is string => typeof x === 'string');
  const bodies = await Promise.all(urls.map((url) => fetch(url).then((r) => r.text())));
  res.type('application/json').send(`[${bodies.join(',')}]`);
});
const server = app.listen(Number(process.env.BARE_PORT ?? 0), '127.0.0.1', () => {
  const a = server.address() as { port: number };
  console.log(JSON.stringify({ bare: `http://127.0.0.1:${a.port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
