import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import type { DocumentType } from '../db/types.js';

/** The file of each document type in the archive, in archive order (docs/contract.md §11). */
export const ARCHIVE_FILES: ReadonlyArray<{ readonly type: DocumentType; readonly file: string }> = [
  { type: 'about', file: '01-about.md' },
  { type: 'specs', file: '02-specs.md' },
  { type: 'architecture', file: '03-architecture.md' },
  { type: 'plan', file: '04-plan.md' },
];

/**
 * Every entry's modification time. A fixed one (with the same entries in the same order and the
 * same deflate) is what makes the same versions give byte-identical archives. Built from local
 * components because yazl writes the MS-DOS date from the local clock's fields: so it is
 * 2000-01-01 00:00 in the archive whatever the instance's time zone. `forceDosTimestamp` leaves
 * out the UTC extra field, which would differ between time zones.
 */
const FIXED_MTIME = new Date(2000, 0, 1, 0, 0, 0);
const ENTRY = { mtime: FIXED_MTIME, forceDosTimestamp: true } as const;

export interface ManifestDocument {
  readonly type: DocumentType;
  readonly version: number;
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface Manifest {
  readonly project: { readonly id: string; readonly name: string; readonly language: string };
  readonly documents: readonly ManifestDocument[];
}

export interface ArchiveSource {
  readonly project: Manifest['project'];
  /** The latest version of each type that exists, in any order (the archive orders them). */
  readonly documents: ReadonlyArray<{ readonly type: DocumentType; readonly version: number }>;
  /** Reads one document's content; called for one document at a time, in archive order. */
  readonly content: (type: DocumentType, version: number) => Promise<string>;
  /** Called after each document went into the archive (progress). */
  readonly onDocument?: (done: number, total: number, type: DocumentType) => Promise<void>;
}

/**
 * The project name in lower case, runs of letters and digits joined by `-` (docs/contract.md §11);
 * `project` when the name has none.
 */
export function exportSlug(name: string): string {
  const words = name
    .normalize('NFC')
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu);
  return words ? words.join('-').slice(0, 100).replace(/-+$/, '') : 'project';
}

/**
 * The archive as a stream (docs/adr/0023): `<slug>/`, the numbered Markdown files, then
 * `manifest.json`. Entries are pulled lazily, so one document's content is in memory at a time
 * whatever the project holds; the manifest comes last because it needs every file's hash.
 */
export function buildArchive(source: ArchiveSource): { readonly slug: string; readonly stream: Readable } {
  const slug = exportSlug(source.project.name);
  const present = ARCHIVE_FILES.flatMap(({ type, file }) => {
    const doc = source.documents.find((d) => d.type === type);
    return doc ? [{ ...doc, file }] : [];
  });
  const zip = new ZipFile();
  const manifest: ManifestDocument[] = [];
  zip.addEmptyDirectory(`${slug}/`, ENTRY);
  present.forEach((doc, index) => {
    zip.addReadStreamLazy(`${slug}/${doc.file}`, ENTRY, (cb) => {
      source
        .content(doc.type, doc.version)
        .then(async (content) => {
          const bytes = Buffer.from(content, 'utf8');
          manifest.push({
            type: doc.type,
            version: doc.version,
            path: doc.file,
            bytes: bytes.length,
            sha256: createHash('sha256').update(bytes).digest('hex'),
          });
          await source.onDocument?.(index + 1, present.length, doc.type);
          cb(null, Readable.from([bytes]));
        })
        .catch((error: unknown) => cb(error, Readable.from([])));
    });
  });
  zip.addReadStreamLazy(`${slug}/manifest.json`, ENTRY, (cb) => {
    const body: Manifest = { project: source.project, documents: manifest };
    cb(null, Readable.from([Buffer.from(`${JSON.stringify(body, null, 2)}\n`, 'utf8')]));
  });
  zip.end();
  const stream = zip.outputStream as Readable;
  // yazl reports a failing entry on the ZipFile, not on its output: carry it to the reader.
  zip.on('error', (error: Error) => stream.destroy(error));
  return { slug, stream };
}
