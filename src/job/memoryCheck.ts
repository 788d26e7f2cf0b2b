// Out of memory, Linux stops a process without a word ("Killed"): the check below says so before the first heavy step.
import * as path from 'node:path';
import type { Decoder } from '../model/decoder';
import { totalCounts } from '../model/params';
import { EnvironmentError } from '../util/errors';
import { memoryRoom, type MemoryRoom } from '../util/freeMemory';
import { gib } from '../util/gib';

/**
 * What a job needs beyond the weights, at the least: one batch's activations (up to 64 MiB a tensor, several alive),
 * the head's weights widened to fp32, ONNX Runtime and Node themselves. Measured: `eval` of a 2-layer
 * Llama-2-7B-shaped fp16 model (1.3 GB) peaked 1.5 GB above its weights (README "Errors").
 */
export const MEMORY_BEYOND_WEIGHTS = 1.5 * 2 ** 30;

/**
 * Set to `warn` (any case), a refusal is a warning instead: the check estimates, and the user may know better (a
 * ZFS ARC or lxcfs leaves MemAvailable low, and so do caches a cgroup does not report as reclaimable).
 */
export const MEMORY_CHECK_ENV = 'SUBNET_SEARCH_MEMORY_CHECK';

/** Where the room comes from, for the messages. */
function roomText(room: MemoryRoom): string {
  const swap = room.swapBytes ? ` (and ${gib(room.swapBytes)} of swap)` : '';
  if (room.cgroupLimit !== undefined)
    return `${gib(room.bytes)} of memory${swap} are available under this process's cgroup limit of ${gib(room.cgroupLimit)}`;
  return `${gib(room.bytes)} of memory${swap} ${room.total ? 'are all the machine has' : 'are available'}`;
}

/**
 * Every job holds all of a model's stored weights in one ONNX Runtime session at some point (the tokenizer check,
 * evaluations, the search's fitness): refused when they alone exceed the memory and swap available (Linux, where
 * that is known: elsewhere, or with SUBNET_SEARCH_MEMORY_CHECK=warn, a warning), a warning when they and what a job
 * needs beyond them exceed the memory (swap would make the job crawl, if it survives).
 */
export function memoryCheck(
  d: Decoder,
  room: MemoryRoom = memoryRoom(),
  mode = process.env[MEMORY_CHECK_ENV],
): string | undefined {
  const weights = totalCounts(d).bytes;
  // Hugging Face exports all name their file model.onnx: the folder tells them apart.
  const model = `${path.basename(path.dirname(d.source.path))}/${path.basename(d.source.path)}`;
  const remedy =
    room.cgroupLimit !== undefined
      ? 'raise the limit (a container: docker run --memory) or run on a machine with more memory'
      : 'close other programs or run on a machine with more memory';
  if (weights > room.bytes + room.swapBytes && !room.total && mode?.toLowerCase() !== 'warn')
    throw new EnvironmentError(
      `${model}'s weights take ${gib(weights)}, which every job holds in memory at once, and ${roomText(room)}; ${remedy} (${MEMORY_CHECK_ENV}=warn runs the job anyway)`,
    );
  if (weights + MEMORY_BEYOND_WEIGHTS > room.bytes)
    return `${model}'s weights take ${gib(weights)} and a job needs about ${gib(MEMORY_BEYOND_WEIGHTS)} more, but ${roomText(room)}: the system may stop the job when memory runs out (Linux says "Killed"); ${remedy}`;
  return undefined;
}
