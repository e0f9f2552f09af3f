{{/* The release's full name, at most 63 characters. */}}
{{- define "rewind.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rewind.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rewind.labels" -}}
{{ include "rewind.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "rewind.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rewind.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rewind.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "rewind.dataClaim" -}}
{{- default (printf "%s-data" (include "rewind.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/*
The permissions Rewind uses (internal/kube.Permissions, checked by
deploy/chart_test.go): it reads workloads, ReplicaSets, ControllerRevisions,
pods and events, and updates workloads to roll them back. No Secrets.
*/}}
{{- define "rewind.rules" -}}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "update"]
- apiGroups: ["apps"]
  resources: ["replicasets", "controllerrevisions"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods", "events"]
  verbs: ["get", "list", "watch"]
{{- end -}}

{{/* rewind.yaml as the chart writes it. */}}
{{- define "rewind.config" -}}
{{- $cfg := dict "addr" (printf "0.0.0.0:%v" .Values.service.port) "data_dir" "/data" "environments" .Values.environments -}}
{{- if .Values.cluster.enabled -}}
{{- $_ := set $cfg "clusters" (list (dict "name" .Values.cluster.name "environment" .Values.cluster.environment "in_cluster" true "namespaces" .Values.cluster.namespaces)) -}}
{{- end -}}
{{- if .Values.externalURL -}}
{{- $_ := set $cfg "external_url" .Values.externalURL -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $cfg .Values.config) -}}
{{- end -}}
