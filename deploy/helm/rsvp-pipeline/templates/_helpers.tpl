{{/* Names, labels, the memory limits and the pod template shared by the services. */}}

{{- define "rsvp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rsvp.fullname" -}}
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

{{/* rsvp.labels: dict root, component */}}
{{- define "rsvp.labels" -}}
{{ include "rsvp.selectorLabels" . }}
app.kubernetes.io/part-of: rsvp-pipeline
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{- if not .root.Values.plainManifests }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}
{{- end }}

{{- define "rsvp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rsvp.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* rsvp.image: [registry/]repository[:tag][@digest]; registry from image.registry, else global.imageRegistry */}}
{{- define "rsvp.image" -}}
{{- $i := .Values.image }}
{{- $reg := default ((.Values.global).imageRegistry) $i.registry }}
{{- $ref := $i.repository }}
{{- if $reg }}{{ $ref = printf "%s/%s" (trimSuffix "/" $reg) $ref }}{{ end }}
{{- $tag := default .Chart.AppVersion $i.tag }}
{{- if and $i.digest (not $i.tag) }}{{ $tag = "" }}{{ end }}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end }}
{{- if $i.digest }}{{ $ref = printf "%s@%s" $ref $i.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{- define "rsvp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rsvp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "rsvp.postgresSecret" -}}
{{- default (printf "%s-postgres" (include "rsvp.fullname" .)) .Values.postgres.existingSecret }}
{{- end }}

{{/* The writer Service's name: the DNS name in the writer's certificate, checked by every aggregator. */}}
{{- define "rsvp.writerHost" -}}
{{- printf "%s-writer" (include "rsvp.fullname" .) }}
{{- end }}

{{- define "rsvp.writerUrl" -}}
{{- $scheme := ternary "tls+tcp" "tcp" .Values.writerTls.enabled }}
{{- default (printf "%s://%s:%d" $scheme (include "rsvp.writerHost" .) (int .Values.writer.port)) .Values.aggregator.writerUrl }}
{{- end }}

{{/* rsvp.tlsSecret: dict root, who (writer|aggregator) -> the Secret holding who's certificate */}}
{{- define "rsvp.tlsSecret" -}}
{{- $t := .root.Values.writerTls }}
{{- if eq (include "rsvp.tlsSource" .root) "existingSecret" }}
{{- ternary $t.writerSecret $t.aggregatorSecret (eq .who "writer") }}
{{- else }}
{{- printf "%s-%s-tls" (include "rsvp.fullname" .root) .who }}
{{- end }}
{{- end }}

{{/* rsvp.tlsSource: writerTls.source with auto resolved (cert-manager when the cluster serves its API) */}}
{{- define "rsvp.tlsSource" -}}
{{- $s := .Values.writerTls.source | default "auto" }}
{{- if eq $s "auto" }}
{{- ternary "certManager" "generate" (.Capabilities.APIVersions.Has "cert-manager.io/v1") }}
{{- else }}
{{- $s }}
{{- end }}
{{- end }}

{{/* rsvp.generatedTls: the generated certificates of the writer link, as JSON {"writer": {"ca.crt", "tls.crt",
"tls.key"}, "aggregator": {...}} (base64): read back from the two Secrets by lookup when both exist, else a new CA and
both certificates. Made once per render and kept in the render's root context (shared by every template of the
chart), so the Secrets (writer-tls.yaml) and the pods' checksum annotation see the same certificates: a checksum of
certificates generated apart from the Secrets' would differ from the one an upgrade computes from lookup, and the
first upgrade after an install would roll the writers and the aggregators for nothing. */}}
{{- define "rsvp.generatedTls" -}}
{{- if not (hasKey . "rsvpGeneratedTls") }}
{{- $full := include "rsvp.fullname" . }}
{{- $host := include "rsvp.writerHost" . }}
{{- $ns := .Release.Namespace }}
{{- $w := (lookup "v1" "Secret" $ns (include "rsvp.tlsSecret" (dict "root" . "who" "writer"))).data }}
{{- $a := (lookup "v1" "Secret" $ns (include "rsvp.tlsSecret" (dict "root" . "who" "aggregator"))).data }}
{{- if not (and $w $a) }}
{{- $dns := list $host (printf "%s.%s" $host $ns) (printf "%s.%s.svc" $host $ns) (printf "%s.%s.svc.cluster.local" $host $ns) }}
{{- $days := int .Values.writerTls.validityDays }}
{{- $ca := genCA (printf "%s writer link CA" $full) $days }}
{{- $wc := genSignedCert $host nil $dns $days $ca }}
{{- $ac := genSignedCert (printf "%s-aggregator" $full) nil nil $days $ca }}
{{- $w = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($wc.Cert | b64enc) "tls.key" ($wc.Key | b64enc) }}
{{- $a = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($ac.Cert | b64enc) "tls.key" ($ac.Key | b64enc) }}
{{- end }}
{{- $_ := set . "rsvpGeneratedTls" (dict "writer" (pick $w "ca.crt" "tls.crt" "tls.key") "aggregator" (pick $a "ca.crt" "tls.crt" "tls.key")) }}
{{- end }}
{{- toJson (get . "rsvpGeneratedTls") }}
{{- end }}

{{/* rsvp.tlsAnnotations: the pods that hold the link's certificates roll when Helm generates new ones: the checksum
of the generated certificates (rsvp.generatedTls), which an upgrade reads back by lookup, so it moves only when the
Secrets were deleted to be made anew */}}
{{- define "rsvp.tlsAnnotations" -}}
{{- if and .Values.writerTls.enabled (eq (include "rsvp.tlsSource" .) "generate") }}
{{- toYaml (dict "checksum/writer-tls" (include "rsvp.generatedTls" . | sha256sum)) }}
{{- else }}{}{{- end }}
{{- end }}

{{/* The demo source's URL (its Service) and whether the ingestor reads it. */}}
{{- define "rsvp.sourceUrl" -}}
{{- if .Values.ingestor.sourceUrl }}
{{- .Values.ingestor.sourceUrl }}
{{- else if .Values.source.replay.enabled }}
{{- printf "http://%s-replay:%d/2/rsvps" (include "rsvp.fullname" .) (int .Values.source.replay.port) }}
{{- end }}
{{- end }}

{{/* The demo timeline's start (ms): source.replay.startMtime, else the install time, kept by upgrades. */}}
{{- define "rsvp.replayStart" -}}
{{- $r := .Values.source.replay }}
{{- if $r.startMtime }}
{{- int64 $r.startMtime }}
{{- else if .Values.plainManifests }}
{{- /* no install time to keep: the replay's own start (a replaced replay pod starts a new timeline) */}}0
{{- else }}
{{- $cm := lookup "v1" "ConfigMap" .Release.Namespace (include "rsvp.fullname" .) }}
{{- $kept := ((($cm).data).REPLAY_START_MTIME) }}
{{- if $kept }}{{ $kept }}{{ else }}{{ printf "%d" (mul (now | unixEpoch) 1000) }}{{ end }}
{{- end }}
{{- end }}

{{/* rsvp.mib: a memory quantity -> whole MiB (rounded down); fails on a form it does not know */}}
{{- define "rsvp.mib" -}}
{{- $q := toString . }}
{{- $n := regexFind "^[0-9]+" $q }}
{{- $u := trimPrefix $n $q }}
{{- if not $n }}{{ fail (printf "cannot read the memory quantity %q" $q) }}{{ end }}
{{- $f := dict "" 0.00000095367431640625 "k" 0.0009765625 "Ki" 0.0009765625 "M" 0.95367431640625 "Mi" 1.0 "G" 953.67431640625 "Gi" 1024.0 "T" 953674.31640625 "Ti" 1048576.0 }}
{{- if not (hasKey $f $u) }}{{ fail (printf "cannot read the memory quantity %q (use Mi or Gi)" $q) }}{{ end }}
{{- floor (mulf (float64 $n) (get $f $u)) | int64 }}
{{- end }}

{{/*
rsvp.memoryLimit: dict root, component, svc -> the memory limit in MiB that the service's queues need (librdkafka's
prefetch and produce queues, the writer's largest requests), plus 64 MiB for the process itself. Consumers count
their prefetch queue twice: librdkafka fills it from fetch responses whose buffers stay allocated until the last
message cut from them is freed. The aggregator also holds up to two batches (the table being counted and the
request in flight) of maxBatchMiB per partition it may own (all of them, with one replica). The writer: 64 MiB plus
what its requests can hold (rsvp.writerMemory, passed to it as MAX_MEMORY so that it refuses to start with limits
that could exceed it).
*/}}
{{- define "rsvp.memoryNeed" -}}
{{- $v := .svc }}
{{- $need := 64 }}
{{- if eq .component "ingestor" }}{{ $need = add $need (div $v.kafkaQueueKbytes 1024) }}{{ end }}
{{- if eq .component "parser" }}{{ $need = add $need (mul 2 (div $v.fetchQueueKbytes 1024)) (div $v.produceQueueKbytes 1024) }}{{ end }}
{{- if eq .component "aggregator" }}{{ $need = add $need (mul 2 (div $v.queueKbytes 1024)) (mul 2 $v.maxBatchMiB .root.Values.topics.parsedPartitions) }}{{ end }}
{{- if eq .component "writer" }}{{ $need = add $need (include "rsvp.writerMemory" $v | int) }}{{ end }}
{{- $need }}
{{- end }}

{{/* rsvp.writerMemory: the writer's values -> MiB its requests can hold at most (its MAX_MEMORY): every connection
and worker a request of maxRequestMiB plus its receive buffer (up to 1 MiB), every worker a decode arena */}}
{{- define "rsvp.writerMemory" -}}
{{- add (mul (add .maxConnections .workers) (add .maxRequestMiB (min .maxRequestMiB 1))) (mul .workers .maxDecodeMiB) }}
{{- end }}

{{/* rsvp.resources: dict root, component, svc -> resources with the memory limit computed, or checked when set */}}
{{- define "rsvp.resources" -}}
{{- $res := deepCopy .svc.resources }}
{{- $need := include "rsvp.memoryNeed" . | int64 }}
{{- $limits := $res.limits | default dict }}
{{- if $limits.memory }}
{{- $have := include "rsvp.mib" $limits.memory | int64 }}
{{- if lt $have $need }}
{{- fail (printf "%s.resources.limits.memory %v is below the %dMi its queues need (see values.yaml: lower its queue sizes, or raise the limit, or leave it unset to have it computed)" .component $limits.memory $need) }}
{{- end }}
{{- else }}
{{- $_ := set $limits "memory" (printf "%dMi" $need) }}
{{- end }}
{{- $_ := set $res "limits" $limits }}
{{- toYaml $res }}
{{- end }}

{{/* rsvp.bindAddr: dict root, port (a number or a $(VAR)) -> "$(POD_IP):port" or "0.0.0.0:port" */}}
{{- define "rsvp.bindAddr" -}}
{{- if .root.Values.bindPodIP }}{{ printf "$(POD_IP):%v" .port }}{{ else }}{{ printf "0.0.0.0:%v" .port }}{{ end }}
{{- end }}

{{/* rsvp.maxReplicas: dict max, partitions -> the smaller: more consumers than partitions only idle */}}
{{- define "rsvp.maxReplicas" -}}
{{- min (int .max) (int .partitions) }}
{{- end }}

{{/* rsvp.kafkaEnv: dict root, svc -> KAFKA_* variables of kafka.config, then the service's own kafka.config */}}
{{- define "rsvp.kafkaEnv" -}}
{{- $m := dict }}
{{- range $k, $v := .root.Values.kafka.config }}{{ $_ := set $m $k $v }}{{ end }}
{{- range $k, $v := ((.svc.kafka).config) }}{{ $_ := set $m $k $v }}{{ end }}
{{- range $k := keys $m | sortAlpha }}
- name: {{ printf "KAFKA_%s" ($k | upper | replace "." "_") }}
  value: {{ get $m $k | toString | quote }}
{{- end }}
{{- end }}

{{/* rsvp.probe: dict defaults, over (the service's probes.<kind>) -> probe timings */}}
{{- define "rsvp.probe" -}}
{{- toYaml (mergeOverwrite (deepCopy .defaults) (.over | default dict)) }}
{{- end }}

{{/* rsvp.envNotTwice: dict component, svc, env -> fails when <service>.env or .extraEnv names a variable the chart
sets itself from the values (env): Kubernetes would take the later one, so writer.env.MAX_CONNECTIONS would leave the
computed MAX_MEMORY and memory limit below what the writer needs, and it would refuse to start. */}}
{{- define "rsvp.envNotTwice" -}}
{{- $own := dict }}
{{- range .env }}{{ $_ := set $own .name true }}{{ end }}
{{- $extra := list }}
{{- range $k, $_ := .svc.env }}{{ $extra = append $extra (list "env" $k) }}{{ end }}
{{- range .svc.extraEnv }}{{ $extra = append $extra (list "extraEnv" .name) }}{{ end }}
{{- range $extra }}
{{- if hasKey $own (index . 1) }}
{{- fail (printf "%s.%s sets %s, which the chart sets from %s's values (values.yaml): change that value instead (limits and the writer's MAX_MEMORY are computed from them)" $.component (index . 0) (index . 1) $.component) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
rsvp.podTemplate: dict root, component, svc (the service's values), binary, env (list of EnvVar), ports (list of
ContainerPort beyond metrics), portEnv (list of name/value: port variables the env may refer to), volumes, mounts
(lists), annotations (map), kafka (true: the service talks to Kafka: Kafka Secrets and KAFKA_* variables). Every
service: non-root, read-only root with /tmp on an emptyDir, probes on /healthz and /readyz, the shared ConfigMap
and optional Kafka Secrets as environment, no service links (their KAFKA_* variables would reach librdkafka
through the pass-through).
*/}}
{{- define "rsvp.podTemplate" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- include "rsvp.envNotTwice" . -}}
metadata:
  labels:
    {{- include "rsvp.labels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $svc.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with .annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- if $root.Values.prometheusAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $svc.metricsPort | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with $svc.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "rsvp.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds | default 30 }}
  {{- with default $root.Values.priorityClassName $svc.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with concat ($root.Values.imagePullSecrets | default list) (($root.Values.global).imagePullSecrets | default list) }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml (mergeOverwrite (deepCopy $root.Values.podSecurityContext) ($svc.podSecurityContext | default dict)) | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "rsvp.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: [{{ .binary }}]
      envFrom:
        - configMapRef:
            name: {{ include "rsvp.fullname" $root }}
        {{- if and .kafka $root.Values.kafka.existingSecret }}
        - secretRef:
            name: {{ $root.Values.kafka.existingSecret }}
        {{- end }}
        {{- if and .kafka (($svc.kafka).existingSecret) }}
        - secretRef:
            name: {{ $svc.kafka.existingSecret }}
        {{- end }}
        {{- with $svc.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: POD_IP
          valueFrom:
            fieldRef: {fieldPath: status.podIP}
        - name: INSTANCE_ID
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
        # the ports as variables of their own: an overlay patches them by name, and variables that refer to others
        # ($(POD_IP), $(METRICS_PORT)) keep their place after them
        - name: METRICS_PORT
          value: {{ $svc.metricsPort | quote }}
        {{- range .portEnv }}
        - name: {{ .name }}
          value: {{ .value | quote }}
        {{- end }}
        - name: METRICS_ADDR
          value: {{ include "rsvp.bindAddr" (dict "root" $root "port" "$(METRICS_PORT)") | quote }}
        {{- if .kafka }}
        {{- with include "rsvp.kafkaEnv" (dict "root" $root "svc" $svc) | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- end }}
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- range $k, $v := $svc.env }}
        - name: {{ $k }}
          value: {{ $v | quote }}
        {{- end }}
        {{- with $svc.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ $svc.metricsPort }}
          protocol: TCP
        {{- with .ports }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $p := $svc.probes | default dict }}
      startupProbe:
        httpGet: {path: /healthz, port: metrics}
        {{- include "rsvp.probe" (dict "defaults" (dict "periodSeconds" 2 "failureThreshold" 30) "over" $p.startup) | nindent 8 }}
      livenessProbe:
        httpGet: {path: /healthz, port: metrics}
        {{- include "rsvp.probe" (dict "defaults" (dict "periodSeconds" 10 "timeoutSeconds" 2 "failureThreshold" 3) "over" $p.liveness) | nindent 8 }}
      readinessProbe:
        httpGet: {path: /readyz, port: metrics}
        {{- include "rsvp.probe" (dict "defaults" (dict "periodSeconds" 2 "timeoutSeconds" 2 "failureThreshold" 3) "over" $p.readiness) | nindent 8 }}
      resources:
        {{- include "rsvp.resources" . | nindent 8 }}
      securityContext:
        {{- toYaml (mergeOverwrite (deepCopy $root.Values.securityContext) ($svc.securityContext | default dict)) | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with .mounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $svc.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {sizeLimit: 16Mi}
    {{- with .volumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $svc.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $svc.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $svc.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* rsvp.service: dict root, component, svc, headless, ports (extra ServicePorts) */}}
{{- define "rsvp.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "rsvp.fullname" .root }}-{{ .component }}
  labels:
    {{- include "rsvp.labels" (dict "root" .root "component" .component) | nindent 4 }}
    rsvp-pipeline.io/metrics: "true"
spec:
  {{- if .headless }}
  clusterIP: None
  {{- end }}
  selector:
    {{- include "rsvp.selectorLabels" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .svc.metricsPort }}
      targetPort: metrics
      protocol: TCP
    {{- with .ports }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
rsvp.pdb: dict root, component, svc. maxUnavailable is at least 1 (the schema refuses 0), and pods that are not
Ready may always be evicted (unhealthyPodEvictionPolicy: AlwaysAllow): a budget never forbids every disruption, so
a node drain cannot block on it.
*/}}
{{- define "rsvp.pdb" -}}
{{- if .svc.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "rsvp.fullname" .root }}-{{ .component }}
  labels:
    {{- include "rsvp.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  maxUnavailable: {{ .svc.pdb.maxUnavailable | default 1 }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "rsvp.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end }}
{{- end }}

{{/* rsvp.hpa: dict root, component, svc, kind, partitions (HPA on CPU, unless KEDA owns scaling) */}}
{{- define "rsvp.hpa" -}}
{{- if and .svc.autoscaling.enabled (not .root.Values.keda.enabled) }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "rsvp.fullname" .root }}-{{ .component }}
  labels:
    {{- include "rsvp.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind }}
    name: {{ include "rsvp.fullname" .root }}-{{ .component }}
  minReplicas: {{ .svc.autoscaling.minReplicas }}
  maxReplicas: {{ include "rsvp.maxReplicas" (dict "max" .svc.autoscaling.maxReplicas "partitions" .partitions) }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .svc.autoscaling.targetCPUUtilizationPercentage | default 70 }}
  {{- with .svc.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* rsvp.scaledObject: dict root, component, svc, kind, topic, group, partitions (KEDA on consumer lag) */}}
{{- define "rsvp.scaledObject" -}}
{{- if .root.Values.keda.enabled }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "rsvp.fullname" .root }}-{{ .component }}
  labels:
    {{- include "rsvp.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind }}
    name: {{ include "rsvp.fullname" .root }}-{{ .component }}
  pollingInterval: {{ .root.Values.keda.pollingInterval }}
  cooldownPeriod: {{ .root.Values.keda.cooldownPeriod }}
  minReplicaCount: {{ .svc.autoscaling.minReplicas }}
  # more consumers than partitions would only idle
  maxReplicaCount: {{ include "rsvp.maxReplicas" (dict "max" .svc.autoscaling.maxReplicas "partitions" .partitions) }}
  {{- with .svc.autoscaling.behavior }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        {{- toYaml . | nindent 8 }}
  {{- end }}
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {{ .root.Values.kafka.bootstrapServers | quote }}
        consumerGroup: {{ .group | quote }}
        topic: {{ .topic | quote }}
        lagThreshold: {{ .root.Values.keda.lagThreshold | quote }}
        offsetResetPolicy: earliest
        allowIdleConsumers: "false"
      {{- with .root.Values.keda.authenticationRef }}
      authenticationRef:
        name: {{ . }}
      {{- end }}
{{- end }}
{{- end }}
