// The io.kubernetes.cri.* annotations that tools (crictl inspect, kata, NRI plugins, log
// collectors) read from a container's OCI spec, with containerd's names and values.

export const ANNOTATION_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const ANNOTATION_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
export const ANNOTATION_CONTAINER_NAME = 'io.kubernetes.cri.container-name';
export const ANNOTATION_SANDBOX_NAME = 'io.kubernetes.cri.sandbox-name';
export const ANNOTATION_SANDBOX_NAMESPACE = 'io.kubernetes.cri.sandbox-namespace';
export const ANNOTATION_SANDBOX_UID = 'io.kubernetes.cri.sandbox-uid';
export const ANNOTATION_IMAGE_NAME = 'io.kubernetes.cri.image-name';

// berth has no sandbox container (a pod's namespaces are pinned files), so 'container' is the
// only container-type it writes (containerd also writes 'sandbox' for its pause container).
export const CONTAINER_TYPE_CONTAINER = 'container';
export const CONTAINER_TYPE_SANDBOX = 'sandbox';

export interface AnnotationInputs {
  sandboxId: string;
  containerName: string;
  imageName: string;
  sandboxName: string;
  sandboxNamespace: string;
  sandboxUid: string;
  /** The container config's own annotations; ours win on a clash so tools can trust them. */
  criAnnotations: Readonly<Record<string, string>>;
}

export function containerAnnotations(a: AnnotationInputs): Record<string, string> {
  return {
    ...a.criAnnotations,
    [ANNOTATION_CONTAINER_TYPE]: CONTAINER_TYPE_CONTAINER,
    [ANNOTATION_SANDBOX_ID]: a.sandboxId,
    [ANNOTATION_CONTAINER_NAME]: a.containerName,
    [ANNOTATION_SANDBOX_NAME]: a.sandboxName,
    [ANNOTATION_SANDBOX_NAMESPACE]: a.sandboxNamespace,
    [ANNOTATION_SANDBOX_UID]: a.sandboxUid,
    [ANNOTATION_IMAGE_NAME]: a.imageName,
  };
}
