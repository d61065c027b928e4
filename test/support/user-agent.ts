// A browser-less user agent for scripted consents (tests, the demo, benchmarks): follows the
// real redirects authorize → Google stand-in → callback by hand, keeping cookies like a browser
// (by host, ignoring ports, as RFC 6265 does), and asks the stand-in's scripted mode to answer.

export interface Hop {
  readonly url: string;
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
  /** The Set-Cookie headers of this answer. */
  readonly setCookies: readonly string[];
}

export interface ConsentScript {
  readonly email: string;
  readonly decision?: 'approve' | 'deny';
  /** Scopes to grant (default: all requested). */
  readonly grant?: readonly string[];
}

export class UserAgent {
  /** host → name → value */
  readonly cookies = new Map<string, Map<string, string>>();

  cookieHeader(url: string): string | undefined {
    const jar = this.cookies.get(new URL(url).hostname);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private store(url: string, setCookies: string[]): void {
    const host = new URL(url).hostname;
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    this.cookies.set(host, jar);
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const maxAge = attributes
        .map((a) => a.trim().toLowerCase())
        .find((a) => a.startsWith('max-age='));
      if (maxAge === 'max-age=0' || value === '') jar.delete(name);
      else jar.set(name, value);
    }
  }

  async request(url: string, init: RequestInit = {}): Promise<Hop> {
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    const setCookies = response.headers.getSetCookie();
    this.store(url, setCookies);
    return {
      url,
      status: response.status,
      location: response.headers.get('location'),
      body: await response.text(),
      setCookies,
    };
  }

  /** authorize → consent (scripted) → callback, and one optional restart. Returns every hop. */
  async connect(authorizeUrl: string, script: ConsentScript, maxHops = 8): Promise<Hop[]> {
    const hops: Hop[] = [];
    let next: string | null = authorizeUrl;
    while (next !== null && hops.length < maxHops) {
      let url: string = next;
      if (isConsentUrl(url)) url = scriptConsent(url, script);
      const hop = await this.request(url);
      hops.push(hop);
      next =
        hop.status >= 300 && hop.status < 400 && hop.location
          ? new URL(hop.location, url).toString()
          : null;
      // Stop at the app's own final page (303 after the callback).
      if (hop.status === 303) break;
    }
    return hops;
  }
}

function isConsentUrl(url: string): boolean {
  return new URL(url).pathname.endsWith('/o/oauth2/v2/auth');
}

function scriptConsent(url: string, script: ConsentScript): string {
  const parsed = new URL(url);
  parsed.searchParams.set('standin_decision', script.decision ?? 'approve');
  parsed.searchParams.set('standin_user', script.email);
  if (script.grant) parsed.searchParams.set('standin_grant', script.grant.join(' '));
  return parsed.toString();
}
