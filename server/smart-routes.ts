/**
 * SMART App Launch v2 discovery: `GET /.well-known/smart-configuration` (public, no token).
 *
 * This service is a resource server: it verifies tokens, it does not issue them. The document therefore
 * states what this server enforces (scopes, permission-v1/v2, patient and user context) and repeats what
 * the deployment configured about its authorisation server (SMART_AUTHORIZATION_ENDPOINT,
 * SMART_TOKEN_ENDPOINT, SMART_GRANT_TYPES, SMART_CAPABILITIES); nothing about the authorisation server
 * is claimed unless configured. In demo mode there is no authorisation server: tokens come from
 * `npm run token`, so no endpoints and no grant types are listed.
 */
import { Router, type Response } from 'express';
import type { Config } from './config.js';
import { DEMO_ISSUER } from './demo-keys.js';
import { SERVER_CAPABILITIES } from '../identity/scopes.js';


export const SCOPES_SUPPORTED: readonly string[] = [
  'patient/*.rs', 'user/*.rs', 'system/*.rs',
  'patient/*.cruds', 'user/*.cruds', 'system/*.cruds',
  'patient/Consent.cu', 'user/AuditEvent.u',
  'patient/*.read', 'user/*.read', 'system/*.read', 'patient/*.write', 'user/*.write', 'system/*.write',
];

export const SMART_CONFIGURATION_PATHS = ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'];

export interface SmartConfiguration {
  issuer?: string;
  jwks_uri?: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  grant_types_supported: string[];
  scopes_supported: string[];
  response_types_supported?: string[];
  code_challenge_methods_supported?: string[];
  capabilities: string[];
}

/** The discovery document for a configuration. */
export function smartConfiguration(config: Pick<Config, 'auth' | 'smart'>): SmartConfiguration {
  const issuer = config.auth.mode === 'demo' ? DEMO_ISSUER : config.auth.issuer;
  const jwksUri = config.auth.mode === 'jwks' ? config.auth.jwksUrl : undefined;
  const { authorizationEndpoint, tokenEndpoint, grantTypes, capabilities } = config.smart;
  const grants = grantTypes ?? [
    ...(authorizationEndpoint ? ['authorization_code'] : []),
  ];
  return {
    issuer,
    ...(jwksUri ? { jwks_uri: jwksUri } : {}),
    ...(authorizationEndpoint ? { authorization_endpoint: authorizationEndpoint } : {}),
    ...(tokenEndpoint ? { token_endpoint: tokenEndpoint } : {}),
    grant_types_supported: grants,
    scopes_supported: [...SCOPES_SUPPORTED],
    ...(authorizationEndpoint ? { response_types_supported: ['code'], code_challenge_methods_supported: ['S256'] } : {}),
    capabilities: [...new Set([...SERVER_CAPABILITIES, ...capabilities])],
  };
}

export function smartRoutes(doc: SmartConfiguration): Router {
  const router = Router();
  // SMART puts discovery under the FHIR base URL ([base]/.well-known/…, which clients such as fhirclient
  // fetch); the same document is also served at the server root.
  for (const path of SMART_CONFIGURATION_PATHS) {
    router.get(path, (_req, res: Response) => {
      res.setHeader('Cache-Control', 'public, max-age=3600');
      res.status(200).json(doc);
    });
  }
  return router;
}
