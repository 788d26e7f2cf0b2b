// A WebGPU adapter on a machine without a GPU: SwiftShader, the Vulkan driver that Debian's chromium package
// ships (e2e/setup.sh installs it and the Vulkan loader, libvulkan1). It runs ONNX Runtime's WebGPU provider in
// software: the same kernels, shaders and CPU fallbacks as on a GPU, so placement and numbers can be checked here;
// its speed says nothing about a GPU's. It has no fp16 shaders.
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Whether the dynamic linker knows the Vulkan loader (ldconfig is in /sbin, off a plain user's PATH). */
function vulkanLoader(): boolean {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig'])
    try {
      return execFileSync(ldconfig, ['-p'], { encoding: 'utf8' }).includes('libvulkan.so.1 ');
    } catch {
      // not this one
    }
  return false;
}

/** The environment that gives a child process the software adapter, or why there is none. */
export function softwareWebGpu(): { env: NodeJS.ProcessEnv } | { missing: string } {
  if (!fs.existsSync(ICD)) return { missing: `${ICD} (Debian package chromium)` };
  if (!vulkanLoader()) return { missing: 'libvulkan.so.1 (Debian package libvulkan1)' };
  // XDG_RUNTIME_DIR: the Vulkan loader complains on every start without one.
  return { env: { ...process.env, VK_ICD_FILENAMES: ICD, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } };
}

/** `test` options: skipped with the reason where the adapter is missing, failed instead under CI=true. */
export function webGpuSkip(): { skip?: string } {
  const s = softwareWebGpu();
  if ('env' in s) return {};
  if (process.env.CI === 'true')
    throw new Error(`WebGPU tests: ${s.missing} is missing (npm test's e2e/setup.sh installs it as root)`);
  return { skip: `no software WebGPU adapter: ${s.missing} is missing (NOT RUN)` };
}
