// Images: pull by tag and by digest, multi-platform indexes, ImageStatus by every kind
// of reference, ListImages with a filter, RemoveImage, ImageFsInfo, image users, auth.
// Each spec that removes an image has an image of its own (distinct image ids).
import { expect, type Spec, type SpecContext } from '../spec.js';

interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
}

async function imageStatus(t: SpecContext, ref: string): Promise<CriImage | null> {
  return (await t.call('ImageStatus', { image: { image: ref } })).image ?? null;
}

async function pull(t: SpecContext, ref: string, extra: object = {}): Promise<string> {
  const r = await t.call('PullImage', { image: { image: ref }, ...extra }, 120_000);
  t.defer(() => t.call('RemoveImage', { image: { image: ref } }));
  return r.image_ref;
}

const repoOf = (ref: string) => ref.replace(/@sha256:.*$/, '').replace(/:[^/:]+$/, '');

export const imageSpecs: Spec[] = [
  {
    id: 'image/pull-by-tag',
    area: 'images',
    title: 'PullImage by tag; ImageStatus reports id, repo tag, repo digest and size',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.pullTag;
      const imageRef = await pull(t, ref);
      expect.ok(imageRef, 'PullImage returns an image_ref');
      const img = await imageStatus(t, ref);
      expect.ok(img, 'ImageStatus finds the pulled image');
      expect.equal(img.id, t.images.ids.pullTag, 'image id (the config digest)');
      expect.includes(img.repo_tags, ref, 'repo_tags');
      expect.includes(img.repo_digests, `${repoOf(ref)}@${t.images.manifestDigests.pullTag}`, 'repo_digests');
      expect.ok(Number(img.size) > 0, `size > 0 (got ${img.size})`);
      expect.ok(imageRef === img.id || img.repo_digests.includes(imageRef) || imageRef.includes(t.images.manifestDigests.pullTag!), `image_ref ${imageRef} names the image (its id or a repo digest)`);
    },
  },
  {
    id: 'image/pull-by-digest',
    area: 'images',
    title: 'PullImage by digest; ImageStatus by that digest reference',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.pullDigest;
      await pull(t, ref);
      const img = await imageStatus(t, ref);
      expect.ok(img, 'ImageStatus by digest finds the image');
      expect.equal(img.id, t.images.ids.pullDigest, 'image id');
      expect.includes(img.repo_digests, ref, 'repo_digests');
    },
  },
  {
    id: 'image/status-by-any-reference',
    area: 'images',
    title: 'ImageStatus accepts the tag, the digest reference and the image id',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.anyRef;
      await pull(t, ref);
      const byTag = await imageStatus(t, ref);
      expect.ok(byTag, 'by tag');
      const byDigest = await imageStatus(t, `${repoOf(ref)}@${t.images.manifestDigests.anyRef}`);
      expect.equal(byDigest?.id, byTag.id, 'by digest reference');
      const byId = await imageStatus(t, byTag.id);
      expect.equal(byId?.id, byTag.id, 'by image id');
    },
  },
  {
    id: 'image/pull-index',
    area: 'images',
    title: "PullImage of a multi-platform index picks this host's platform",
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.index;
      await pull(t, ref);
      const img = await imageStatus(t, ref);
      expect.ok(img, 'ImageStatus finds the image');
      expect.equal(img.id, t.images.indexHostId, "image id (the host platform's config digest)");
    },
  },
  {
    id: 'image/concurrent-pull',
    area: 'images',
    title: 'two PullImage calls for one image at once both succeed with the same image',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.concurrent;
      t.defer(() => t.call('RemoveImage', { image: { image: ref } }));
      const [a, b] = await Promise.all([t.call('PullImage', { image: { image: ref } }, 120_000), t.call('PullImage', { image: { image: ref } }, 120_000)]);
      expect.equal(a.image_ref, b.image_ref, 'image_ref of both pulls');
      expect.equal((await imageStatus(t, ref))?.id, t.images.ids.concurrent, 'image id');
    },
  },
  {
    id: 'image/pull-docker-and-zstd',
    area: 'images',
    title: 'PullImage of a Docker schema 2 image and of an OCI image with a zstd layer',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      for (const role of ['docker', 'zstd'] as const) {
        const ref = t.images.refs[role];
        await pull(t, ref);
        expect.equal((await imageStatus(t, ref))?.id, t.images.ids[role], `image id of the ${role} image`);
      }
    },
  },
  {
    id: 'image/status-absent',
    area: 'images',
    title: 'ImageStatus of an image that is not present succeeds with no image',
    needs: ['ImageStatus'],
    async run(t) {
      const img = await imageStatus(t, `${t.images.registry}/conformance/never-pushed:1.0`);
      expect.equal(img, null, 'image');
    },
  },
  {
    id: 'image/list',
    area: 'images',
    title: 'ListImages lists pulled images with their id, tags and digests',
    needs: ['PullImage', 'ListImages', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.list;
      await pull(t, ref);
      const all = (await t.call('ListImages', {})).images as CriImage[];
      const mine = all.find((i) => i.repo_tags.includes(ref));
      expect.ok(mine, `ListImages includes ${ref}`);
      expect.equal(mine.id, t.images.ids.list, 'listed id');
      expect.includes(mine.repo_digests, `${repoOf(ref)}@${t.images.manifestDigests.list}`, 'listed repo_digests');
      expect.ok(Number(mine.size) > 0, 'listed size > 0');
    },
  },
  {
    id: 'image/list-filter',
    area: 'images',
    title: 'ListImages with a filter by reference returns just that image',
    needs: ['PullImage', 'ListImages', 'RemoveImage'],
    limitations: {
      containerd: 'containerd 1.6 ignores ListImagesRequest.filter and returns every image (pkg/cri/server/image_list.go: "TODO: Add image list filters"); kubelet never sends one',
    },
    async run(t) {
      const ref = t.images.refs.listFilter;
      await pull(t, ref);
      const filtered = (await t.call('ListImages', { filter: { image: { image: ref } } })).images as CriImage[];
      expect.deepEqual(
        filtered.map((i) => i.id),
        [t.images.ids.listFilter],
        'ListImages filtered by the reference',
      );
    },
  },
  {
    id: 'image/stream-images',
    area: 'images',
    title: 'StreamImages with a filter returns the image ListImages knows',
    needs: ['PullImage', 'ListImages', 'StreamImages', 'RemoveImage'],
    async run(t) {
      const ref = t.images.refs.stream;
      await pull(t, ref);
      const msgs = await t.stream('StreamImages', { filter: { image: { image: ref } } }, { timeoutMs: 10_000 });
      const ids = msgs.flatMap((m: { images?: CriImage[] }) => (m.images ?? []).map((i) => i.id));
      expect.deepEqual(ids, [t.images.ids.stream], 'streamed image ids');
    },
  },
  {
    id: 'image/remove',
    area: 'images',
    title: 'RemoveImage removes the image; removing it again succeeds',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage', 'ListImages'],
    async run(t) {
      const ref = t.images.refs.remove;
      await t.call('PullImage', { image: { image: `${repoOf(ref)}@${t.images.manifestDigests.remove}` } }, 120_000);
      const id = t.images.ids.remove!;
      const before = await imageStatus(t, id);
      expect.ok(before, 'present after pull');
      await t.call('RemoveImage', { image: { image: id } });
      expect.equal(await imageStatus(t, id), null, 'ImageStatus by id after RemoveImage');
      const listed = ((await t.call('ListImages', {})).images as CriImage[]).map((i) => i.id);
      expect.notIncludes(listed, id, 'ListImages ids after RemoveImage');
      await t.call('RemoveImage', { image: { image: id } });
      await t.call('RemoveImage', { image: { image: ref } });
    },
  },
  {
    id: 'image/fs-info',
    area: 'images',
    title: 'ImageFsInfo reports the image filesystem: mountpoint, used bytes, inodes, timestamp',
    needs: ['ImageFsInfo'],
    async run(t) {
      const r = await t.call('ImageFsInfo', {});
      const fss = r.image_filesystems as Array<{ timestamp: string; fs_id: { mountpoint: string } | null; used_bytes: { value: string } | null; inodes_used: { value: string } | null }>;
      expect.ok(fss.length > 0, 'at least one image filesystem');
      for (const fs of fss) {
        expect.ok(fs.fs_id?.mountpoint, 'fs_id.mountpoint is set');
        expect.ok(fs.used_bytes && BigInt(fs.used_bytes.value) >= 0n, 'used_bytes is set');
        expect.ok(fs.inodes_used && BigInt(fs.inodes_used.value) >= 0n, 'inodes_used is set');
        expect.recentNs(fs.timestamp, 'timestamp');
      }
    },
  },
  {
    id: 'image/user',
    area: 'images',
    title: "ImageStatus reports the image's user: a uid for a numeric USER, a username for a name",
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    async run(t) {
      await t.ensureImage(t.images.refs.userUid);
      await t.ensureImage(t.images.refs.userName);
      const numeric = await imageStatus(t, t.images.refs.userUid);
      expect.equal(numeric?.uid?.value, '1001', 'uid of USER 1001');
      expect.equal(numeric?.username, '', 'username of USER 1001');
      const named = await imageStatus(t, t.images.refs.userName);
      expect.equal(named?.username, 'www-data', 'username of USER www-data');
      expect.equal(named?.uid ?? null, null, 'uid of USER www-data');
    },
  },
  {
    id: 'image/pull-missing',
    area: 'images',
    title: 'PullImage of a tag the registry does not have fails',
    needs: ['PullImage'],
    async run(t) {
      await t.callFails('PullImage', { image: { image: `${t.images.registry}/conformance/never-pushed:1.0` } }, undefined, 'PullImage of a missing tag');
    },
  },
  {
    id: 'image/pull-invalid-reference',
    area: 'images',
    title: 'PullImage of a malformed reference fails',
    needs: ['PullImage'],
    async run(t) {
      await t.callFails('PullImage', { image: { image: 'UPPER/Case::bad@@ref' } }, undefined, 'PullImage of a malformed reference');
    },
  },
  {
    id: 'image/pull-with-auth',
    area: 'images',
    title: 'PullImage from a registry with basic auth: refused without credentials, pulled with them',
    needs: ['PullImage', 'ImageStatus', 'RemoveImage'],
    requires: ['authRegistry'],
    async run(t) {
      const ref = t.images.refs.auth!;
      const auth = t.env.auth!;
      await t.callFails('PullImage', { image: { image: ref } }, undefined, 'PullImage without credentials');
      await t.callFails('PullImage', { image: { image: ref }, auth: { username: auth.username, password: 'wrong-password' } }, undefined, 'PullImage with a wrong password');
      await pull(t, ref, { auth: { username: auth.username, password: auth.password } });
      expect.equal((await imageStatus(t, ref))?.id, t.images.ids.auth, 'image id after an authenticated pull');
    },
  },
];
