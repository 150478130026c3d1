/** oidc-provider@9 ships no type declarations; the tests use a small part of it (a real authorisation server). */
declare module 'oidc-provider' {
  interface ClientCredentialsToken {
    clientId: string;
    isExpired: boolean;
    destroy(): Promise<void>;
  }
  export default class Provider {
    constructor(issuer: string, configuration: unknown);
    readonly issuer: string;
    callback(): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    ClientCredentials: { find(token: string): Promise<ClientCredentialsToken | undefined> };
  }
}
