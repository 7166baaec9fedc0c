// Runtime info: Version, Status (conditions), RuntimeConfig.
import { expect, type Spec } from '../spec.js';

export const runtimeSpecs: Spec[] = [
  {
    id: 'runtime/version',
    area: 'runtime info',
    title: 'Version names the runtime, its version and CRI API v1',
    needs: ['Version'],
    async run(t) {
      const v = await t.call('Version', { version: 'v1' });
      expect.equal(v.runtime_api_version, 'v1', 'runtime_api_version');
      expect.ok(v.runtime_name, 'runtime_name is set');
      expect.ok(v.runtime_version, 'runtime_version is set');
      expect.ok(v.version, 'version (the kubelet API version) is set');
      t.note(`${v.runtime_name} ${v.runtime_version}`);
    },
  },
  {
    id: 'runtime/status-conditions',
    area: 'runtime info',
    title: 'Status reports RuntimeReady and NetworkReady as true',
    needs: ['Status'],
    async run(t) {
      const s = await t.call('Status', {});
      const conds = (s.status?.conditions ?? []) as Array<{ type: string; status: boolean; reason: string; message: string }>;
      for (const type of ['RuntimeReady', 'NetworkReady']) {
        const c = conds.find((x) => x.type === type);
        expect.ok(c, `condition ${type} is reported (got ${conds.map((x) => x.type).join(', ') || 'none'})`);
        expect.equal(c.status, true, `${type} status (reason: ${c.reason} ${c.message})`);
      }
    },
  },
  {
    id: 'runtime/status-verbose',
    area: 'runtime info',
    title: 'Status with verbose returns an info map; without, none',
    needs: ['Status'],
    async run(t) {
      const quiet = await t.call('Status', { verbose: false });
      expect.equal(Object.keys(quiet.info ?? {}).length, 0, 'number of info entries without verbose');
      const loud = await t.call('Status', { verbose: true });
      expect.ok(Object.keys(loud.info ?? {}).length > 0, 'verbose Status returns info entries');
    },
  },
  {
    id: 'runtime/runtime-config',
    area: 'runtime info',
    title: 'RuntimeConfig reports the cgroup driver',
    needs: ['RuntimeConfig'],
    async run(t) {
      const rc = await t.call('RuntimeConfig', {});
      expect.includes(['SYSTEMD', 'CGROUPFS'], rc.linux?.cgroup_driver, 'linux.cgroup_driver');
    },
  },
];
