// The consent page and Google-like error page: small, real HTML that a browser test (or a
// person running the demo) can use. No scripts, no third-party resources.
import type { AuthPageError } from './auth-request.ts';
import { escapeHtml } from './http.ts';
import {
  DRIVE,
  DRIVE_FILE,
  DRIVE_READONLY,
  OPENID,
  USERINFO_EMAIL,
  USERINFO_PROFILE,
} from './scopes.ts';

const DESCRIPTIONS: ReadonlyMap<string, string> = new Map([
  [OPENID, 'Associate you with your personal info on Google'],
  [USERINFO_EMAIL, 'See your primary Google Account email address'],
  [
    USERINFO_PROFILE,
    'See your personal info, including any personal info you\u2019ve made publicly available',
  ],
  [
    DRIVE_FILE,
    'See, edit, create, and delete only the specific Google Drive files you use with this app',
  ],
  [DRIVE, 'See, edit, create, and delete all of your Google Drive files'],
  [DRIVE_READONLY, 'See and download all your Google Drive files'],
]);

const describe = (scope: string): string => DESCRIPTIONS.get(scope) ?? scope;

const STYLE = `body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#202124}
fieldset{border:1px solid #dadce0;border-radius:8px;margin:1rem 0}label{display:block;margin:.5rem 0}
.buttons{display:flex;gap:1rem}button{padding:.5rem 1.5rem;font-size:1rem}code{word-break:break-all}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export interface ConsentPageInput {
  clientId: string;
  email: string;
  signInScopes: readonly string[];
  choosableScopes: readonly string[];
  /** Opaque signed value carrying the original request. */
  request: string;
  actionPath: string;
}

export function renderConsentPage(input: ConsentPageInput): string {
  const signIn = input.signInScopes.map((s) => `<li>${escapeHtml(describe(s))}</li>`).join('');
  const choices = input.choosableScopes
    .map(
      (s, i) =>
        `<label for="scope-${i}"><input type="checkbox" id="scope-${i}" name="scope" value="${escapeHtml(s)}" checked> ${escapeHtml(describe(s))} <small><code>${escapeHtml(s)}</code></small></label>`,
    )
    .join('\n');
  return page(
    'Sign in - Google Accounts (stand-in)',
    `<h1>Google stand-in: sign in to continue</h1>
<p>The app <code id="client-id">${escapeHtml(input.clientId)}</code> wants to access your Google Account.</p>
<form method="post" action="${escapeHtml(input.actionPath)}">
<input type="hidden" name="request" value="${escapeHtml(input.request)}">
<label for="email">Email</label>
<input type="email" id="email" name="email" value="${escapeHtml(input.email)}" required autocomplete="email">
${signIn ? `<p>Signing in always shares:</p><ul>${signIn}</ul>` : ''}
${choices ? `<fieldset><legend>Select what the app can access</legend>\n${choices}\n</fieldset>` : ''}
<div class="buttons"><button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button></div>
</form>`,
  );
}

export function renderErrorPage(error: AuthPageError): string {
  return page(
    `Error ${error.label}: ${error.error}`,
    `<h1>Access blocked: Authorization Error</h1>
<p id="error-code" data-error="${escapeHtml(error.error)}">Error ${error.label}: ${escapeHtml(error.error)}</p>
<p id="error-description">${escapeHtml(error.description)}</p>`,
  );
}
