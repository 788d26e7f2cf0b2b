// What `compress` is asked, a type of its own so that the job and its stage files all read it without a cycle.
import type { Method } from '../compress/importance/scores';
import type { ReformMethod } from '../compress/reform/reformLayer';
import type { WeightStage } from '../compress/sparsify/sparsifyDecoder';
import type { ModelJobRequest } from './context';
import type { FloatType } from '../model/decoder';
import type { JobListener } from './protocol';
import type { SearchOptions } from './search';

export interface CompressRequest extends SearchOptions, ModelJobRequest {
  /** `search` (default) or a baseline that replaces it. */
  method?: 'search' | Method;
  reform?: boolean;
  reformMethod?: ReformMethod;
  onEvent?: JobListener;
  /** Sparsity and/or quantization after reformation (the two seeds composed). */
  weightStage?: WeightStage;
  /** The export's float type (default: the model's own). */
  dtype?: FloatType;
}
