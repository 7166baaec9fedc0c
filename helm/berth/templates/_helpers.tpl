{{/* Chart name, truncated to 63 characters (label values and DNS names). */}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: release + chart, or the release alone when it already contains the chart name. */}}
{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: berth
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "berth.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* RuntimeClass name of one entry of .Values.berth.runtimes. */}}
{{- define "berth.runtimeClassName" -}}
{{- default (printf "berth-%s" .handler) .runtimeClass.name -}}
{{- end -}}

{{/* Refuses value combinations the schema cannot express. */}}
{{- define "berth.validate" -}}
{{- $handlers := list -}}
{{- range .Values.berth.runtimes -}}
{{- if has .handler $handlers -}}
{{- fail (printf "berth.runtimes: handler %q is listed twice" .handler) -}}
{{- end -}}
{{- $handlers = append $handlers .handler -}}
{{- end -}}
{{- if not (or (eq .Values.berth.defaultRuntime "auto") (has .Values.berth.defaultRuntime $handlers)) -}}
{{- fail (printf "berth.defaultRuntime %q is not one of berth.runtimes (%s)" .Values.berth.defaultRuntime (join ", " $handlers)) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled -}}
{{- fail "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled: choose one" -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.metrics.proxy.port) -}}
{{- fail "metrics.port and metrics.proxy.port must differ (both are on the node's network)" -}}
{{- end -}}
{{- end -}}

{{/* The scrape job's metric relabelings (ServiceMonitor and PodMonitor alike). */}}
{{- define "berth.metricRelabelings" -}}
{{- if .Values.metrics.serviceMonitor.dropContainerSeries }}
- sourceLabels: [__name__]
  regex: container_.*
  action: drop
{{- else if .Values.metrics.serviceMonitor.cadvisorCompat }}
- sourceLabels: [__name__]
  regex: container_.*
  targetLabel: metrics_path
  replacement: /metrics/cadvisor
  action: replace
{{- end }}
{{- with .Values.metrics.serviceMonitor.metricRelabelings }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Target relabelings: the node name as `node`, as kube-prometheus does for kubelet. */}}
{{- define "berth.relabelings" -}}
- sourceLabels: [__meta_kubernetes_pod_node_name]
  targetLabel: node
  action: replace
- sourceLabels: [__metrics_path__]
  targetLabel: metrics_path
  action: replace
{{- with .Values.metrics.serviceMonitor.relabelings }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The name in the proxy's certificate, which scrapers check (they connect to node addresses). */}}
{{- define "berth.metricsServerName" -}}
{{- printf "%s-metrics.%s.svc" (include "berth.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The Secret holding the proxy's certificate: the user's, or the one the chart generates. */}}
{{- define "berth.metricsTlsSecret" -}}
{{- default (printf "%s-metrics-tls" (include "berth.fullname" .)) .Values.metrics.proxy.tls.secretName -}}
{{- end -}}

{{/* The scrape endpoint's TLS settings: verify the proxy's certificate against a CA. */}}
{{- define "berth.scrapeAuth" -}}
scheme: https
path: {{ .Values.metrics.path }}
interval: {{ .Values.metrics.serviceMonitor.interval }}
scrapeTimeout: {{ .Values.metrics.serviceMonitor.scrapeTimeout }}
tlsConfig:
  ca:
    secret:
      name: {{ default (include "berth.metricsTlsSecret" .) .Values.metrics.serviceMonitor.caSecret.name }}
      key: {{ .Values.metrics.serviceMonitor.caSecret.key }}
  serverName: {{ default (include "berth.metricsServerName" .) .Values.metrics.serviceMonitor.serverName }}
{{- end -}}
