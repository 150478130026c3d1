/**
 * An external OpenID provider for tests of the production sign-in path (WEB_SIGN_IN=oidc): a separate
 * oidc-provider on its own loopback origin (http://localhost:<port>), its own client registration and
 * claim names that are not the service's. Its login step signs in whoever `idp.nextAccount` names (the
 * person "typing their credentials"). Start it before the service (its issuer goes into the service's
 * configuration), then `register(serviceBaseUrl)` once the service's public URL is known.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** The people the "trust's identity service" knows, with its own claim names and role codes. */
export const IDP_ACCOUNTS: Record<string, Record<string, string>> = {
  'crew-1': { name: 'A Paramedic', 'urn:idp:job-role': 'R1010', 'urn:idp:ods': 'RX9' },
  'gp-1': { name: 'A GP', 'urn:idp:job-role': 'R8000', 'urn:idp:ods': 'A81001' },
  'unknown-role': { name: 'A Porter', 'urn:idp:job-role': 'R9999', 'urn:idp:ods': 'RX9' },
};

export interface ExternalIdp {
  issuer: string;
  /** The service's settings for this provider. */
  env: Record<string, string>;
  nextAccount: string;
  /** Registers the service (redirect and post-logout URIs under its public base URL) and starts answering. */
  register(serviceBaseUrl: string): Promise<void>;
  close(): Promise<void>;
}

export async function startExternalIdp(): Promise<ExternalIdp> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.writeHead(503).end();
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://localhost:${(server.address() as { port: number }).port}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const idp: ExternalIdp = {
    issuer,
    nextAccount: 'crew-1',
    env: {
      WEB_SIGN_IN: 'oidc',
      OIDC_ISSUER: issuer,
      OIDC_CLIENT_ID: 'integrated-record',
      OIDC_CLIENT_SECRET: clientSecret,
      OIDC_SCOPE: 'openid profile nhs',
      OIDC_CLAIM_ROLE: 'urn:idp:job-role',
      OIDC_CLAIM_ORGANISATION: 'urn:idp:ods',
      OIDC_ROLE_VALUES: 'R1010=ambulance-crew,R8000=clinician',
    },
    async register(serviceBaseUrl) {
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: 'integrated-record',
            client_secret: clientSecret,
            redirect_uris: [`${serviceBaseUrl}/auth/callback`],
            post_logout_redirect_uris: [`${serviceBaseUrl}/signed-out`],
            response_types: ['code'],
            grant_types: ['authorization_code'],
          },
        ],
        pkce: { required: () => true },
        jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' } as never] },
        cookies: { keys: [randomBytes(32).toString('base64url')] },
        scopes: ['openid', 'profile', 'nhs'],
        claims: { openid: ['sub'], profile: ['name'], nhs: ['urn:idp:job-role', 'urn:idp:ods'] },
        conformIdTokenClaims: false,
        features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
        ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
        loadExistingGrant: async (ctx) => {
          const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
          if (grantId) return ctx.oidc.provider.Grant.find(grantId);
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
          grant.addOIDCScope('openid profile nhs');
          await grant.save();
          return grant;
        },
        findAccount: async (_ctx, id) => (IDP_ACCOUNTS[id] ? { accountId: id, claims: async () => ({ sub: id, ...IDP_ACCOUNTS[id] }) } : undefined),
      });
      const callback = provider.callback();
      handler = (req, res) => {
        if (/^\/interaction\/[^/?]+/.test(req.url ?? '') && req.method === 'GET') {
          void provider.interactionFinished(req, res, { login: { accountId: idp.nextAccount } }, { mergeWithLastSubmission: false }).catch(() => res.writeHead(500).end());
          return;
        }
        callback(req, res);
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return idp;
}
