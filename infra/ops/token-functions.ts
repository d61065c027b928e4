// The deployed functions that hold the token keyset, and the version each pins, from one list call
// of the Cloud Functions API over every region (`locations/-`,
// https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions/list).
// rotate-keys re-seals and drops a key only when this says it is safe: a value re-sealed under a
// key that a running function does not hold would be unreadable for it
// (docs/operations.md#rotate-the-keys).
import { googleRestClient } from '../../shared/secrets/google-rest.ts';
import { SECRETS } from '../deploy/resources.ts';

const FUNCTIONS_ROOT = 'https://cloudfunctions.googleapis.com/';
const TOKEN = SECRETS.tokenKeyset;

export interface TokenFunction {
  readonly name: string;
  readonly region: string;
  /** ACTIVE once a deploy finished (DEPLOYING, FAILED, …). */
  readonly state: string;
  /** The pinned version: a number, or an alias such as `latest`. */
  readonly version: string;
  readonly updated: Date | undefined;
  /** How long a request of its previous revision may still run after a deploy. */
  readonly timeoutSeconds: number;
  readonly database: string;
}

export interface TokenFunctions {
  readonly functions: readonly TokenFunction[];
  /** Regions the list could not reach: what runs there is unknown. */
  readonly unreachable: readonly string[];
}

interface FunctionJson {
  name?: string;
  state?: string;
  updateTime?: string;
  serviceConfig?: {
    timeoutSeconds?: number;
    environmentVariables?: Record<string, string>;
    secretEnvironmentVariables?: { key?: string; secret?: string; version?: string }[];
  };
}

export async function tokenFunctions(
  project: string,
  endpoint: string | undefined,
): Promise<TokenFunctions> {
  const call = await googleRestClient(FUNCTIONS_ROOT, endpoint);
  const functions: TokenFunction[] = [];
  const unreachable: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await call<{
      functions?: FunctionJson[];
      nextPageToken?: string;
      unreachable?: string[];
    }>({
      method: 'GET',
      path: `v2/projects/${project}/locations/-/functions`,
      params: pageToken === undefined ? {} : { pageToken },
      what: 'Cloud Functions list',
    });
    unreachable.push(...(page.unreachable ?? []));
    for (const fn of page.functions ?? []) {
      const pin = fn.serviceConfig?.secretEnvironmentVariables?.find(
        (s) => s.key === TOKEN.env && s.secret?.split('/').pop() === TOKEN.name,
      );
      if (pin === undefined) continue;
      const [, region = '?', name = '?'] =
        /locations\/([^/]+)\/functions\/([^/]+)$/.exec(fn.name ?? '') ?? [];
      const updated = fn.updateTime === undefined ? undefined : new Date(fn.updateTime);
      functions.push({
        name,
        region,
        state: fn.state ?? 'UNKNOWN',
        version: pin.version ?? '?',
        updated: updated && !Number.isNaN(updated.getTime()) ? updated : undefined,
        timeoutSeconds: fn.serviceConfig?.timeoutSeconds ?? 60,
        database: fn.serviceConfig?.environmentVariables?.FIRESTORE_DATABASE ?? '(default)',
      });
    }
    pageToken = page.nextPageToken || undefined;
  } while (pageToken !== undefined);
  return { functions, unreachable };
}

/**
 * Why re-sealing under `version`'s primary, or dropping a key from it, is not safe yet: a function
 * pins an older version (or an alias), is still deploying, or was deployed so recently that
 * requests of its previous revision, holding the older keyset, may still run. Empty when safe.
 */
export function unsafeToReseal(
  deployed: TokenFunctions,
  version: number,
  now: Date,
  redeploy: string,
): string[] {
  const reasons = deployed.unreachable.map(
    (region) => `region ${region} could not be listed: what runs there is unknown`,
  );
  for (const fn of deployed.functions) {
    const what = `${fn.name} (${fn.region})`;
    if (!/^\d+$/.test(fn.version))
      reasons.push(`${what} pins "${fn.version}", not a version number: ${redeploy} pins one`);
    else if (Number(fn.version) < version)
      reasons.push(`${what} pins version ${fn.version}, not ${version}: ${redeploy}`);
    else if (fn.state !== 'ACTIVE')
      reasons.push(`${what} is ${fn.state}: wait for its deploy to finish`);
    else {
      const drained = (fn.updated?.getTime() ?? 0) + fn.timeoutSeconds * 1000;
      if (drained > now.getTime())
        reasons.push(
          `${what} was deployed at ${fn.updated?.toISOString()}: requests of its previous revision may run until ${new Date(drained).toISOString()} (its ${fn.timeoutSeconds} s timeout); run again then`,
        );
    }
  }
  return reasons;
}

/** The one region the token functions run in, when there is one. */
export function regionOf(deployed: TokenFunctions): string | undefined {
  const regions = new Set(deployed.functions.map((fn) => fn.region));
  return regions.size === 1 ? [...regions][0] : undefined;
}

/** The Firestore databases the token functions use other than `database`. */
export function otherDatabases(deployed: TokenFunctions, database: string): string[] {
  return [...new Set(deployed.functions.map((fn) => fn.database))].filter((d) => d !== database);
}
