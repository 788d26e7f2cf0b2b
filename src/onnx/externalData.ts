import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from './proto';
import { UserError } from '../util/errors';
import { readRange } from '../util/readRange';

export interface ExternalDataRef {
  file: string;
  offset: number;
  length: number | undefined;
}

export function isExternal(t: onnx.ITensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/**
 * Where a tensor's external data lives. The location must stay inside the model's folder: an absolute path or
 * one that climbs out with `..` could make a downloaded model read any file on the user's machine.
 */
export function externalDataRef(t: onnx.ITensorProto, modelDir: string): ExternalDataRef {
  const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = kv.get('location');
  if (!location) throw new UserError(`tensor ${t.name}: external data without a 'location' entry`);
  const normal = path.posix.normalize(location.replace(/\\/g, '/'));
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || normal.startsWith('../') || normal === '..') {
    throw new UserError(
      `tensor ${t.name}: external data location '${location}' is outside the model's folder; ` +
        `only paths relative to the folder of the .onnx file, without '..', are accepted`,
    );
  }
  const file = path.join(modelDir, normal);
  const offset = kv.has('offset') ? Number(kv.get('offset')) : 0;
  const length = kv.has('length') ? Number(kv.get('length')) : undefined;
  if (!Number.isFinite(offset) || offset < 0 || (length !== undefined && (!Number.isFinite(length) || length < 0))) {
    throw new UserError(
      `tensor ${t.name}: invalid external data offset/length (${kv.get('offset')}, ${kv.get('length')})`,
    );
  }
  return { file, offset, length };
}

/** `file`'s path relative to `dir` with `/` separators, or undefined when it lies outside `dir`. */
export function pathInside(dir: string, file: string): string | undefined {
  const rel = path.relative(dir, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : undefined;
}

/** Whether `file`, links resolved, lies inside `dir`, links resolved: ONNX Runtime reads external data only so. */
export const resolvesInside = (dir: string, file: string) =>
  pathInside(fs.realpathSync(dir), fs.realpathSync(file)) !== undefined;

/** A location inside the folder may still be a symlink to any file on the machine: where it resolves must be inside too. */
function refuseLinkOutside(t: onnx.ITensorProto, file: string, modelDir: string): void {
  if (!resolvesInside(modelDir, file)) {
    const real = fs.realpathSync(file);
    throw new UserError(
      `tensor ${t.name}: external data file '${path.basename(file)}' is a link to ${real}, outside the model's folder; ` +
        `copy the data file itself next to the .onnx file`,
    );
  }
}

/**
 * A tensor's external byte range, checked: the file exists beside the model and is long enough. `sizes` caches
 * file sizes when many tensors share one `.onnx_data`.
 */
export function checkedRange(
  t: onnx.ITensorProto,
  modelDir: string,
  expectedBytes: number,
  sizes = new Map<string, number>(),
): { file: string; offset: number; length: number } {
  const ref = externalDataRef(t, modelDir);
  let size = sizes.get(ref.file);
  if (size === undefined) {
    if (!fs.existsSync(ref.file)) {
      throw new UserError(
        `tensor ${t.name}: external data file '${path.relative(modelDir, ref.file)}' not found beside the model (looked in ${modelDir}); ` +
          `copy the .onnx_data file next to the .onnx file`,
      );
    }
    refuseLinkOutside(t, ref.file, modelDir);
    size = fs.statSync(ref.file).size;
    sizes.set(ref.file, size);
  }
  const length = ref.length ?? expectedBytes;
  if (ref.offset + length > size) {
    throw new UserError(
      `tensor ${t.name}: external data file '${path.basename(ref.file)}' is too short ` +
        `(needs bytes ${ref.offset}..${ref.offset + length}, file has ${size}); it may be truncated`,
    );
  }
  return { file: ref.file, offset: ref.offset, length };
}

/** Reads one tensor's bytes from its external file, without reading the rest of the file. */
export function readExternalBytes(t: onnx.ITensorProto, modelDir: string, expectedBytes: number): Buffer {
  const { file, offset, length } = checkedRange(t, modelDir, expectedBytes);
  const buf = Buffer.alloc(length);
  readRange(
    file,
    buf,
    offset,
    (at) =>
      new UserError(
        `tensor ${t.name}: external data file '${path.basename(file)}' ended at byte ${at} while it was read (it changed or was truncated)`,
      ),
  );
  return buf;
}

/**
 * Checks every external tensor's location, file and byte range without reading the data, so a model with a
 * missing or short `.onnx_data` is refused before any work starts rather than halfway through a job.
 */
export function checkExternalData(
  tensors: onnx.ITensorProto[],
  modelDir: string,
  bytesOf: (t: onnx.ITensorProto) => number,
): void {
  const sizes = new Map<string, number>();
  for (const t of tensors) if (isExternal(t)) checkedRange(t, modelDir, bytesOf(t), sizes);
}
