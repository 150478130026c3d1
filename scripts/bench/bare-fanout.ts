/**
 * The baseline for the throughput ratio: a bare Express route that fans out to the same three sources
 * and concatenates their JSON — no auth, no index, no merge, no validation. Prints {"bare": url}.
 */
import express from 'express';

const gp = process.env.GP_FHIR_URL!;
const hospital = process.env.HOSPITAL_FHIR_URL!;
const socialCare = process.env.SOCIAL_CARE_URL!;
const app = express();
app.get('/bare', async (req, res) => {
  const q = req.query as Record<string, string>;
  const urls = [
    `${gp}/Patient/${q.gp}/$everything`,
    ...(q.hospital ? [`${hospital}/Patient/${q.hospital}/$everything`] : []),
    ...(q.sc ? [`${socialCare}/api/v1/people/${q.sc}/case`] : []),
  ];
  const bodies = await Promise.all(urls.map((u) => fetch(u).then((r) => r.text())));
  res.type('application/json').send(`[${bodies.join(',')}]`);
});
const server = app.listen(0, '127.0.0.1', () => {
  const a = server.address() as { port: number };
  console.log(JSON.stringify({ bare: `http://127.0.0.1:${a.port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
