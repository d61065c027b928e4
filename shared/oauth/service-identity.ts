// Server-to-server callers of revoke prove who they are with a Google-signed ID token (from the
// metadata server, `gcloud auth print-identity-token`, or Cloud Scheduler's OIDC option) whose
// audience is exactly our revoke URL. We verify the signature against Google's certificates,
// `iss`, `aud`, `exp`, then require a verified email on the allow-list.
import type { Config } from '../settings/config.ts';
import { AppError } from '../errors.ts';
import { sharedOAuthClient } from './google-client.ts';

export async function verifyServiceCaller(
  config: Pick<Config, 'clientId' | 'redirectUri' | 'google' | 'revokeUrl' | 'revokeCallers'>,
  authorization: string | undefined,
): Promise<string> {
  const match = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(authorization ?? '');
  if (!match?.[1] || match[1].length > 8192)
    throw new AppError('unauthenticated', 401, 'A Google-signed ID token is required.');
  const client = await sharedOAuthClient(config);
  let payload;
  try {
    const ticket = await client.verifyIdToken({ idToken: match[1], audience: config.revokeUrl });
    payload = ticket.getPayload();
  } catch (error) {
    throw new AppError('unauthenticated', 401, 'The ID token is not valid for this service.', {
      cause: error,
      detail: 'service ID token rejected',
    });
  }
  const email = payload?.email;
  if (
    email === undefined ||
    payload?.email_verified !== true ||
    !config.revokeCallers.includes(email)
  )
    throw new AppError('forbidden', 403, 'This caller may not revoke connections.', {
      detail: `caller ${email ?? 'without email'} is not allow-listed`,
    });
  return email;
}
