// Capabilities in the OCI spec (server/oci/capabilities.ts): containerd's default set,
// add/drop with ALL, the bound of what the host holds, unknown names refused, CapEff parsing.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import {
  capabilitiesFromMask,
  containerCapabilities,
  DEFAULT_CAPABILITIES,
  effectiveCapabilitiesFromStatus,
  KNOWN_CAPABILITIES,
  normalizeCapability,
} from '../../server/oci/capabilities.js';

const req = (add: string[], drop: string[]) => ({ add_capabilities: add, drop_capabilities: drop, add_ambient_capabilities: [] });

test('the default set is containerd\'s fourteen', (t) => {
  t.deepEqual(containerCapabilities(null), [...DEFAULT_CAPABILITIES]);
  t.is(DEFAULT_CAPABILITIES.length, 14);
  t.true(DEFAULT_CAPABILITIES.includes('CAP_NET_RAW'));
  t.false(DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
  t.false(DEFAULT_CAPABILITIES.includes('CAP_NET_ADMIN'));
});

test('KNOWN_CAPABILITIES is indexed by bit number', (t) => {
  t.is(KNOWN_CAPABILITIES.length, 41);
  t.is(KNOWN_CAPABILITIES[0], 'CAP_CHOWN');
  t.is(KNOWN_CAPABILITIES[21], 'CAP_SYS_ADMIN');
  t.is(KNOWN_CAPABILITIES[24], 'CAP_SYS_RESOURCE');
  t.is(KNOWN_CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
});

test('add and drop individual capabilities, with or without the CAP_ prefix', (t) => {
  const caps = containerCapabilities(req(['NET_ADMIN', 'cap_sys_time'], ['CHOWN', 'CAP_KILL']));
  t.true(caps.includes('CAP_NET_ADMIN'));
  t.true(caps.includes('CAP_SYS_TIME'));
  t.false(caps.includes('CAP_CHOWN'));
  t.false(caps.includes('CAP_KILL'));
  t.is(caps.length, 14);
});

test('add ALL gives every host capability; a drop still applies', (t) => {
  const caps = containerCapabilities(req(['ALL'], ['CHOWN']));
  t.is(caps.length, KNOWN_CAPABILITIES.length - 1);
  t.false(caps.includes('CAP_CHOWN'));
  t.true(caps.includes('CAP_SYS_ADMIN'));
});

test('drop ALL leaves only what is added back', (t) => {
  t.deepEqual(containerCapabilities(req(['NET_BIND_SERVICE'], ['ALL'])), ['CAP_NET_BIND_SERVICE']);
  t.deepEqual(containerCapabilities(req([], ['all'])), []);
});

test('add ALL and drop ALL together: drop wins, then individual adds', (t) => {
  t.deepEqual(containerCapabilities(req(['ALL', 'KILL'], ['ALL'])), ['CAP_KILL']);
});

test('"all" is bounded by what the host holds (no CAP_SYS_RESOURCE on our test hosts)', (t) => {
  const host = capabilitiesFromMask('000001fffeffffff');
  t.false(host.includes('CAP_SYS_RESOURCE'));
  t.is(host.length, 40);
  const caps = containerCapabilities(req(['ALL'], []), host);
  t.false(caps.includes('CAP_SYS_RESOURCE'));
  const err = t.throws(() => containerCapabilities(req(['SYS_RESOURCE'], []), host), { instanceOf: BerthError });
  t.is(err?.kind, 'FailedPrecondition');
});

test('unknown capability names are refused', (t) => {
  const err = t.throws(() => containerCapabilities(req(['FLY'], [])), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
  t.throws(() => normalizeCapability('CAP_'), { instanceOf: BerthError });
});

test('CapEff of a status text', (t) => {
  const status = 'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t0000000000000003\nCapBnd:\t000001ffffffffff\n';
  t.deepEqual(effectiveCapabilitiesFromStatus(status), ['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
  t.is(capabilitiesFromMask('000001ffffffffff').length, 41);
});
