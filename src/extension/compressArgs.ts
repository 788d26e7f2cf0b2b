import type { CompressForm } from '../../webview/protocol';

/** CLI arguments for the form (the panel runs the same `compress` job as the terminal). */
export function compressArgs(model: string, f: CompressForm, demoText: string): string[] {
  const args = [
    'compress',
    model,
    '--ratio',
    String(f.ratio),
    '--calib',
    f.calib || demoText,
    '--out',
    f.out,
    '--provider',
    f.provider,
    '--granularity',
    f.granularity,
    '--preset',
    f.preset,
    '--method',
    f.method,
    '--seed',
    String(f.seed),
  ];
  if (!f.reform) args.push('--no-reform');
  if (f.depth) args.push('--depth');
  if (f.sparsity) args.push('--sparsity', f.sparsity);
  // A profile spreads a fraction over the layers; N:M is the same in every layer.
  if (f.sparsity && !f.sparsity.includes(':') && f.profile && f.profile !== 'uniform')
    args.push('--profile', f.profile);
  if (f.bits) args.push('--bits', f.bits);
  if (f.dtype) args.push('--dtype', f.dtype);
  return args;
}
