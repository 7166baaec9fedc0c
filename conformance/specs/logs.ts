// Container logs: the CRI log format on disk (kubelet reads these files), stdout and
// stderr tagged, partial lines, long lines, and ReopenContainerLog after rotation.
import { rename, stat } from 'node:fs/promises';
import { expect, type Spec } from '../spec.js';
import { joinPartials, logOfExited, parseCriLog, readLogFile } from './util.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus'] as const;

export const logSpecs: Spec[] = [
  {
    id: 'logs/cri-format',
    area: 'logs',
    title: 'stdout and stderr go to log_path in CRI format, in order, each line tagged with its stream',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('logfmt')));
      const c = await t.startContainer(
        pod,
        t.containerConfig('fmt', { command: ['sh', '-c', 'echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo "out 2  with  spaces"; sleep 0.1; echo err-2 >&2'] }),
      );
      await t.waitContainer(c.id, 'CONTAINER_EXITED');
      const raw = await t.eventually(async () => {
        const text = await readLogFile(c.logFile);
        return text.split('\n').length > 4 ? text : '';
      }, 'the log has four lines');
      const lines = parseCriLog(raw);
      expect.deepEqual(
        lines.map((l) => [l.stream, l.tag, l.text]),
        [
          ['stdout', 'F', 'out-1'],
          ['stderr', 'F', 'err-1'],
          ['stdout', 'F', 'out 2  with  spaces'],
          ['stderr', 'F', 'err-2'],
        ],
        'log lines (stream, tag, text)',
      );
      const times = lines.map((l) => Date.parse(l.time));
      expect.ok(times.every((x, i) => i === 0 || x >= times[i - 1]!), 'timestamps do not go backwards');
      expect.ok(Math.abs(times[0]! - Date.now()) < 3600_000, 'timestamps are near now');
    },
  },
  {
    id: 'logs/long-line',
    area: 'logs',
    title: 'a line longer than the log buffer survives intact (P… F, or one F line)',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('longline')));
      // 40000 characters, no newline until the end.
      const c = await t.startContainer(pod, t.containerConfig('long', { command: ['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; echo; echo after'] }));
      const lines = await logOfExited(t, c);
      expect.equal(lines.length, 2, 'whole lines after joining partials');
      expect.equal(lines[0]!.text, 'x'.repeat(40000), 'the long line (joined)');
      expect.equal(lines[1]!.text, 'after', 'the next line');
    },
  },
  {
    id: 'logs/partial-final-line',
    area: 'logs',
    title: 'output that ends without a newline is still logged',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('partial')));
      const c = await t.startContainer(pod, t.containerConfig('partial', { command: ['sh', '-c', 'echo first; printf no-newline'] }));
      await t.waitContainer(c.id, 'CONTAINER_EXITED');
      const lines = await t.eventually(async () => {
        const l = joinPartials(parseCriLog(await readLogFile(c.logFile)));
        return l.length >= 2 ? l : null;
      }, 'two lines are logged');
      expect.deepEqual(lines.map((l) => l.text), ['first', 'no-newline'], 'logged text');
    },
  },
  {
    id: 'logs/reopen',
    area: 'logs',
    title: 'ReopenContainerLog after the log file was rotated: new lines go to a new file at log_path',
    needs: [...BASE, 'ReopenContainerLog'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('reopen')));
      const c = await t.startContainer(pod, t.containerConfig('ticker', { command: ['sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.1; done'] }));
      await t.eventually(async () => (await readLogFile(c.logFile)).includes('tick 2'), 'the container logs ticks');
      await rename(c.logFile, `${c.logFile}.1`);
      await t.call('ReopenContainerLog', { container_id: c.id });
      const fresh = await t.eventually(async () => {
        const text = await readLogFile(c.logFile);
        return text.includes('tick') ? text : '';
      }, 'new ticks appear in a new file at log_path');
      const firstNew = Number(/tick (\d+)/.exec(parseCriLog(fresh)[0]!.text)![1]);
      const old = joinPartials(parseCriLog(await readLogFile(`${c.logFile}.1`)));
      const lastOld = Number(/tick (\d+)/.exec(old[old.length - 1]!.text)![1]);
      expect.ok(firstNew > lastOld, `the new file continues where the rotated one stopped (rotated ends at ${lastOld}, new starts at ${firstNew})`);
      expect.ok(firstNew === lastOld + 1, `no line is lost across the reopen (rotated ends at ${lastOld}, new starts at ${firstNew})`);
      expect.ok((await stat(c.logFile)).size > 0, 'the new file is not empty');
    },
  },
  {
    id: 'logs/reopen-stopped',
    area: 'logs',
    title: 'ReopenContainerLog on a container that is not running fails',
    needs: [...BASE, 'ReopenContainerLog'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('reopen-stopped')));
      const c = await t.startContainer(pod, t.containerConfig('done', { command: ['true'] }));
      await t.waitContainer(c.id, 'CONTAINER_EXITED');
      await t.callFails('ReopenContainerLog', { container_id: c.id }, undefined, 'ReopenContainerLog on an exited container');
    },
  },
];
