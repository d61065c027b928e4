// In-memory Drive: files per user (by email), each remembering which OAuth client created it so
// the drive.file scope can limit a client to its own files. Files the user made themselves
// (seeded by tests) have no creating client: only the broader Drive scopes see them.
import { createHash } from 'node:crypto';
import type { Clock } from './clock.ts';
import { newFileId } from './ids.ts';

export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';
export const SPREADSHEET_MIME_TYPE = 'application/vnd.google-apps.spreadsheet';

/** Docs Editors files, folders, shortcuts: no binary content, no size, no md5Checksum. */
export function isGoogleAppsType(mimeType: string): boolean {
  return mimeType.startsWith('application/vnd.google-apps.');
}

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
  /** OAuth client that created the file (drive.file visibility); null: the user's own file. */
  createdByClientId: string | null;
}

export interface DriveFileSnapshot {
  id: string;
  name: string;
  /** Slash separated names from My Drive, e.g. "/Exports/2025-01.csv". */
  path: string;
  mimeType: string;
  parents: string[];
  trashed: boolean;
  createdByClientId: string | null;
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

export interface NewDriveFile {
  name: string;
  mimeType: string;
  parents: string[];
  content: Buffer;
  /** null: made by the user, not by an app. */
  clientId: string | null;
  /** Default: a new random id. */
  id?: string;
  /** Default: now on the controllable clock. */
  modifiedTime?: number;
}

export class DriveStore {
  readonly #users = new Map<string, UserDrive>();
  /** File id → owner's email: Sheets addresses a spreadsheet by id alone. */
  readonly #owners = new Map<string, string>();
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

  /** The file with this id in anyone's Drive, and its owner. */
  locate(id: string): { email: string; file: DriveFile } | undefined {
    const email = this.#owners.get(id);
    const file = email === undefined ? undefined : this.get(email, id);
    return email !== undefined && file ? { email, file } : undefined;
  }

  has(id: string): boolean {
    return this.#owners.has(id);
  }

  /** All of a user's files, in creation order. */
  all(email: string): DriveFile[] {
    return [...(this.#users.get(email)?.files.values() ?? [])];
  }

  create(email: string, input: NewDriveFile): DriveFile {
    const drive = this.#drive(email);
    const now = this.#clock.now();
    const id = input.id ?? newFileId();
    if (this.#owners.has(id)) throw new RangeError(`a file with id ${id} exists already`);
    const modifiedTime = input.modifiedTime ?? now;
    const file: DriveFile = {
      id,
      name: input.name,
      mimeType: input.mimeType,
      parents: input.parents.length > 0 ? input.parents : [drive.rootId],
      trashed: false,
      createdTime: Math.min(now, modifiedTime),
      modifiedTime,
      content: input.content,
      version: 1,
      createdByClientId: input.clientId,
    };
    drive.files.set(file.id, file);
    this.#owners.set(file.id, email);
    return file;
  }

  touch(file: DriveFile): void {
    file.modifiedTime = this.#clock.now();
    file.version += 1;
  }

  delete(email: string, id: string): boolean {
    const deleted = this.#users.get(email)?.files.delete(id) ?? false;
    if (deleted) this.#owners.delete(id);
    return deleted;
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
    this.#owners.clear();
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
  if (!isGoogleAppsType(file.mimeType)) {
    resource['size'] = String(file.content.length);
    resource['md5Checksum'] = createHash('md5').update(file.content).digest('hex');
  }
  return resource;
}
