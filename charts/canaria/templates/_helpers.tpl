{{/* The chart name, or nameOverride. */}}
{{- define "canaria.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource name: the release name, with the chart name unless it contains it. */}}
{{- define "canaria.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "canaria.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "canaria.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canaria.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "canaria.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "canaria.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: canaria
{{- end -}}

{{- define "canaria.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "canaria.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "canaria.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
RBAC rules read from one of the chart's files/rbac-*.yaml, the single source of the controller's
permissions, as a YAML list. A file that is missing or is not a list of rules fails the render.
*/}}
{{- define "canaria.rules" -}}
{{- $file := .file -}}
{{- $text := .context.Files.Get $file -}}
{{- if not $text -}}
{{- fail (printf "%s is missing from the chart" $file) -}}
{{- end -}}
{{- $rules := fromYamlArray $text -}}
{{- range $rules -}}
{{- if not (and (kindIs "map" .) (hasKey . "verbs") (hasKey . "resources")) -}}
{{- fail (printf "%s must be a YAML list of RBAC rules (apiGroups, resources, verbs); found %v" $file .) -}}
{{- end -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}

{{/*
The rules on namespaced resources: granted cluster-wide, or in each watched namespace. Managed mode's
writes and its ConfigMaps only with managedMode.enabled; Secrets only with trackSecrets too.
*/}}
{{- define "canaria.namespacedRules" -}}
{{- $routers := include "canaria.routers" . | splitList "," }}
{{- include "canaria.rules" (dict "context" . "file" "files/rbac-rules.yaml") }}
{{- /* each enabled router's own file: files/rbac-<router in kebab case>-rules.yaml */}}
{{- range $routers }}
{{ include "canaria.rules" (dict "context" $ "file" (printf "files/rbac-%s-rules.yaml" (kebabcase .))) }}
{{- end }}
{{- if .Values.managedMode.enabled }}
{{ include "canaria.rules" (dict "context" . "file" "files/rbac-managed-rules.yaml") }}
{{- range $routers }}
{{ include "canaria.rules" (dict "context" $ "file" (printf "files/rbac-%s-managed-rules.yaml" (kebabcase .))) }}
{{- end }}
{{- if .Values.trackSecrets }}
{{ include "canaria.rules" (dict "context" . "file" "files/rbac-secrets-rules.yaml") }}
{{- end -}}
{{- else if .Values.trackSecrets }}
{{- fail "trackSecrets=true needs managedMode.enabled=true: Secrets count only in managed mode; set one of them back" -}}
{{- end -}}
{{- if .Values.notifications.releaseSinks }}
{{ include "canaria.rules" (dict "context" . "file" "files/rbac-notification-secrets-rules.yaml") }}
{{- else if .Values.webhooks.headersFromSecrets }}
{{ include "canaria.rules" (dict "context" . "file" "files/rbac-webhook-secrets-rules.yaml") }}
{{- end -}}
{{- end -}}

{{/*
The traffic routers the controller runs (its --routers), comma-separated, from routers.*.enabled; the
RBAC grants only what they read and write. None enabled fails the render: the controller could route
no release.
*/}}
{{- define "canaria.routers" -}}
{{- $routers := list }}
{{- /* istio first: the order of --routers, and of the RBAC rules, does not depend on the others' names */}}
{{- if .Values.routers.istio.enabled }}{{- $routers = append $routers "istio" }}{{- end }}
{{- range $name, $router := .Values.routers }}
{{- if and (ne $name "istio") $router.enabled }}{{- $routers = append $routers $name }}{{- end }}
{{- end }}
{{- if not $routers }}
{{- $choices := list }}
{{- range $name, $_ := .Values.routers }}{{- $choices = append $choices (printf "routers.%s.enabled=true" $name) }}{{- end }}
{{- fail (printf "no traffic router enabled: set %s (or several); the controller could route no release" (join " or " $choices)) }}
{{- end }}
{{- join "," $routers }}
{{- end -}}

{{/* Who the chart's roles are bound to: the controller's ServiceAccount. */}}
{{- define "canaria.subjects" -}}
- kind: ServiceAccount
  name: {{ include "canaria.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}

{{/* Where the Secrets and ConfigMaps of metrics provider number $i are mounted. */}}
{{- define "canaria.metricsProviderDir" -}}
{{- printf "/var/run/canaria/metrics-providers/%d" . -}}
{{- end -}}

{{/*
The providers file of values.metricsProviders: each entry's settings, with its Secrets and CA as the
files they are mounted as. A missing name or address, or the name "default", fails the render.
*/}}
{{- define "canaria.metricsProvidersFile" -}}
providers:
{{- range $i, $p := .Values.metricsProviders }}
{{- if not $p.name }}{{ fail (printf "metricsProviders[%d].name is required" $i) }}{{ end }}
{{- if eq $p.name "default" }}{{ fail (printf "metricsProviders[%d].name: \"default\" is the provider of the prometheus values; pick another name" $i) }}{{ end }}
{{- if not $p.address }}{{ fail (printf "metricsProviders[%d].address is required (metricsProviders[%d].name %s)" $i $i $p.name) }}{{ end }}
{{- $dir := include "canaria.metricsProviderDir" $i }}
  - name: {{ $p.name | quote }}
    type: {{ $p.type | default "prometheus" | quote }}
    address: {{ $p.address | quote }}
    {{- with $p.timeout }}
    timeout: {{ . | quote }}
    {{- end }}
    {{- with $p.windowGranularity }}
    windowGranularity: {{ . | quote }}
    {{- end }}
    {{- with $p.headers }}
    headers:
      {{- range $k, $v := . }}
      {{ $k | quote }}: {{ $v | quote }}
      {{- end }}
    {{- end }}
    {{- with $p.bearerToken }}{{ if .secretName }}
    bearerTokenFile: {{ printf "%s/token/%s" $dir (.key | default "token") | quote }}
    {{- end }}{{ end }}
    {{- with $p.basicAuth }}{{ if .secretName }}
    basicAuth:
      usernameFile: {{ printf "%s/basic-auth/%s" $dir (.usernameKey | default "username") | quote }}
      passwordFile: {{ printf "%s/basic-auth/%s" $dir (.passwordKey | default "password") | quote }}
    {{- end }}{{ end }}
    {{- with $p.ca }}{{ if .configMapName }}
    caFile: {{ printf "%s/ca/%s" $dir (.key | default "ca.crt") | quote }}
    {{- end }}{{ end }}
{{- end }}
{{- end -}}
