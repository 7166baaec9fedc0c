// The Exec, Attach and PortForward RPCs: validate, check the target exists and can take
// a session, and hand back a single-use URL on the streaming server. The work happens
// when the client connects (server.ts → the backends).
import { failedPrecondition, invalidArgument } from '../errors.js';
import type { ContainerDeps } from '../container/deps.js';
import { runningContainer } from '../container/exec-stream.js';
import { readySandbox } from '../sandbox/port-forward.js';
import type { StreamingServer } from './server.js';
import type { StreamOptions } from './remotecommand.js';
import type { ExecRequest__Output } from '../../wire/cri/generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../../wire/cri/generated/runtime/v1/ExecResponse.js';
import type { AttachRequest__Output } from '../../wire/cri/generated/runtime/v1/AttachRequest.js';
import type { AttachResponse } from '../../wire/cri/generated/runtime/v1/AttachResponse.js';
import type { PortForwardRequest__Output } from '../../wire/cri/generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../../wire/cri/generated/runtime/v1/PortForwardResponse.js';

export interface StreamRpcDeps {
  containers: ContainerDeps;
  streaming: StreamingServer;
}

/** The checks kubelet's own streaming server makes (pure). */
export function validateStreamOptions(o: StreamOptions): void {
  if (o.tty && o.stderr) throw invalidArgument('tty and stderr cannot both be true: a terminal carries one output stream');
  if (!o.stdin && !o.stdout && !o.stderr) throw invalidArgument('one of stdin, stdout or stderr must be set');
}

export function exec(deps: StreamRpcDeps, req: ExecRequest__Output): ExecResponse {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  if (req.cmd.length === 0 || req.cmd[0] === '') throw invalidArgument('cmd must not be empty');
  const opts: StreamOptions = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
  validateStreamOptions(opts);
  const rec = runningContainer(deps.containers, req.container_id);
  return { url: deps.streaming.url({ kind: 'exec', containerId: rec.id, cmd: [...req.cmd], opts }) };
}

export function attach(deps: StreamRpcDeps, req: AttachRequest__Output): AttachResponse {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  const opts: StreamOptions = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
  validateStreamOptions(opts);
  const rec = runningContainer(deps.containers, req.container_id);
  if (opts.tty && !rec.config.tty) throw failedPrecondition(`container ${rec.id} was not created with a tty`);
  return { url: deps.streaming.url({ kind: 'attach', containerId: rec.id, opts }) };
}

export function portForward(deps: StreamRpcDeps, req: PortForwardRequest__Output): PortForwardResponse {
  if (!req.pod_sandbox_id) throw invalidArgument('pod_sandbox_id must not be empty');
  for (const p of req.port) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalidArgument(`port ${p} is not a valid TCP port`);
  }
  const rec = readySandbox(deps.containers.sandboxes, req.pod_sandbox_id);
  return { url: deps.streaming.url({ kind: 'portforward', podId: rec.id, ports: [...req.port] }) };
}
