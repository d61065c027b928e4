// The built-in `drive-list` job: lists the user's most recently modified Drive files, as Google's
// installed-app quickstart does with `files.list`
// (https://developers.google.com/workspace/drive/api/quickstart/nodejs), and records how many it
// saw. Metadata only (`drive.metadata.readonly`): it never reads a file's content. File names are
// the user's data: they are neither logged nor kept, only counted.
import { z } from 'zod';
import { defineJob } from '../define.ts';

export const DRIVE_METADATA_READONLY_SCOPE =
  'https://www.googleapis.com/auth/drive.metadata.readonly';

export default defineJob({
  name: 'drive-list',
  title: 'a daily look at which of your Google Drive files changed',
  scopes: [DRIVE_METADATA_READONLY_SCOPE],
  settings: z.object({
    count: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(10)
      .describe('How many of the most recent files to list'),
  }),
  schedule: 'daily',
  async run(context) {
    const drive = await context.google.drive();
    const answer = await drive.files.list({
      pageSize: context.settings.count,
      orderBy: 'modifiedTime desc',
      q: 'trashed = false',
      fields: 'nextPageToken, files(id, name, modifiedTime)',
      spaces: 'drive',
    });
    const files = answer.data.files ?? [];
    return {
      effect: 'listed',
      details: {
        files: files.length,
        ...(files[0]?.modifiedTime ? { newest: files[0].modifiedTime } : {}),
      },
    };
  },
});
