// The recent lifecycle events berthd saw, per pod and per container, for `berth inspect`
// (issue 13): a subscriber of the same EventBus GetContainerEvents streams from, keeping the
// last `perObject` events of each id and the ids of the last `objects` objects touched, so
// its size is bounded whatever the churn. A container's events are also kept under its pod,
// and a removed object's events stay until newer objects push them out: "what happened to
// it" is most useful just after it went away.
import type { EventBus } from './events.js';
import type { ContainerEventResponse } from '../wire/cri/generated/runtime/v1/ContainerEventResponse.js';

export interface RecentEvent {
  /** ISO 8601. */
  time: string;
  /** CREATED, STARTED, STOPPED, DELETED (the CRI event type without its affixes). */
  type: string;
  kind: 'pod' | 'container';
  id: string;
  /** The pod's id (for a pod event, its own). */
  podId: string;
  /** The state after the event (CRI words), and for a stopped container its exit code and reason. */
  state?: string;
  exitCode?: number;
  reason?: string;
}

export function summarize(ev: ContainerEventResponse): RecentEvent {
  const pod = ev.pod_sandbox_status ?? undefined;
  const id = ev.container_id ?? '';
  const isPod = pod?.id === id;
  const c = isPod ? undefined : ev.containers_statuses?.[0];
  const ns = BigInt(String(ev.created_at ?? '0'));
  const out: RecentEvent = {
    time: new Date(Number(ns / 1_000_000n)).toISOString(),
    type: String(ev.container_event_type ?? '').replace(/^CONTAINER_/, '').replace(/_EVENT$/, ''),
    kind: isPod ? 'pod' : 'container',
    id,
    podId: pod?.id ?? '',
  };
  const state = isPod ? pod?.state : c?.state;
  if (state !== undefined && state !== null) out.state = String(state);
  if (c && String(c.state) === 'CONTAINER_EXITED') {
    out.exitCode = Number(c.exit_code ?? 0);
    if (c.reason) out.reason = c.reason;
  }
  return out;
}

export class EventRing {
  private readonly byId = new Map<string, RecentEvent[]>();
  private readonly unsubscribe: () => void;

  constructor(
    bus: EventBus,
    private readonly perObject = 32,
    private readonly objects = 512,
  ) {
    this.unsubscribe = bus.subscribe((ev) => this.add(summarize(ev)));
  }

  add(ev: RecentEvent): void {
    this.push(ev.id, ev);
    if (ev.kind === 'container' && ev.podId) this.push(ev.podId, ev);
  }

  private push(key: string, ev: RecentEvent): void {
    const list = this.byId.get(key) ?? [];
    this.byId.delete(key); // re-insert: Map order is the eviction order (least recently touched first)
    list.push(ev);
    if (list.length > this.perObject) list.splice(0, list.length - this.perObject);
    this.byId.set(key, list);
    while (this.byId.size > this.objects) this.byId.delete(this.byId.keys().next().value!);
  }

  /** The events of one pod (its containers' included) or container, oldest first. */
  get(id: string): RecentEvent[] {
    return [...(this.byId.get(id) ?? [])];
  }

  /** Ids held (for tests: bounded). */
  get size(): number {
    return this.byId.size;
  }

  close(): void {
    this.unsubscribe();
  }
}
