// Google reports granted scopes in normalised form: `email` comes back as
// https://www.googleapis.com/auth/userinfo.email (docs/google-behaviours.md#consent-answer).
const SHORT_FORMS: Readonly<Record<string, string>> = {
  email: 'https://www.googleapis.com/auth/userinfo.email',
  profile: 'https://www.googleapis.com/auth/userinfo.profile',
};

export function normaliseScopes(scopes: readonly string[]): string[] {
  return [...new Set(scopes.map((scope) => SHORT_FORMS[scope] ?? scope))].sort();
}
