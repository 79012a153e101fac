/**
 * Reading form posts: small URL-encoded forms, and the launch form as `multipart/form-data`
 * with an optional CSV upload that is streamed to disk under the size limit.
 */
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import type { DataFile, DataFiles } from '../data/files.ts';
import { FormError } from './form-error.ts';

const MAX_FORM_BYTES = 64 * 1024;

/** Reads a URL-encoded body (at most 64 KiB) into its fields. */
export async function readUrlEncoded(req: IncomingMessage): Promise<Record<string, string>> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new FormError('form', 'Send the form as application/x-www-form-urlencoded.', 415);
  }
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new FormError('form', 'The form is too large.', 413);
    chunks.push(chunk as Buffer);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

/** The launch form: its fields and the uploaded file, if one was sent. */
export interface LaunchForm {
  /** Text fields (the last value wins). */
  readonly fields: Record<string, string>;
  /** The stored upload. */
  readonly upload: DataFile | undefined;
}

/**
 * Reads the launch form. A URL-encoded post has no upload; a multipart post may carry one in the
 * `upload` field, stored for `owner` through `files` (size-limited: the error names the limit).
 * The form is read to its end even when the upload is refused, so the answer reaches the browser.
 */
export async function readLaunchForm(
  req: IncomingMessage,
  files: DataFiles,
  owner: string,
): Promise<LaunchForm> {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/x-www-form-urlencoded'))
    return { fields: await readUrlEncoded(req), upload: undefined };
  if (!type.startsWith('multipart/form-data')) {
    throw new FormError('form', 'Send the launch form as multipart/form-data or URL-encoded.', 415);
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // Browsers send file names as raw UTF-8 (busboy's default reads them as Latin-1: "donnÃ©es.csv").
      defParamCharset: 'utf8',
      limits: { files: 1, fields: 50, fieldSize: 16 * 1024, fileSize: files.maxUploadBytes + 1, parts: 60 },
    });
  } catch (error) {
    throw new FormError('form', `The form could not be read: ${(error as Error).message}.`);
  }
  const fields: Record<string, string> = {};
  let upload: Promise<DataFile | undefined> = Promise.resolve(undefined);
  let tooMany = false;
  const finished = new Promise<void>((resolve, reject) => {
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'upload' || !info.filename) {
        stream.resume();
        return;
      }
      upload = files.save(owner, info.filename, stream);
      // Keep the rejection for later, but do not let it go unhandled meanwhile.
      upload.catch(() => {});
    });
    parser.on('filesLimit', () => {
      tooMany = true;
    });
    parser.on('error', (error: Error) =>
      reject(new FormError('form', `The form could not be read: ${error.message}.`)),
    );
    parser.on('close', () => resolve());
  });
  // A client that goes away mid-upload ends the request without ending the form: stop reading
  // it, or the upload's file would stay open (and half-written on disk) forever.
  req.once('close', () => {
    if (!req.complete) parser.destroy(new Error('the upload was interrupted'));
  });
  req.pipe(parser);
  try {
    await finished;
  } catch (error) {
    await upload.catch(() => {}); // let a refused upload remove its partial file first
    throw error;
  }
  if (tooMany) throw new FormError('upload', 'Upload one file at a time.');
  return { fields, upload: await upload };
}
