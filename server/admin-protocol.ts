// The admin socket's protocol version, shared by berthd (server/admin.ts) and the `berth`
// command line. Every request carries it in a header and every answer does too; either
// side refuses the other when it differs, which happens when the CLI and the running
// berthd come from different berth releases (an upgrade whose berthd was not restarted
// yet, or an old /usr/local/bin/berth). Bump it with any change an older peer would misread.
export const ADMIN_PROTOCOL = 1;
export const ADMIN_PROTOCOL_HEADER = 'x-berth-admin-protocol';
/** The berth release on the other end, for the messages. */
export const BERTH_VERSION_HEADER = 'x-berth-version';

export function adminProtocolMismatch(cli: { protocol: string; version: string }, berthd: { protocol: string; version: string }): string {
  return (
    `the berth command line (release ${cli.version || 'unknown'}, admin protocol ${cli.protocol || 'none'}) and the running berthd ` +
    `(release ${berthd.version || 'unknown'}, admin protocol ${berthd.protocol || 'none'}) do not speak the same admin protocol: ` +
    `use the berth of berthd's release (/opt/berth/${berthd.version || '<version>'}/bin/berth), or restart berthd (systemctl restart berth) if an upgrade installed a newer one`
  );
}
