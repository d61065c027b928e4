// The settings that point the functions at a Google stand-in instead of Google (every Google
// endpoint is a setting: the product code never knows it talks to a stand-in).
import type { StandInEndpoints } from '../standin/index.ts';

export function googleEndpointSettings(endpoints: StandInEndpoints): Record<string, string> {
  return {
    GOOGLE_AUTH_URL: endpoints.authUrl,
    GOOGLE_TOKEN_URL: endpoints.tokenUrl,
    GOOGLE_REVOKE_URL: endpoints.revokeUrl,
    GOOGLE_TOKENINFO_URL: endpoints.tokenInfoUrl,
    GOOGLE_CERTS_PEM_URL: endpoints.certsPemUrl,
    GOOGLE_CERTS_JWKS_URL: endpoints.certsJwksUrl,
    GOOGLE_API_ROOT: endpoints.apiRoot,
    RISC_CONFIGURATION_URL: endpoints.riscConfigurationUrl,
  };
}
