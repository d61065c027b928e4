// The small pages people see. Self-contained (inline CSS, no scripts, no fonts, no images from
// anywhere), accessible (lang, landmarks, one h1, real buttons and links, visible focus, good
// contrast), and every dynamic value is HTML-escaped.
import type { AppError } from '../errors.ts';
import type { ManifestJob } from '../jobs/manifest.ts';

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

/** What the pages say the app does: the enabled jobs, as the manifest describes them. */
export interface PageJobs {
  readonly jobs: readonly Pick<ManifestJob, 'title' | 'scopes'>[];
}

function jobList(jobs: PageJobs['jobs']): string {
  return `<ul>${jobs.map((job) => `<li>${escapeHtml(job.title)}</li>`).join('')}</ul>`;
}

function scopeList(jobs: PageJobs['jobs']): string {
  const described = new Map<string, string>();
  for (const job of jobs)
    for (const scope of job.scopes) described.set(scope.url, scope.description);
  return `<ul>${[...described.values()].map((text) => `<li>${escapeHtml(text)}</li>`).join('')}</ul>`;
}

export function startPage(options: PageJobs & { appName: string; connectUrl: string }): string {
  const app = escapeHtml(options.appName);
  return page(
    { appName: options.appName, title: 'Connect your Google account' },
    `<p>${app} works for you with your Google account, even while you are away:</p>
${jobList(options.jobs)}
<p>To do this it asks Google to let it:</p>
${scopeList(options.jobs)}
<p><a class="button" id="connect" href="${escapeHtml(options.connectUrl)}">Connect your Google account</a></p>`,
  );
}

export function successPage(options: PageJobs & { appName: string }): string {
  return page(
    { appName: options.appName, title: 'Your Google account is connected' },
    `<p>You are all set. ${escapeHtml(options.appName)} will now take care of:</p>
${jobList(options.jobs)}
<p>You can disconnect at any time with the unsubscribe link in our emails, or in your
Google Account under “Third-party apps &amp; services”.</p>`,
  );
}

export function missingScopePage(
  options: Omit<PageOptions, 'title'> & PageJobs & { missing: readonly string[] },
): string {
  const described = new Map<string, string>();
  for (const job of options.jobs)
    for (const scope of job.scopes) described.set(scope.url, scope.description);
  const items = options.missing
    .map((scope) => `<li>${escapeHtml(described.get(scope) ?? scope)}</li>`)
    .join('');
  return page(
    { ...options, title: 'A permission is missing' },
    `<p>${escapeHtml(options.appName)} cannot do anything for you without these permissions, so nothing was saved:</p>
<ul>${items}</ul>
<p>Try again and keep their boxes checked on Google’s consent screen.</p>
${retryLink(options)}`,
  );
}

export function errorPage(error: AppError, options: Omit<PageOptions, 'title'>): string {
  const title =
    error.code === 'consent_denied'
      ? 'You did not connect your Google account'
      : error.status >= 500
        ? 'Something went wrong'
        : 'This link did not work';
  return page(
    { ...options, title },
    `<p>${escapeHtml(error.publicMessage)}</p>
${retryLink(options)}`,
  );
}

export function unsubscribeConfirmPage(
  options: PageJobs & {
    appName: string;
    action: string;
    fields: Readonly<Record<string, string>>;
  },
): string {
  const hidden = Object.entries(options.fields)
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('\n');
  return page(
    { appName: options.appName, title: 'Disconnect your Google account?' },
    `<p>${escapeHtml(options.appName)} will stop all it does for you:</p>
${jobList(options.jobs)}
<p>It will give up its access to your Google Account and delete the access it stored.</p>
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
    pending: `<p>We stopped everything we did for you and deleted what we stored about you. Google did not answer
just now, so handing the access back to Google will complete shortly: we retry automatically and
will never use it again.</p><p>${yourself}</p>`,
    refused: `<p>Your disconnection is recorded: we stopped everything we did for you, deleted what we stored about
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
