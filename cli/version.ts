// berth version: this command line's release and protocols, and the running berthd's.
import { loadConfig } from '../server/config.js';
import { ADMIN_PROTOCOL } from '../server/admin-protocol.js';
import { BERTH_VERSION } from '../server/status/version.js';
import { SHIM_PROTOCOL } from '../shim/job.js';
import { migrations } from '../server/store/migrations.js';
import { admin } from './admin-client.js';
import { parse } from './args.js';

export async function version(args: string[]): Promise<number> {
  const { values } = parse(args, { state: { type: 'string' } }, 'berth version [--state DIR]');
  console.log(`berth ${BERTH_VERSION} (admin protocol ${ADMIN_PROTOCOL}, shim protocol ${SHIM_PROTOCOL}, store schema ${migrations.length})`);
  try {
    const d = (await admin(values.state ?? loadConfig([]).config.state, 'GET', '/v1/version')) as { version: string; protocols: { admin: number; shim: number }; store: { schema: number } };
    console.log(`berthd ${d.version} (admin protocol ${d.protocols.admin}, shim protocol ${d.protocols.shim}, store schema ${d.store.schema})`);
  } catch (e) {
    console.log(`berthd: ${(e as Error).message}`);
  }
  return 0;
}
