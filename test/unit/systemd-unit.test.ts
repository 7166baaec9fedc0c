// Covers packaging/systemd/berth.service, the unit `berth node install` installs: systemd's
// own parser (systemd-analyze verify) finds no unknown key or bad value in it, and it keeps
// the settings berth relies on (containers outlive berthd, readiness by notification,
// restarts, node-daemon limits, the journal). Running it under a real systemd is the
// guest's test; this host has no systemd as PID 1.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { run } from '../../server/exec.js';

const UNIT = fileURLToPath(new URL('../../../packaging/systemd/berth.service', import.meta.url));

/** [section] → key → values (a key may repeat). Comments and blank lines skipped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = new Map();
      out.set(s[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`unit: cannot parse ${JSON.stringify(line)}`);
    const k = line.slice(0, eq);
    section.set(k, [...(section.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

test('systemd-analyze verify accepts the unit without a warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  try {
    // verify also checks that ExecStart exists; /opt/berth is not installed on a test host.
    const text = readFileSync(UNIT, 'utf8').replace(/^ExecStart=.*$/m, 'ExecStart=/bin/true');
    writeFileSync(join(dir, 'berth.service'), text);
    const r = await run('systemd-analyze', ['verify', join(dir, 'berth.service')], { allowFailure: true });
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr.trim(), '', 'systemd reports unknown keys and bad values on stderr and still exits 0');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the unit keeps containers alive across restarts and reports readiness by notification', (t) => {
  const u = parseUnit(readFileSync(UNIT, 'utf8'));
  const svc = u.get('Service')!;
  const one = (k: string) => {
    const v = svc.get(k);
    t.is(v?.length, 1, `[Service] ${k} is set once`);
    return v?.[0];
  };
  t.is(one('KillMode'), 'process', 'conmon and the containers must survive stop, restart and upgrade');
  t.is(one('Type'), 'notify');
  t.is(one('NotifyAccess'), 'main');
  t.is(one('ExecStart'), '/opt/berth/current/bin/berthd', 'the release `berth node install` switched /opt/berth/current to');
  t.is(one('Restart'), 'always');
  t.is(one('Delegate'), 'yes');
  t.is(one('LimitNOFILE'), '1048576');
  t.is(one('OOMScoreAdjust'), '-999');
  t.is(one('StandardError'), 'journal');
  t.true(Number(one('TimeoutStopSec')) > 30, 'longer than berthd shutdown_timeout_seconds default');
  t.is(u.get('Unit')!.get('Before')?.[0], 'kubelet.service');
  t.is(u.get('Install')!.get('WantedBy')?.[0], 'multi-user.target');
});
