// Builds the consent request (Google "Using OAuth 2.0 for Web Server Applications", step 1).
// Pure URL building and node:crypto: the authorize function loads no Google library.
import type { Config } from '../settings/config.ts';
import { enabledJobs, scopesOf } from '../jobs/catalog.ts';
import { jobManifest } from '../jobs/manifest.ts';
import { codeChallengeS256, generateCodeVerifier, generateRandomToken } from './pkce.ts';
import type { AuthTransaction } from './transaction.ts';
import type { ConnectLink } from '../web/connect-link.ts';

/** Sign-in scopes: `openid` for the ID token (our user key is its `sub`), `email` for RISC. */
export const SIGN_IN_SCOPES = ['openid', 'email'] as const;

/** The enabled jobs, as the manifest describes them (no job code is loaded). */
export function configuredJobs(config: Pick<Config, 'jobs'>) {
  return enabledJobs(jobManifest().jobs, config.jobs);
}

/**
 * The scopes a consent asks for: sign-in, and every enabled job's, or (an incremental consent)
 * only the given jobs'; `include_granted_scopes` keeps what the user granted before.
 */
export function requestedScopes(
  config: Pick<Config, 'jobs'>,
  jobs: readonly string[] = config.jobs,
): string[] {
  return [...SIGN_IN_SCOPES, ...scopesOf(enabledJobs(configuredJobs(config), jobs))];
}

export interface AuthorizationRequest {
  readonly url: string;
  readonly transaction: AuthTransaction;
}

export function buildAuthorizationUrl(
  config: Pick<Config, 'clientId' | 'redirectUri' | 'jobs' | 'google' | 'transactionTtlSeconds'>,
  options: {
    readonly now: number;
    readonly returnTo: string | null;
    readonly loginHint: string | null;
    /**
     * Ask for the consent screen again: only when no refresh token is stored
     * (docs/architecture.md#first-connection-and-promptconsent).
     */
    readonly promptConsent: boolean;
    /** An incremental consent: only these enabled jobs' scopes (default: every enabled job's). */
    readonly jobs?: readonly string[];
    /** The verified connect link the consent started from. */
    readonly connect?: ConnectLink | null;
  },
): AuthorizationRequest {
  const transaction: AuthTransaction = {
    state: generateRandomToken(),
    codeVerifier: generateCodeVerifier(),
    nonce: generateRandomToken(),
    returnTo: options.returnTo,
    expiresAt: options.now + config.transactionTtlSeconds * 1000,
    promptedConsent: options.promptConsent,
    loginHint: options.loginHint,
    connect: options.connect ?? null,
  };
  const url = new URL(config.google.authUrl);
  const params: Record<string, string> = {
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    response_type: 'code',
    scope: requestedScopes(config, options.jobs).join(' '),
    access_type: 'offline',
    include_granted_scopes: 'true',
    state: transaction.state,
    nonce: transaction.nonce,
    code_challenge: codeChallengeS256(transaction.codeVerifier),
    code_challenge_method: 'S256',
  };
  if (options.promptConsent) params.prompt = 'consent';
  if (options.loginHint !== null) params.login_hint = options.loginHint;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { url: url.toString(), transaction };
}
