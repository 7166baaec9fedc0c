// Every spec of the suite, in report order.
import type { Spec } from '../spec.js';
import { runtimeSpecs } from './runtime.js';
import { sandboxSpecs } from './sandbox.js';
import { namespaceSpecs } from './namespaces.js';
import { networkingSpecs } from './networking.js';
import { imageSpecs } from './images.js';
import { containerSpecs } from './containers.js';
import { logSpecs } from './logs.js';
import { execSpecs } from './exec.js';
import { streamingSpecs } from './streaming.js';
import { securitySpecs } from './security.js';
import { resourceSpecs } from './resources.js';
import { statsSpecs } from './stats.js';
import { eventSpecs } from './events.js';
import { errorSpecs } from './errors.js';

export const allSpecs: readonly Spec[] = [
  ...runtimeSpecs,
  ...sandboxSpecs,
  ...namespaceSpecs,
  ...networkingSpecs,
  ...imageSpecs,
  ...containerSpecs,
  ...logSpecs,
  ...execSpecs,
  ...streamingSpecs,
  ...securitySpecs,
  ...resourceSpecs,
  ...statsSpecs,
  ...eventSpecs,
  ...errorSpecs,
];

const ids = new Set<string>();
for (const s of allSpecs) {
  if (ids.has(s.id)) throw new Error(`duplicate spec id ${s.id}`);
  ids.add(s.id);
}
