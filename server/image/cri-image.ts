// Image records in the CRI's shape (Image, ImageStatus info). Pure.
import type { Image__Output } from '../../wire/cri/generated/runtime/v1/Image.js';
import type { ImageRecord, ImageRef } from './image-store.js';

/** The CRI's uid/username from the config's User (`uid`, `uid:gid`, `name`, `name:group`).
 *  They are exclusive; an empty User gives neither. */
export function imageUser(user: string | undefined): { uid?: number; username?: string } {
  if (!user) return {};
  const u = user.split(':')[0]!;
  if (u === '') return {};
  if (/^[0-9]+$/.test(u)) return { uid: Number(u) };
  return { username: u };
}

export function toCriImage(rec: ImageRecord, refs: readonly ImageRef[], pinned: boolean): Image__Output {
  let user: string | undefined;
  try {
    user = (JSON.parse(rec.config) as { config?: { User?: string } }).config?.User;
  } catch {
    user = undefined;
  }
  const u = imageUser(user);
  return {
    id: rec.id,
    repo_tags: refs.filter((r) => r.kind === 'tag').map((r) => r.name),
    repo_digests: refs.filter((r) => r.kind === 'digest').map((r) => r.name),
    size: String(rec.size),
    uid: u.uid !== undefined ? { value: String(u.uid) } : null,
    username: u.username ?? '',
    spec: { image: rec.id, annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: rec.id },
    pinned,
  };
}
