// The small pages people see. Self-contained (inline CSS, no scripts, no fonts, no images from
// anywhere), accessible (lang, landmarks, one h1, real buttons and links, visible focus, good
// contrast), and every dynamic value is HTML-escaped.
import type { AppError } from '../errors.ts';

export interface PageOptions {
  readonly appName: string;
  readonly title: string;
  /** Where "Try again" goes (the authorize URL). */
  readonly retryUrl?: string;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
body{margin:0;padding:2rem 1rem;background:Canvas;color:CanvasText}
main{max-width:34rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 1rem}
p{margin:0 0 1rem}
.app{font-size:.875rem;opacity:.8;margin-bottom:2rem}
.button,button{display:inline-block;font:inherit;font-weight:600;padding:.6rem 1.2rem;border-radius:.4rem;border:2px solid #1a56c4;background:#1a56c4;color:#fff;text-decoration:none;cursor:pointer}
.button.secondary,button.secondary{background:transparent;color:inherit}
.button:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #f2b100;outline-offset:2px}
ul{padding-left:1.25rem}
code{font-size:.9em}
`;

function page(options: PageOptions, content: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(options.title)} · ${escapeHtml(options.appName)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<p class="app">${escapeHtml(options.appName)}</p>
<h1>${escapeHtml(options.title)}</h1>
${content}
</main>
</body>
</html>
`;
}

function retryLink(options: Omit<PageOptions, 'title'>): string {
  return options.retryUrl
    ? `<p><a class="button" href="${escapeHtml(options.retryUrl)}">Try again</a></p>`
    : '';
}

export function startPage(options: { appName: string; connectUrl: string }): string {
  return page(
    { appName: options.appName, title: 'Connect Google Drive' },
    `<p>${escapeHtml(options.appName)} saves a daily export into your Google Drive, even while you are away.
It can only see and change the files it creates.</p>
<p><a class="button" id="connect" href="${escapeHtml(options.connectUrl)}">Connect Google Drive</a></p>`,
  );
}

export function successPage(options: { appName: string }): string {
  return page(
    { appName: options.appName, title: 'Google Drive is connected' },
    `<p>You are all set. ${escapeHtml(options.appName)} will save your exports to your Drive.</p>
<p>You can disconnect at any time with the unsubscribe link in our emails, or in your
Google Account under “Third-party apps &amp; services”.</p>`,
  );
}

export function missingScopePage(
  options: Omit<PageOptions, 'title'> & { missing: readonly string[] },
): string {
  const items = options.missing
    .map((scope) => `<li>${escapeHtml(describeScope(scope))}</li>`)
    .join('');
  return page(
    { ...options, title: 'A permission is missing' },
    `<p>${escapeHtml(options.appName)} cannot work without this permission, so nothing was saved:</p>
<ul>${items}</ul>
<p>Try again and keep the box for it checked on Google’s consent screen.</p>
${retryLink(options)}`,
  );
}

export function errorPage(error: AppError, options: Omit<PageOptions, 'title'>): string {
  const title =
    error.code === 'consent_denied'
      ? 'You did not connect Google Drive'
      : error.status >= 500
        ? 'Something went wrong'
        : 'This link did not work';
  return page(
    { ...options, title },
    `<p>${escapeHtml(error.publicMessage)}</p>
${retryLink(options)}`,
  );
}

export function unsubscribeConfirmPage(options: {
  appName: string;
  action: string;
  fields: Readonly<Record<string, string>>;
}): string {
  const hidden = Object.entries(options.fields)
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('\n');
  return page(
    { appName: options.appName, title: 'Disconnect Google Drive?' },
    `<p>${escapeHtml(options.appName)} will stop saving exports to your Drive, give up its access to your
Google Account and delete the access it stored.</p>
<form method="post" action="${escapeHtml(options.action)}">
${hidden}
<button type="submit" id="confirm">Disconnect</button>
</form>`,
  );
}

/** Where a person removes an app's access themselves. */
const GOOGLE_ACCOUNT_CONNECTIONS = 'https://myaccount.google.com/connections';

export function unsubscribeDonePage(options: {
  appName: string;
  /** What happened at Google: done, to be retried, or refused (the operator completes it). */
  completion: 'revoked' | 'pending' | 'refused';
}): string {
  const app = escapeHtml(options.appName);
  const yourself = `You can also remove the access yourself at any time in your
<a href="${GOOGLE_ACCOUNT_CONNECTIONS}">Google Account</a>.`;
  const body = {
    revoked: `<p>${app} no longer has access to your Google Account, and the access it stored is deleted.</p>`,
    pending: `<p>We stopped all exports and deleted what we stored about you. Google did not answer
just now, so handing the access back to Google will complete shortly: we retry automatically and
will never use it again.</p><p>${yourself}</p>`,
    refused: `<p>Your disconnection is recorded: we stopped all exports, deleted what we stored about
you, and will never use the access again. Google did not accept our request to remove the access,
so our operator will complete it.</p><p>${yourself}</p>`,
  }[options.completion];
  return page({ appName: options.appName, title: 'You are unsubscribed' }, body);
}

export function unsubscribeNeutralPage(options: { appName: string }): string {
  return page(
    { appName: options.appName, title: 'Nothing to unsubscribe' },
    `<p>There is no active connection for this link. If you were connected, you are unsubscribed already.</p>`,
  );
}

const SCOPE_NAMES: Readonly<Record<string, string>> = {
  'https://www.googleapis.com/auth/drive.file':
    'See, edit, create and delete only the specific Google Drive files this app uses',
  'https://www.googleapis.com/auth/userinfo.email': 'See your primary Google Account email address',
  openid: 'Associate you with your personal info on Google',
};

export function describeScope(scope: string): string {
  return SCOPE_NAMES[scope] ?? scope;
}
