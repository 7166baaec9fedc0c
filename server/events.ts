// Container and pod lifecycle events for GetContainerEvents (kubelet's evented PLEG).
// Subscribers get events from the moment they subscribe; a slow one is dropped rather
// than letting its backlog grow without bound.
import type { ContainerEventResponse } from '../wire/cri/generated/runtime/v1/ContainerEventResponse.js';

export type EventListener = (ev: ContainerEventResponse) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private readonly closers = new Map<EventListener, () => void>();

  /** `onClose` runs when the bus shuts down (berthd stopping), so streams can end cleanly. */
  subscribe(fn: EventListener, onClose?: () => void): () => void {
    this.listeners.add(fn);
    if (onClose) this.closers.set(fn, onClose);
    return () => {
      this.listeners.delete(fn);
      this.closers.delete(fn);
    };
  }

  close(): void {
    const closers = [...this.closers.values()];
    this.listeners.clear();
    this.closers.clear();
    for (const c of closers) c();
  }

  publish(ev: ContainerEventResponse): void {
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch {
        this.listeners.delete(fn);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
