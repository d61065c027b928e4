// What consent-vault knows about common Google scopes: the words our pages use for each, the
// Google API service it belongs to (the deploy enables it), and Google's classification, which
// decides whether the consent screen needs Google's verification: sensitive scopes need a
// verification, restricted ones also a security assessment
// (https://support.google.com/cloud/answer/13463073,
// https://developers.google.com/identity/protocols/oauth2/scopes). A job may declare a scope
// that is not here with its own description (shared/jobs/define.ts).
export type ScopeSensitivity = 'non-sensitive' | 'sensitive' | 'restricted' | 'unknown';

export interface ScopeInfo {
  readonly url: string;
  /** Completes "This app will …" on our pages. */
  readonly description: string;
  readonly sensitivity: ScopeSensitivity;
  readonly api?: string;
}

const AUTH = 'https://www.googleapis.com/auth/';

const KNOWN: readonly ScopeInfo[] = [
  ['drive.file', 'see and change only the Google Drive files it creates', 'non-sensitive', 'drive'],
  ['drive.appdata', 'keep its own settings in your Google Drive', 'non-sensitive', 'drive'],
  [
    'drive.metadata.readonly',
    'see the names and details of your Google Drive files',
    'restricted',
    'drive',
  ],
  ['drive.readonly', 'see and download all your Google Drive files', 'restricted', 'drive'],
  ['drive', 'see, change and delete all your Google Drive files', 'restricted', 'drive'],
  ['spreadsheets.readonly', 'see your Google Sheets spreadsheets', 'sensitive', 'sheets'],
  ['spreadsheets', 'see and change your Google Sheets spreadsheets', 'sensitive', 'sheets'],
  ['documents.readonly', 'see your Google Docs documents', 'sensitive', 'docs'],
  ['calendar.readonly', 'see your Google Calendar events', 'sensitive', 'calendar-json'],
  ['calendar.events', 'see and change your Google Calendar events', 'sensitive', 'calendar-json'],
  ['tasks.readonly', 'see your Google Tasks', 'sensitive', 'tasks'],
  ['contacts.readonly', 'see your Google Contacts', 'sensitive', 'people'],
  ['gmail.readonly', 'read your Gmail messages', 'restricted', 'gmail'],
  ['gmail.send', 'send email as you', 'sensitive', 'gmail'],
].map(([scope, description, sensitivity, api]) => ({
  url: `${AUTH}${scope}`,
  description: description as string,
  sensitivity: sensitivity as ScopeSensitivity,
  api: `${api}.googleapis.com`,
}));

const BY_URL = new Map(KNOWN.map((info) => [info.url, info]));

export function describeScope(url: string): ScopeInfo | undefined {
  return BY_URL.get(url);
}
