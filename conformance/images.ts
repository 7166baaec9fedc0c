// The suite's own test images, built from Debian's busybox-static (and catatonit for the
// pause image) and pushed to a registry on 127.0.0.1. Every image gets a distinct config
// (a label naming it), so its image id differs from every other: a runtime that removes
// all references of an image id on RemoveImage (containerd does) never removes another
// spec's image by accident. Layers are shared, so pushing is cheap.
//
// Image building and pushing are shared with the integration tests (test/helpers/):
// those modules use only node: built-ins, nothing from the test framework.
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { buildImage, buildIndex, pushImage, pushIndex, hostArchitecture, type BuiltImage, type ImageConfigSpec, type LayerSpec } from '../test/helpers/image-builder.js';
import type { TarFile } from '../test/helpers/tar.js';

/** Users and groups of the busybox image; security specs rely on these exact values. */
export const IMAGE_USERS = {
  /** run_as_username → this uid/gid; also a member of `extra` (2001) in /etc/group. */
  user1: { name: 'user1', uid: 1001, gid: 1001, extraGroup: 2001 },
  wwwData: { name: 'www-data', uid: 33, gid: 33 },
} as const;

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'www-data:x:33:33:www-data:/var/www:/bin/false',
  'user1:x:1001:1001:user1:/home/user1:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

const GROUP = ['root:x:0:', 'daemon:x:1:', 'www-data:x:33:', 'user1:x:1001:', 'extra:x:2001:user1', 'nogroup:x:65534:', ''].join('\n');

let applets: string[] | undefined;
function busyboxApplets(): string[] {
  if (!applets) {
    const r = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`/bin/busybox --list failed (Debian package busybox-static): ${r.stderr || r.error?.message}`);
    applets = r.stdout.split('\n').filter((a) => a && a !== 'busybox' && /^[a-z0-9_.[-]+$/.test(a));
  }
  return applets;
}

/** The base layer: /bin/busybox with one symlink per applet, /etc files and the usual dirs. */
export function busyboxBase(): LayerSpec {
  const entries: TarFile[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    ...busyboxApplets().map((a): TarFile => ({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { path: 'etc', type: 'dir' },
    { path: 'etc/passwd', content: PASSWD },
    { path: 'etc/group', content: GROUP },
    { path: 'home', type: 'dir' },
    { path: 'home/user1', type: 'dir', mode: 0o755, uid: 1001, gid: 1001 },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'var', type: 'dir' },
    { path: 'var/www', type: 'dir' },
    { path: 'var/www/index.html', content: 'conformance-httpd\n' },
  ];
  return { entries, compression: 'gzip' };
}

/**
 * Two layers over busybox: the first adds /etc/removed, /opt/dir/{a,b} and /opt/kept; the
 * second deletes /etc/removed (a whiteout) and replaces /opt/dir by an opaque directory
 * holding only c. A container must see /opt/kept, /opt/dir/c, and nothing else of them.
 */
export function whiteoutLayers(): LayerSpec[] {
  return [
    {
      entries: [
        { path: 'etc', type: 'dir' },
        { path: 'etc/removed', content: 'gone\n' },
        { path: 'opt', type: 'dir' },
        { path: 'opt/kept', content: 'kept\n' },
        { path: 'opt/dir', type: 'dir' },
        { path: 'opt/dir/a', content: 'a\n' },
        { path: 'opt/dir/b', content: 'b\n' },
      ],
      compression: 'gzip',
    },
    {
      entries: [
        { path: 'etc', type: 'dir' },
        { path: 'etc/.wh.removed', content: '' },
        { path: 'opt', type: 'dir' },
        { path: 'opt/dir', type: 'dir' },
        { path: 'opt/dir/.wh..wh..opq', content: '' },
        { path: 'opt/dir/c', content: 'c\n' },
      ],
      compression: 'gzip',
    },
  ];
}

function pauseLayer(): LayerSpec {
  const bin = '/usr/bin/catatonit';
  if (!existsSync(bin)) throw new Error(`${bin} is missing (Debian package catatonit): the pause image needs it`);
  return { entries: [{ path: 'catatonit', content: readFileSync(bin), mode: 0o755 }], compression: 'gzip' };
}

export interface SuiteImage {
  /** Repository path in the registry, without host. */
  repo: string;
  tag: string;
  built: BuiltImage;
}

export interface SuiteImages {
  /** `host:port` of the registry holding them. */
  registry: string;
  /** Full references (`host:port/repo:tag`) by role. */
  refs: {
    busybox: string;
    /** Busybox with USER 1001 in its config. */
    userUid: string;
    /** Busybox with USER www-data in its config. */
    userName: string;
    /** Busybox with Entrypoint, Cmd, Env, WorkingDir in its config. */
    entrypoint: string;
    /** Multi-platform index: this host's platform and a foreign one. */
    index: string;
    /** Pulled by tag then removed by the image specs. */
    pullTag: string;
    /** Pulled by digest (`repo@sha256:…`). */
    pullDigest: string;
    /** Removed by id, by tag… */
    remove: string;
    /** Looked up by tag, digest and id. */
    anyRef: string;
    /** Listed. */
    list: string;
    /** Pulled twice at once. */
    concurrent: string;
    /** Docker schema 2 media types. */
    docker: string;
    /** Its layer compressed with zstd. */
    zstd: string;
    /** Three layers: busybox, files, whiteouts of some of them (see whiteoutLayers). */
    layered: string;
    /** Listed with a filter. */
    listFilter: string;
    /** Streamed (StreamImages). */
    stream: string;
    /** Behind basic auth (only when an auth registry is given). */
    auth?: string;
    pause: string;
  };
  /** Config digests (image ids) of the single-platform images, by role. */
  ids: Record<string, string>;
  /** Manifest digests, by role. */
  manifestDigests: Record<string, string>;
  /** For the index: the config digest of this host's platform image. */
  indexHostId: string;
}

const LABEL = 'io.berth.conformance.image';

async function variant(name: string, base: LayerSpec, config: ImageConfigSpec = {}): Promise<BuiltImage> {
  return buildImage({ layers: [base], config: { ...config, Labels: { ...(config.Labels ?? {}), [LABEL]: name } } });
}

/** The pause image alone (runtimes such as containerd need one as their sandbox image). */
export async function pushPauseImage(registryUrl: string, repo = 'conformance/pause', tag = '3.9'): Promise<string> {
  const img = await buildImage({ layers: [pauseLayer()], config: { Entrypoint: ['/catatonit', '-P'], Labels: { [LABEL]: 'pause' } } });
  await pushImage(registryUrl, repo, tag, img);
  return `${new URL(registryUrl).host}/${repo}:${tag}`;
}

/**
 * Builds every image the suite uses and pushes them to `registryUrl` (http://host:port).
 * `auth`: a second registry behind basic auth, for the auth spec.
 */
export async function pushSuiteImages(registryUrl: string, auth?: { url: string; username: string; password: string }): Promise<SuiteImages> {
  const host = new URL(registryUrl).host;
  const base = busyboxBase();
  const ids: Record<string, string> = {};
  const manifestDigests: Record<string, string> = {};
  const ref = (repo: string, tag: string) => `${host}/${repo}:${tag}`;

  const singles: Array<[role: string, repo: string, tag: string, img: Promise<BuiltImage>]> = [
    ['busybox', 'conformance/busybox', '1.0', variant('busybox', base)],
    ['userUid', 'conformance/user-uid', '1.0', variant('user-uid', base, { User: '1001' })],
    ['userName', 'conformance/user-name', '1.0', variant('user-name', base, { User: 'www-data' })],
    [
      'entrypoint',
      'conformance/entrypoint',
      '1.0',
      variant('entrypoint', base, {
        Entrypoint: ['/bin/echo', 'from-entrypoint'],
        Cmd: ['from-cmd'],
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMAGE_ENV=image-value', 'OVERRIDDEN=image'],
        WorkingDir: '/tmp',
      }),
    ],
    ['pullTag', 'conformance/pull-tag', '1.0', variant('pull-tag', base)],
    ['pullDigest', 'conformance/pull-digest', '1.0', variant('pull-digest', base)],
    ['remove', 'conformance/remove', '1.0', variant('remove', base)],
    ['anyRef', 'conformance/any-ref', '1.0', variant('any-ref', base)],
    ['list', 'conformance/list', '1.0', variant('list', base)],
    ['listFilter', 'conformance/list-filter', '1.0', variant('list-filter', base)],
    ['stream', 'conformance/stream', '1.0', variant('stream', base)],
  ];
  for (const [role, repo, tag, p] of singles) {
    const img = await p;
    await pushImage(registryUrl, repo, tag, img);
    ids[role] = img.config.digest;
    manifestDigests[role] = img.manifest.digest;
  }

  // A multi-platform index: this host's platform and one that can never be picked here.
  // Docker schema 2 media types, a zstd layer, and two layers with whiteouts on top.
  const more: Array<[role: string, repo: string, img: Promise<BuiltImage>]> = [
    ['concurrent', 'conformance/concurrent', variant('concurrent', base)],
    ['docker', 'conformance/docker-format', buildImage({ format: 'docker', layers: [base], config: { Labels: { [LABEL]: 'docker-format' } } })],
    ['zstd', 'conformance/zstd', buildImage({ layers: [{ ...base, compression: 'zstd' }], config: { Labels: { [LABEL]: 'zstd' } } })],
    ['layered', 'conformance/layered', buildImage({ layers: [base, ...whiteoutLayers()], config: { Labels: { [LABEL]: 'layered' } } })],
  ];
  for (const [role, repo, p] of more) {
    const img = await p;
    await pushImage(registryUrl, repo, '1.0', img);
    ids[role] = img.config.digest;
    manifestDigests[role] = img.manifest.digest;
  }

  const arch = hostArchitecture();
  const foreign = arch === 'amd64' ? 'arm64' : 'amd64';
  const hostImg = await variant('index-host', base);
  const foreignImg = await buildImage({ layers: [base], architecture: foreign, config: { Labels: { [LABEL]: 'index-foreign' } } });
  await pushIndex(registryUrl, 'conformance/index', '1.0', buildIndex([foreignImg, hostImg]));

  const pause = await pushPauseImage(registryUrl);

  let authRef: string | undefined;
  if (auth) {
    const img = await variant('auth', base);
    await pushImage(auth.url, 'conformance/auth', '1.0', img, { username: auth.username, password: auth.password });
    authRef = `${new URL(auth.url).host}/conformance/auth:1.0`;
    ids.auth = img.config.digest;
  }

  return {
    registry: host,
    refs: {
      busybox: ref('conformance/busybox', '1.0'),
      userUid: ref('conformance/user-uid', '1.0'),
      userName: ref('conformance/user-name', '1.0'),
      entrypoint: ref('conformance/entrypoint', '1.0'),
      index: ref('conformance/index', '1.0'),
      pullTag: ref('conformance/pull-tag', '1.0'),
      pullDigest: `${host}/conformance/pull-digest@${manifestDigests.pullDigest}`,
      remove: ref('conformance/remove', '1.0'),
      anyRef: ref('conformance/any-ref', '1.0'),
      list: ref('conformance/list', '1.0'),
      concurrent: ref('conformance/concurrent', '1.0'),
      docker: ref('conformance/docker-format', '1.0'),
      zstd: ref('conformance/zstd', '1.0'),
      layered: ref('conformance/layered', '1.0'),
      listFilter: ref('conformance/list-filter', '1.0'),
      stream: ref('conformance/stream', '1.0'),
      ...(authRef ? { auth: authRef } : {}),
      pause,
    },
    ids,
    manifestDigests,
    indexHostId: hostImg.config.digest,
  };
}
