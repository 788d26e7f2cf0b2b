// `npm run bench [-- NAME ...]`: runs the named benchmarks (default: all) and updates bench/results and README.
import { benchBaselines } from './baselines';
import { benchEvalSpeed } from './evalSpeed';
import { benchSearch, benchSearchSeeds, benchSearchVariants } from './search';
import { benchReform } from './reform';
import { benchSparsity } from './sparsity';
import { benchExportSpeed } from './exportSpeed';
import { benchScale } from './scale';
import { benchLinalg } from './linalg';
import { benchProfile } from './profile';
import { benchProfileScale } from './profileScale';
import { benchSparsegptReference } from './sparsegptReference';
import { benchAdversarial } from './adversarial';
import { benchLayerMemory } from './layerMemory';
import { benchScale7b } from './scale7b';

const ALL: Record<string, () => Promise<void>> = {
  'eval-speed': benchEvalSpeed,
  baselines: benchBaselines,
  search: benchSearch,
  'search-variants': benchSearchVariants,
  'search-seeds': benchSearchSeeds,
  reform: benchReform,
  'export-speed': benchExportSpeed,
  sparsity: benchSparsity,
  scale: benchScale,
  linalg: benchLinalg,
  profile: benchProfile,
  'profile-scale': benchProfileScale,
  'sparsegpt-reference': benchSparsegptReference,
  adversarial: benchAdversarial,
  'layer-memory': benchLayerMemory,
  'scale-7b': benchScale7b,
};

async function main() {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(ALL);
  for (const n of names) {
    if (!ALL[n]) throw new Error(`unknown benchmark ${n}; choose from ${Object.keys(ALL).join(', ')}`);
    const t0 = performance.now();
    await ALL[n]();
    console.log(`${n}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
}

void main();
