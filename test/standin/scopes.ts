// Scope vocabulary and Google's normalisation of the sign-in scopes.

export const OPENID = 'openid';
export const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email';
export const USERINFO_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile';
export const DRIVE = 'https://www.googleapis.com/auth/drive';
export const DRIVE_FILE = 'https://www.googleapis.com/auth/drive.file';
export const DRIVE_READONLY = 'https://www.googleapis.com/auth/drive.readonly';
export const DRIVE_METADATA_READONLY = 'https://www.googleapis.com/auth/drive.metadata.readonly';
export const SPREADSHEETS = 'https://www.googleapis.com/auth/spreadsheets';
export const SPREADSHEETS_READONLY = 'https://www.googleapis.com/auth/spreadsheets.readonly';

const ALIASES: ReadonlyMap<string, string> = new Map([
  ['email', USERINFO_EMAIL],
  ['profile', USERINFO_PROFILE],
]);

const SIGN_IN_SCOPES: ReadonlySet<string> = new Set([OPENID, USERINFO_EMAIL, USERINFO_PROFILE]);

/** `email` → `https://www.googleapis.com/auth/userinfo.email`, likewise `profile`. */
export function normaliseScope(scope: string): string {
  return ALIASES.get(scope) ?? scope;
}

/** Sign-in scopes are always granted and get no checkbox on the consent page. */
export function isSignInScope(scope: string): boolean {
  return SIGN_IN_SCOPES.has(normaliseScope(scope));
}

/** Splits a space separated scope parameter, normalises and de-duplicates, keeping order. */
export function parseScopes(value: string | null | undefined): string[] {
  if (!value) return [];
  const out = new Set<string>();
  for (const part of value.split(/\s+/)) if (part) out.add(normaliseScope(part));
  return [...out];
}

export function isKnownScopeForm(scope: string): boolean {
  return scope === OPENID || ALIASES.has(scope) || /^https:\/\/[a-z0-9.-]+\/\S*$/.test(scope);
}

/** Grants holding Gmail scopes lose their refresh tokens when the user changes password. */
export function holdsGmailScope(scopes: Iterable<string>): boolean {
  for (const s of scopes) {
    if (s === 'https://mail.google.com/' || s.startsWith('https://www.googleapis.com/auth/gmail.'))
      return true;
  }
  return false;
}
