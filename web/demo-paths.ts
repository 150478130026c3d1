/** Where the embedded demo OpenID provider is mounted, and the pages' client id there (web/demo-provider.ts). */
export const DEMO_PROVIDER_PATH = '/demo-oidc';
export const DEMO_CLIENT_ID = 'integrated-record-web';
