// In-memory Drive: files per user (by email), each remembering which OAuth client created it so
// the drive.file scope can limit a client to its own files.
import { createHash } from 'node:crypto';
import type { Clock } from './clock.ts';
import { newFileId } from './ids.ts';

export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';

export interface DriveFile {
  id: string;
  name: string;
  mimeType: string;
  parents: string[];
  trashed: boolean;
  createdTime: number;
  modifiedTime: number;
  content: Buffer;
  version: number;
  /** OAuth client that created the file (drive.file visibility). */
  createdByClientId: string;
}

export interface DriveFileSnapshot {
  id: string;
  name: string;
  /** Slash separated names from My Drive, e.g. "/Exports/2025-01.csv". */
  path: string;
  mimeType: string;
  parents: string[];
  trashed: boolean;
  createdByClientId: string;
  createdTime: string;
  modifiedTime: string;
  size: number;
  /** Content decoded as UTF-8 (exports are text). */
  content: string;
}

interface UserDrive {
  rootId: string;
  files: Map<string, DriveFile>;
}

export class DriveStore {
  readonly #users = new Map<string, UserDrive>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  rootId(email: string): string {
    return this.#drive(email).rootId;
  }

  get(email: string, id: string): DriveFile | undefined {
    return this.#users.get(email)?.files.get(id);
  }

  /** All of a user's files, in creation order. */
  all(email: string): DriveFile[] {
    return [...(this.#users.get(email)?.files.values() ?? [])];
  }

  create(
    email: string,
    input: { name: string; mimeType: string; parents: string[]; content: Buffer; clientId: string },
  ): DriveFile {
    const drive = this.#drive(email);
    const now = this.#clock.now();
    const file: DriveFile = {
      id: newFileId(),
      name: input.name,
      mimeType: input.mimeType,
      parents: input.parents.length > 0 ? input.parents : [drive.rootId],
      trashed: false,
      createdTime: now,
      modifiedTime: now,
      content: input.content,
      version: 1,
      createdByClientId: input.clientId,
    };
    drive.files.set(file.id, file);
    return file;
  }

  touch(file: DriveFile): void {
    file.modifiedTime = this.#clock.now();
    file.version += 1;
  }

  delete(email: string, id: string): boolean {
    return this.#users.get(email)?.files.delete(id) ?? false;
  }

  snapshot(email: string): DriveFileSnapshot[] {
    const drive = this.#users.get(email);
    if (!drive) return [];
    const pathOf = (file: DriveFile, depth = 0): string => {
      const parent = drive.files.get(file.parents[0] ?? '');
      return parent && depth < 64 ? `${pathOf(parent, depth + 1)}/${file.name}` : `/${file.name}`;
    };
    return [...drive.files.values()].map((f) => ({
      id: f.id,
      name: f.name,
      path: pathOf(f),
      mimeType: f.mimeType,
      parents: [...f.parents],
      trashed: f.trashed,
      createdByClientId: f.createdByClientId,
      createdTime: new Date(f.createdTime).toISOString(),
      modifiedTime: new Date(f.modifiedTime).toISOString(),
      size: f.content.length,
      content: f.content.toString('utf8'),
    }));
  }

  reset(): void {
    this.#users.clear();
  }

  #drive(email: string): UserDrive {
    let drive = this.#users.get(email);
    if (!drive) {
      // Stable per user, like a real My Drive root id.
      const rootId = `0A${createHash('sha256').update(`root:${email}`).digest('base64url').slice(0, 17)}Uk9PVA`;
      drive = { rootId, files: new Map() };
      this.#users.set(email, drive);
    }
    return drive;
  }
}

/** The files.get / files.list resource, before `fields` projection. */
export function fileResource(file: DriveFile): Record<string, unknown> {
  const resource: Record<string, unknown> = {
    kind: 'drive#file',
    id: file.id,
    name: file.name,
    mimeType: file.mimeType,
    parents: [...file.parents],
    trashed: file.trashed,
    createdTime: new Date(file.createdTime).toISOString(),
    modifiedTime: new Date(file.modifiedTime).toISOString(),
    version: String(file.version),
  };
  if (file.mimeType !== FOLDER_MIME_TYPE) {
    resource['size'] = String(file.content.length);
    resource['md5Checksum'] = createHash('md5').update(file.content).digest('hex');
  }
  return resource;
}
