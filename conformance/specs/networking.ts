// Networking: the pod IP is reachable from the node, pods reach each other on the pod
// network, containers of a pod reach each other on localhost, host ports map to pods,
// and host-network pods listen on the node.
import { request } from 'node:http';
import { randomInt } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { expect, type Spec, type SpecContext } from '../spec.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PodSandboxStatus', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus'] as const;

/** GET http://host:port/ from the node. */
function httpGet(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout connecting to ${host}:${port}`)));
    req.on('error', reject);
    req.end();
  });
}

const httpd = (t: SpecContext, name: string, listen: string) => t.containerConfig(name, { command: ['httpd', '-f', '-p', listen, '-h', '/var/www'] });

async function podIp(t: SpecContext, id: string): Promise<string> {
  const ip = (await t.call('PodSandboxStatus', { pod_sandbox_id: id })).status.network?.ip;
  expect.ok(isIPv4(ip ?? ''), `the pod has an IPv4 address (${ip})`);
  return ip;
}

export const networkingSpecs: Spec[] = [
  {
    id: 'net/pod-ip-from-node',
    area: 'pod networking',
    title: "a server in a pod answers on the pod's IP from the node",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('podip')));
      await t.startContainer(pod, httpd(t, 'web', '8080'));
      const ip = await podIp(t, pod.id);
      const body = await t.eventually(() => httpGet(ip, 8080), `GET http://${ip}:8080/ answers`);
      expect.equal(body.trim(), 'conformance-httpd', 'body');
    },
  },
  {
    id: 'net/pod-to-pod',
    area: 'pod networking',
    title: 'a pod reaches another pod by its IP',
    needs: [...BASE, 'ExecSync'],
    async run(t) {
      const server = await t.runPod(t.podConfig(t.name('srv')));
      await t.startContainer(server, httpd(t, 'web', '8080'));
      const ip = await podIp(t, server.id);
      const client = await t.runPod(t.podConfig(t.name('cli')));
      const c = await t.startContainer(client, t.containerConfig('client'));
      const out = await t.eventually(async () => {
        const r = await t.exec(c.id, ['timeout', '3', 'wget', '-q', '-O', '-', `http://${ip}:8080/`]);
        if (r.exitCode !== 0) throw new Error(`wget exited ${r.exitCode}: ${r.stderr.trim()}`);
        return r.stdout;
      }, `wget http://${ip}:8080/ from the other pod`);
      expect.equal(out.trim(), 'conformance-httpd', 'body');
    },
  },
  {
    id: 'net/localhost-in-pod',
    area: 'pod networking',
    title: 'containers of one pod reach each other on 127.0.0.1',
    needs: [...BASE, 'ExecSync'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('lo')));
      await t.startContainer(pod, httpd(t, 'web', '127.0.0.1:8081'));
      const c = await t.startContainer(pod, t.containerConfig('client'));
      const out = await t.eventually(async () => {
        const r = await t.exec(c.id, ['timeout', '3', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8081/']);
        if (r.exitCode !== 0) throw new Error(`wget exited ${r.exitCode}: ${r.stderr.trim()}`);
        return r.stdout;
      }, 'wget http://127.0.0.1:8081/ from the second container');
      expect.equal(out.trim(), 'conformance-httpd', 'body');
    },
  },
  {
    id: 'net/port-mapping',
    area: 'pod networking',
    title: "a pod's host port forwards to its container port",
    needs: BASE,
    async run(t) {
      const hostPort = randomInt(30000, 32000);
      const pod = await t.runPod(
        t.podConfig(t.name('hostport'), { port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort, host_ip: '' }] }),
      );
      await t.startContainer(pod, httpd(t, 'web', '8080'));
      // portmap's DNAT covers locally generated traffic to 127.0.0.1 (route_localnet + SNAT).
      const body = await t.eventually(() => httpGet('127.0.0.1', hostPort), `GET http://127.0.0.1:${hostPort}/ answers`);
      expect.equal(body.trim(), 'conformance-httpd', 'body through the host port');
    },
  },
  {
    id: 'net/host-network-listen',
    area: 'pod networking',
    title: 'a host-network pod listens on the node itself',
    needs: BASE,
    async run(t) {
      const port = randomInt(32000, 34000);
      const pod = await t.runPod(t.podConfig(t.name('hostnetsrv'), { hostname: '', linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } }));
      await t.startContainer(pod, httpd(t, 'web', `127.0.0.1:${port}`));
      const body = await t.eventually(() => httpGet('127.0.0.1', port), `GET http://127.0.0.1:${port}/ answers`);
      expect.equal(body.trim(), 'conformance-httpd', 'body');
    },
  },
];
