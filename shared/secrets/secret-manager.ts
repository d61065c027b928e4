// Secret Manager access with Google's client (REST fallback when pointed at a local endpoint:
// plain HTTP+JSON, which the tests serve). Loaded lazily, on the first `_VERSION` secret.
import { AppError } from '../errors.ts';
import { staticTokenAuthClient } from '../oauth/google-client.ts';
import type { SecretAccessor } from './secret-store.ts';

export async function secretManagerAccessor(endpoint: string | undefined): Promise<SecretAccessor> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  let client: InstanceType<typeof SecretManagerServiceClient>;
  if (endpoint === undefined) {
    client = new SecretManagerServiceClient();
  } else {
    // A local server speaking the REST fallback protocol (tests). It needs an auth client
    // that yields headers; an OAuth2Client with a static token does.
    const authClient = await staticTokenAuthClient('local');
    const url = new URL(endpoint);
    client = new SecretManagerServiceClient({
      apiEndpoint: url.hostname,
      port: Number(url.port),
      protocol: url.protocol.replace(':', ''),
      fallback: true,
      authClient,
    });
  }
  return async (name) => {
    try {
      const [version] = await client.accessSecretVersion({ name });
      const data = version.payload?.data;
      if (data === undefined || data === null) throw new Error('empty payload');
      return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    } catch (error) {
      throw new AppError('secret_unavailable', 500, 'Service misconfigured.', {
        cause: error,
        detail: `cannot access secret version ${name}`,
      });
    }
  };
}
