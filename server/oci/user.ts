// Who the container process runs as: CRI run_as_user / run_as_username / run_as_group /
// supplemental_groups and the image's USER, resolved through the image's own /etc/passwd
// and /etc/group (read from the rootfs by the caller and passed in as text).
import { invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';
import type { OciUser } from './types.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

// runc refuses ids above MaxInt32, so we do too (containerd follows the same limit).
const MAX_ID = 0x7fffffff;

function parseId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : Number.POSITIVE_INFINITY;
}

/** /etc/passwd lines `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (uid === undefined || gid === undefined || uid > MAX_ID || gid > MAX_ID) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

/** /etc/group lines `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2] ?? '');
    if (gid === undefined || gid > MAX_ID) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0] ?? '', gid, members });
  }
  return out;
}

function checkId(value: number, what: string, spec: string): number {
  if (!Number.isFinite(value) || value < 0 || value > MAX_ID) {
    throw invalidArgument(`invalid user ${shown(spec)}: ${what} out of range`);
  }
  return value;
}

/** The CRI user fields that decide the process user. Int64 values arrive as decimal strings. */
export interface CriUserFields {
  run_as_user: { value: string } | null;
  run_as_username: string;
  run_as_group: { value: string } | null;
  supplemental_groups: readonly string[];
  /** 'Merge' (default) adds the user's groups from the image's /etc/group; 'Strict' does not. */
  supplemental_groups_policy?: string;
}

export interface UserInputs {
  cri: CriUserFields;
  /** The image config's USER (`user`, `uid`, `user:group`, `uid:gid`, …), possibly empty. */
  imageUser: string;
  /** Contents of the image's /etc/passwd and /etc/group; null when the file does not exist. */
  passwd: string | null;
  group: string | null;
}

function parseInt64(value: string, what: string): number {
  if (!/^-?\d+$/.test(value)) throw invalidArgument(`${what} ${shown(value)} is not an integer`);
  const n = Number(value);
  if (n < 0 || n > MAX_ID) throw invalidArgument(`${what} ${value} is out of range (0..${MAX_ID})`);
  return n;
}

/**
 * The user string the CRI config asks for, in image-spec USER form, or '' when it asks for
 * nothing (then the image's USER applies). A group without a user is an error, as in
 * containerd (critest checks it).
 */
export function criUserString(cri: CriUserFields): string {
  let user = '';
  if (cri.run_as_user) user = String(parseInt64(cri.run_as_user.value, 'run_as_user'));
  if (cri.run_as_username) user = cri.run_as_username;
  const group = cri.run_as_group ? String(parseInt64(cri.run_as_group.value, 'run_as_group')) : '';
  if (user === '') {
    if (group !== '') throw invalidArgument(`run_as_group ${group} is set without run_as_user or run_as_username`);
    return '';
  }
  return group === '' ? user : `${user}:${group}`;
}

export interface ResolvedUser extends OciUser {
  additionalGids: number[];
  /** The user's name when /etc/passwd knows it (for logs and status). */
  username?: string;
}

/**
 * uid, gid and additional gids of the process.
 *
 * - `uid` alone: gid from /etc/passwd when the uid is listed there, else 0 (no error: images
 *   often run as an unlisted uid).
 * - `name` alone: uid and gid from /etc/passwd; an unknown name is an error.
 * - `u:g`: each side numeric or a name resolved through /etc/passwd and /etc/group.
 * - additional gids: the primary gid, the CRI supplemental groups and — unless the policy
 *   is Strict — the groups of /etc/group that list the user as a member; sorted and unique
 *   (containerd's mergeGids).
 */
export function resolveUser(input: UserInputs): ResolvedUser {
  const users = input.passwd === null ? [] : parsePasswd(input.passwd);
  const groups = input.group === null ? [] : parseGroup(input.group);

  const fromCri = criUserString(input.cri);
  const spec = fromCri !== '' ? fromCri : input.imageUser.trim();

  let uid = 0;
  let gid = 0;
  let username: string | undefined;

  if (spec !== '') {
    const parts = spec.split(':');
    if (parts.length > 2 || parts[0] === '') throw invalidArgument(`invalid user ${shown(spec)}`);
    const [userPart = '', groupPart] = parts;
    const numericUid = parseId(userPart);
    if (numericUid !== undefined) {
      uid = checkId(numericUid, 'uid', spec);
      const entry = users.find((u) => u.uid === uid);
      if (entry) {
        username = entry.name;
        gid = entry.gid;
      }
    } else {
      const entry = users.find((u) => u.name === userPart);
      if (!entry) {
        throw invalidArgument(
          input.passwd === null
            ? `cannot resolve user ${shown(userPart)}: the image has no /etc/passwd`
            : `user ${shown(userPart)} not found in the image's /etc/passwd`,
        );
      }
      username = entry.name;
      uid = entry.uid;
      gid = entry.gid;
    }
    if (groupPart !== undefined) {
      if (groupPart === '') throw invalidArgument(`invalid user ${shown(spec)}: empty group`);
      const numericGid = parseId(groupPart);
      if (numericGid !== undefined) {
        gid = checkId(numericGid, 'gid', spec);
      } else {
        const g = groups.find((e) => e.name === groupPart);
        if (!g) {
          throw invalidArgument(
            input.group === null
              ? `cannot resolve group ${shown(groupPart)}: the image has no /etc/group`
              : `group ${shown(groupPart)} not found in the image's /etc/group`,
          );
        }
        gid = g.gid;
      }
    }
  } else {
    const root = users.find((u) => u.uid === 0);
    if (root) username = root.name;
  }

  const gids = new Set<number>([gid]);
  for (const s of input.cri.supplemental_groups) gids.add(parseInt64(s, 'supplemental group'));
  if ((input.cri.supplemental_groups_policy ?? 'Merge') !== 'Strict' && username !== undefined) {
    const name = username;
    // A group named like the user is its primary (per-user) group, not a supplemental one.
    for (const g of groups) if (g.name !== name && g.members.includes(name)) gids.add(g.gid);
  }
  const additionalGids = [...gids].sort((a, b) => a - b);
  const out: ResolvedUser = { uid, gid, additionalGids };
  if (username !== undefined) out.username = username;
  return out;
}
