// Validates rendered Kubernetes objects against the API's OpenAPI schemas, through the
// validators that kubernetes-models (Kubernetes' own OpenAPI) and
// @kubernetes-models/prometheus-operator (the operator's CRD schemas) generate. Like the
// OpenAPI schemas they come from, these check types, required fields, enums, patterns
// and formats, but not unknown fields: the chart tests check the objects' structure too.
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Secret } from 'kubernetes-models/v1/Secret';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1/RuntimeClass';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { K8sObject } from './helm.js';

type Validating = new (data: never) => { validate(): void };

const MODELS: Record<string, Validating> = {
  'v1/ConfigMap': ConfigMap as unknown as Validating,
  'v1/Service': Service as unknown as Validating,
  'v1/ServiceAccount': ServiceAccount as unknown as Validating,
  'v1/Secret': Secret as unknown as Validating,
  'apps/v1/DaemonSet': DaemonSet as unknown as Validating,
  'batch/v1/Job': Job as unknown as Validating,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as Validating,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Validating,
  'node.k8s.io/v1/RuntimeClass': RuntimeClass as unknown as Validating,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor as unknown as Validating,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor as unknown as Validating,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule as unknown as Validating,
};

/** Throws, naming the object and the failing field, if `o` breaks its kind's schema; an unknown kind is an error too. */
export function validateObject(o: K8sObject): void {
  const key = `${o.apiVersion}/${o.kind}`;
  const Model = MODELS[key];
  if (!Model) throw new Error(`no schema for ${key} (${o.metadata?.name}): add its model to test/helpers/k8s-schemas.ts`);
  try {
    new Model(o as never).validate();
  } catch (e) {
    throw new Error(`${key} ${o.metadata?.name}: ${(e as Error).message}`);
  }
}
