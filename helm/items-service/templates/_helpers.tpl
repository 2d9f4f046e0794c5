{{/*
Expand the name of the chart.
*/}}
{{- define "items-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "items-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "items-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "items-service.labels" -}}
helm.sh/chart: {{ include "items-service.chart" . }}
{{ include "items-service.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable for the release's lifetime (a Deployment's selector cannot change).
*/}}
{{- define "items-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "items-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "items-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "items-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: a digest wins over the tag, which defaults to the chart's appVersion.
*/}}
{{- define "items-service.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Where the API keys are mounted; the service reads API_KEYS_FILE and ADMIN_API_KEYS_FILE from here.
*/}}
{{- define "items-service.secretMountPath" -}}
/var/run/secrets/items-service
{{- end }}

{{/*
"true" when the chart creates the key Secret (keys given as values, no existingSecret), else empty.
*/}}
{{- define "items-service.createSecret" -}}
{{- if and (not .Values.auth.existingSecret) (or .Values.auth.apiKeys .Values.auth.adminApiKeys) }}true{{ end }}
{{- end }}

{{/*
The Secret holding the API keys: the user's, or the one this chart creates. Empty when there is none.
*/}}
{{- define "items-service.secretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if include "items-service.createSecret" . }}
{{- include "items-service.fullname" . }}
{{- end }}
{{- end }}

{{/*
The key of that Secret holding the API keys ("" when it has none), and the same for the admin keys.
*/}}
{{- define "items-service.apiKeysKey" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecretKeys.apiKeys }}
{{- else if .Values.auth.apiKeys }}
{{- "api-keys" }}
{{- end }}
{{- end }}

{{- define "items-service.adminApiKeysKey" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecretKeys.adminApiKeys }}
{{- else if .Values.auth.adminApiKeys }}
{{- "admin-api-keys" }}
{{- end }}
{{- end }}

{{/*
"true" when the items live in PostgreSQL (store.driver=postgres), else empty.
*/}}
{{- define "items-service.postgres" -}}
{{- if eq .Values.store.driver "postgres" }}true{{ end }}
{{- end }}

{{/*
Where the database URL is mounted; the service and the migration Job read DATABASE_URL_FILE there.
Not under secretMountPath: a volume mounted inside another read-only Secret volume cannot be created.
*/}}
{{- define "items-service.databaseMountPath" -}}
/var/run/secrets/items-service-database
{{- end }}

{{/*
The Secret holding the database URL for the service: the user's, or the one this chart creates.
*/}}
{{- define "items-service.databaseSecretName" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "items-service.fullname" .)) }}
{{- end }}

{{/*
The same for the migration Job. A pre-install hook runs before the release's ordinary objects exist,
so a chart-made URL reaches the Job through a hook Secret of its own (templates/migration-secret.yaml).
*/}}
{{- define "items-service.migrationSecretName" -}}
{{- .Values.database.existingSecret | default (printf "%s-migrate" (include "items-service.fullname" .)) }}
{{- end }}

{{- define "items-service.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
{{- end }}

{{/*
The fewest and the most replicas the Deployment runs: replicaCount, or with the autoscaler its
minReplicas and maxReplicas (the Deployment then has no `replicas` of its own).
*/}}
{{- define "items-service.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{- define "items-service.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.maxReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
"true" when the PodDisruptionBudget is rendered: podDisruptionBudget.enabled, or, when that is null,
more than one replica at the least (a drain then takes one pod at a time and the others keep serving).
*/}}
{{- define "items-service.pdbEnabled" -}}
{{- $enabled := .Values.podDisruptionBudget.enabled }}
{{- if kindIs "invalid" $enabled }}
{{- if gt (int (include "items-service.minReplicas" .)) 1 }}true{{ end }}
{{- else if $enabled }}true{{ end }}
{{- end }}

{{/*
TRUST_PROXY as the service gets it, empty for none. The user's config.trustProxy wins (false: none);
left empty, the chart's own Ingress is trusted as one hop: otherwise every client would arrive from
the ingress controller's address and share its rate-limit bucket.
*/}}
{{- define "items-service.trustProxy" -}}
{{- $trust := .Values.config.trustProxy }}
{{- if kindIs "bool" $trust }}
{{- else if and (not (kindIs "invalid" $trust)) (ne (toString $trust) "") }}{{ toString $trust }}
{{- else if .Values.ingress.enabled }}1
{{- end }}
{{- end }}

{{/*
"true" when the rate limit is counted in Redis (rateLimit.store=redis), else empty.
*/}}
{{- define "items-service.redis" -}}
{{- if eq .Values.rateLimit.store "redis" }}true{{ end }}
{{- end }}

{{/*
Where the Redis URL is mounted; the service reads REDIS_URL_FILE there.
*/}}
{{- define "items-service.redisMountPath" -}}
/var/run/secrets/items-service-redis
{{- end }}

{{/*
REDIS_KEY_PREFIX: rateLimit.redis.keyPrefix, or one per release and namespace, so that two releases
sharing a Redis never share budgets. Namespaces and fullnames are DNS labels: the service's pattern
([A-Za-z0-9:._-], 1-64) accepts them.
*/}}
{{- define "items-service.redisKeyPrefix" -}}
{{- .Values.rateLimit.redis.keyPrefix | default (printf "%s:%s:" .Release.Namespace (include "items-service.fullname" .) | trunc 64) }}
{{- end }}

{{/*
The NetworkPolicyEgressRule to Redis: its port, to the peers of networkPolicy.egress.redis.to (empty:
any destination).
*/}}
{{- define "items-service.redisEgress" -}}
{{- $redis := .Values.networkPolicy.egress.redis -}}
- ports:
    - port: {{ $redis.port }}
      protocol: TCP
  {{- with $redis.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The NetworkPolicyEgressRule to the database, for the service and the migration Job: its port, to the
peers of networkPolicy.egress.database.to (empty: any destination).
*/}}
{{- define "items-service.databaseEgress" -}}
{{- $db := .Values.networkPolicy.egress.database -}}
- ports:
    - port: {{ $db.port }}
      protocol: TCP
  {{- with $db.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The port Prometheus scrapes: the separate metrics port when METRICS_PORT is set, else the API's.
*/}}
{{- define "items-service.metricsPortName" -}}
{{- if .Values.metrics.port }}metrics{{ else }}http{{ end }}
{{- end }}

{{/*
Refuses values the service would refuse at start, or that would break the store. Rendering fails with
the reason instead of installing a pod that crash-loops. Included by the Deployment.
*/}}
{{- define "items-service.validate" -}}
{{- $db := .Values.database }}
{{- if include "items-service.postgres" . }}
{{- if and $db.url $db.existingSecret }}
{{- fail "database.url and database.existingSecret are both set: keep the database URL in one place" }}
{{- end }}
{{- if not (or $db.url $db.existingSecret) }}
{{- fail `
database: store.driver=postgres needs the database URL (postgres://user:password@host:5432/db). Choose one:
  - database.existingSecret: a Secret you manage whose key "database-url" (database.existingSecretKey) holds the URL
  - database.url: the chart keeps it in a Secret it creates, e.g. --set-file database.url=./database-url.txt` }}
{{- end }}
{{- else }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount must be 1: the JSON-file store is owned by one process (strategy Recreate, ReadWriteOnce volume); got %d. Set store.driver=postgres to run several replicas" (int .Values.replicaCount)) }}
{{- end }}
{{- if or $db.url $db.existingSecret }}
{{- fail "database.url or database.existingSecret is set but store.driver is json-file: set store.driver=postgres to use the database" }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled=true needs store.driver=postgres: the JSON-file store is owned by one process, so it runs exactly one replica" }}
{{- end }}
{{- end }}
{{- $hpa := .Values.autoscaling }}
{{- if $hpa.enabled }}
{{- if gt (int $hpa.minReplicas) (int $hpa.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) must not be above autoscaling.maxReplicas (%d)" (int $hpa.minReplicas) (int $hpa.maxReplicas)) }}
{{- end }}
{{- $cpu := not (kindIs "invalid" $hpa.targetCPUUtilizationPercentage) }}
{{- $memory := not (kindIs "invalid" $hpa.targetMemoryUtilizationPercentage) }}
{{- if not (or $cpu $memory) }}
{{- fail "autoscaling: set autoscaling.targetCPUUtilizationPercentage or autoscaling.targetMemoryUtilizationPercentage (or both): the autoscaler needs a metric" }}
{{- end }}
{{- $requests := (.Values.resources | default dict).requests | default dict }}
{{- if and $cpu (not $requests.cpu) }}
{{- fail "autoscaling: a CPU target is a percentage of resources.requests.cpu, which is not set: set it (e.g. --set resources.requests.cpu=100m), or the autoscaler cannot compute the use and never scales" }}
{{- end }}
{{- if and $memory (not $requests.memory) }}
{{- fail "autoscaling: a memory target is a percentage of resources.requests.memory, which is not set: set it (e.g. --set resources.requests.memory=128Mi), or the autoscaler cannot compute the use and never scales" }}
{{- end }}
{{- end }}
{{- $redis := .Values.rateLimit.redis }}
{{- if include "items-service.redis" . }}
{{- if not $redis.existingSecret }}
{{- fail `
rateLimit: rateLimit.store=redis needs the Redis URL (redis://[:password@]host:6379). Create a Secret
holding it and name it in rateLimit.redis.existingSecret (its key: rateLimit.redis.existingSecretKey,
"redis-url" by default), e.g.
  kubectl create secret generic items-redis --from-literal=redis-url='redis://:PASSWORD@redis:6379'` }}
{{- end }}
{{- else if $redis.existingSecret }}
{{- fail "rateLimit.redis.existingSecret is set but rateLimit.store is memory: set rateLimit.store=redis to count the rate limit in Redis" }}
{{- end }}
{{- if eq (toString .Values.config.trustProxy) "true" }}
{{- fail "config.trustProxy=true would believe any X-Forwarded-For, so every client could pick its rate-limit bucket: give the number of proxy hops (e.g. 1), the proxies' addresses, or false for none" }}
{{- end }}
{{- $auth := .Values.auth }}
{{- if and $auth.existingSecret (or $auth.apiKeys $auth.adminApiKeys) }}
{{- fail "auth.existingSecret and auth.apiKeys/auth.adminApiKeys are both set: keep the keys in one place" }}
{{- end }}
{{- if and $auth.disabled (include "items-service.apiKeysKey" .) }}
{{- fail "auth.disabled=true and API keys (auth.apiKeys or auth.existingSecret) are both set: choose one" }}
{{- end }}
{{- if and (eq .Values.config.appEnv "prod") (not $auth.disabled) (not (include "items-service.apiKeysKey" .)) }}
{{- fail `
auth: with config.appEnv=prod the service refuses to start without API keys. Choose one:
  - auth.apiKeys: keys of 16-256 characters of [A-Za-z0-9._~+/=-], e.g.
      --set-file 'auth.apiKeys[0]=./api-key.txt' (create it with: openssl rand -base64 32 | tr -d '\n' > api-key.txt)
  - auth.existingSecret: a Secret you manage whose key "api-keys" (auth.existingSecretKeys.apiKeys) holds the keys
  - auth.disabled=true: no authentication, on purpose (e.g. behind an authenticating gateway)` }}
{{- end }}
{{- if and .Values.metrics.port (not .Values.metrics.enabled) }}
{{- fail "metrics.port is set but metrics.enabled=false: choose one" }}
{{- end }}
{{- if and .Values.metrics.port (eq (int .Values.metrics.port) (int .Values.containerPort)) }}
{{- fail "metrics.port must differ from containerPort" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled=true needs metrics.enabled=true" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and (include "items-service.pdbEnabled" .) (eq (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other null)" }}
{{- end }}
{{- /* A number only: what a percentage leaves depends on the replicas of the moment. */}}
{{- if and $hpa.enabled (include "items-service.pdbEnabled" .) (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "string" $pdb.minAvailable)) }}
{{- if ge (int $pdb.minAvailable) (int $hpa.minReplicas) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below autoscaling.minReplicas (%d): when the autoscaler is at its minimum no pod could be evicted, and node drains would hang" (int $pdb.minAvailable) (int $hpa.minReplicas)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Labels of the migration Job's pod: not the selector labels either (the Service must not route to it).
*/}}
{{- define "items-service.migrationSelectorLabels" -}}
app.kubernetes.io/name: {{ include "items-service.name" . | trunc 55 | trimSuffix "-" }}-migrate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the `helm test` pod: not the selector labels, so that neither the Service nor the
NetworkPolicy takes it for the service's pod.
*/}}
{{- define "items-service.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "items-service.name" . | trunc 58 | trimSuffix "-" }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
