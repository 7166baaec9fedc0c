// Pod files and pure sandbox helpers: resolv.conf and /etc/hosts (server/sandbox/pod-files.ts),
// ListPodSandbox filters (list.ts) and the port mappings that go to CNI (run.ts).
import test from 'ava';
import { buildResolvConf, buildHosts, writePodFiles } from '../../server/sandbox/pod-files.js';
import { sandboxMatches, matchesLabels } from '../../server/sandbox/list.js';
import { cniPortMappings } from '../../server/sandbox/run.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir, hostname } from 'node:os';

test('resolv.conf from DNSConfig, or the host file when the pod gives none', (t) => {
  t.is(buildResolvConf({ servers: ['10.0.0.10'], searches: ['a.svc', 'svc'], options: ['ndots:5', 'edns0'] }, 'host\n'), 'search a.svc svc\nnameserver 10.0.0.10\noptions ndots:5 edns0\n');
  t.is(buildResolvConf({ servers: ['10.0.0.10'], searches: [], options: [] }, 'host\n'), 'nameserver 10.0.0.10\n');
  t.is(buildResolvConf(null, 'nameserver 9.9.9.9\n'), 'nameserver 9.9.9.9\n');
  t.is(buildResolvConf({ servers: [], searches: [], options: [] }, 'h\n'), 'h\n');
});

test('pod files: own names for a pod network, the node\'s for host network', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'host-hosts'), '10.1.1.1 node\n');
  await writeFile(join(dir, 'host-resolv'), 'nameserver 1.2.3.4\n');
  const own = await writePodFiles({ dir: join(dir, 'a'), hostname: 'web-0', hostNetwork: false, dns: null, hostHosts: join(dir, 'host-hosts'), hostResolvConf: join(dir, 'host-resolv') });
  t.is(await readFile(own.hostnamePath, 'utf8'), 'web-0\n');
  t.is(await readFile(own.hostsPath, 'utf8'), buildHosts());
  t.is(await readFile(own.resolvConfPath, 'utf8'), 'nameserver 1.2.3.4\n');
  const host = await writePodFiles({ dir: join(dir, 'b'), hostname: 'ignored', hostNetwork: true, dns: null, hostHosts: join(dir, 'host-hosts'), hostResolvConf: join(dir, 'host-resolv') });
  t.is(await readFile(host.hostnamePath, 'utf8'), `${hostname()}\n`);
  t.is(await readFile(host.hostsPath, 'utf8'), '10.1.1.1 node\n');
});

test('list filters: id prefix, state, label selector', (t) => {
  const rec = { id: 'abcdef', state: 'SANDBOX_READY' as const, config: { labels: { app: 'x', tier: 'web' } } as never };
  t.true(sandboxMatches(rec, null));
  t.true(sandboxMatches(rec, { id: 'abc', state: null, label_selector: {} }));
  t.false(sandboxMatches(rec, { id: 'abd', state: null, label_selector: {} }));
  t.false(sandboxMatches(rec, { id: '', state: { state: 'SANDBOX_NOTREADY' }, label_selector: {} }));
  t.true(sandboxMatches(rec, { id: '', state: { state: 'SANDBOX_READY' }, label_selector: { app: 'x' } }));
  t.false(sandboxMatches(rec, { id: '', state: null, label_selector: { app: 'x', tier: 'db' } }));
  t.true(matchesLabels({ a: '1' }, {}));
  t.false(matchesLabels({}, { a: '' }));
});

test('only port mappings with a host port go to CNI', (t) => {
  t.deepEqual(
    cniPortMappings([
      { protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '' },
      { protocol: 'UDP', container_port: 53, host_port: 5353, host_ip: '127.0.0.1' },
      { protocol: 'TCP', container_port: 9000, host_port: 0, host_ip: '' },
    ]),
    [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
  );
});
