// Every bound berth puts on a request, in one table (the README's "Request limits" lists
// the same figures). Where Kubernetes has a rule, the figure is Kubernetes'; where the
// kernel or the OCI runtime has one, theirs; elsewhere a generous bound so that no field
// can carry megabytes into berth's store, logs or error messages.

export const LIMITS = {
  /** Any string or bytes field not bounded tighter below: the kernel's MAX_ARG_STRLEN (32 pages), the longest argv/env string execve takes. */
  string: 128 * 1024,
  /** Entries of any list or map (the gRPC message limit of 16 MiB bounds the whole request). */
  entries: 65_536,
  /** An id or id prefix to look up: berth's ids are 64 hex digits; a little more is looked up (NOT_FOUND), beyond this refused. */
  id: 128,
  /** Pod names: DNS-1123 subdomain (Kubernetes' pod name rule). */
  podName: 253,
  /**
   * Container names: DNS-1123 label syntax. Kubernetes caps them at 63 and kubelet's never
   * exceed that, but critest 1.26 sends longer ones ("container-with-SupplementalGroups-test-"
   * + a UUID, 75), which containerd and CRI-O take: so the bound is a subdomain's.
   */
  containerName: 253,
  /** Namespaces: DNS-1123 label. */
  namespace: 63,
  /** Pod UID: a UUID in Kubernetes (36); it becomes part of file names. */
  uid: 128,
  /** Label and annotation keys: name part, optional DNS-1123 subdomain prefix. */
  labelKeyName: 63,
  labelKeyPrefix: 253,
  /** Label values (Kubernetes); kubelet's io.kubernetes.pod.name label carries a pod name (253). */
  labelValue: 63,
  /** All annotations of one object together (Kubernetes' TotalAnnotationSizeLimitB: keys + values). */
  annotationsTotal: 256 * 1024,
  /** A path (PATH_MAX) and one component of it (NAME_MAX). */
  path: 4096,
  pathComponent: 255,
  /** A Localhost seccomp profile file (berthd reads it whole; real ones are a few KiB). */
  seccompProfileBytes: 1024 * 1024,
  /** Image references. */
  imageRef: 4096,
  /** The least memory limit a container may ask for: runc's own integration tests run busybox at 6 MiB, its least supported limit (copied from Docker's daemon, which refuses less); crun has no figure of its own. */
  minMemoryBytes: 6 * 1024 * 1024,
} as const;
