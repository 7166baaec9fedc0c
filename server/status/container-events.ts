// GetContainerEvents: a long-lived stream of lifecycle events until the client goes away.
import type { EventBus } from '../events.js';
import type { ContainerEventResponse } from '../../wire/cri/generated/runtime/v1/ContainerEventResponse.js';

export function containerEvents(bus: EventBus, send: (ev: ContainerEventResponse) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      unsubscribe();
      resolve();
    };
    const unsubscribe = bus.subscribe(send, done);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}
