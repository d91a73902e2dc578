{{/* Names, labels and the pod template shared by the four services. */}}

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

{{- define "rsvp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "rsvp.postgresSecret" -}}
{{- default (printf "%s-postgres" (include "rsvp.fullname" .)) .Values.postgres.existingSecret }}
{{- end }}

{{- define "rsvp.writerUrl" -}}
{{- default (printf "tcp://%s-writer:%d" (include "rsvp.fullname" .) (int .Values.writer.port)) .Values.aggregator.writerUrl }}
{{- end }}

{{/* rsvp.bindAddr: dict root, port -> "$(POD_IP):port" or "0.0.0.0:port" */}}
{{- define "rsvp.bindAddr" -}}
{{- if .root.Values.bindPodIP }}{{ printf "$(POD_IP):%d" (int .port) }}{{ else }}{{ printf "0.0.0.0:%d" (int .port) }}{{ end }}
{{- end }}

{{/* rsvp.maxReplicas: dict max, partitions -> the smaller: more consumers than partitions only idle */}}
{{- define "rsvp.maxReplicas" -}}
{{- min (int .max) (int .partitions) }}
{{- end }}

{{/*
rsvp.podTemplate: dict root, component, svc (the service's values), binary, env (list of EnvVar), ports (list of
ContainerPort beyond metrics). Every service: non-root, read-only root with /tmp on an emptyDir, probes on
/healthz and /readyz, shared ConfigMap + optional Kafka Secret as environment, no service links (their KAFKA_*
variables would reach librdkafka through the pass-through).
*/}}
{{- define "rsvp.podTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "rsvp.labels" (dict "root" $root "component" .component) | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if $root.Values.prometheusAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .svc.metricsPort | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with .svc.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  enableServiceLinks: false
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ .svc.terminationGracePeriodSeconds }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "rsvp.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: [{{ .binary }}]
      envFrom:
        - configMapRef:
            name: {{ include "rsvp.fullname" $root }}
        {{- if $root.Values.kafka.existingSecret }}
        - secretRef:
            name: {{ $root.Values.kafka.existingSecret }}
        {{- end }}
      env:
        - name: POD_IP
          valueFrom:
            fieldRef: {fieldPath: status.podIP}
        - name: INSTANCE_ID
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
        - name: METRICS_ADDR
          value: {{ include "rsvp.bindAddr" (dict "root" $root "port" .svc.metricsPort) | quote }}
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- range $k, $v := .svc.env }}
        - name: {{ $k }}
          value: {{ $v | quote }}
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .svc.metricsPort }}
          protocol: TCP
        {{- with .ports }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet: {path: /healthz, port: metrics}
        periodSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet: {path: /healthz, port: metrics}
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet: {path: /readyz, port: metrics}
        periodSeconds: 2
        timeoutSeconds: 2
        failureThreshold: 3
      resources:
        {{- toYaml .svc.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir: {sizeLimit: 16Mi}
  {{- with .svc.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .svc.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .svc.affinity }}
  affinity:
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

{{/* rsvp.pdb: dict root, component, svc */}}
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
  maxUnavailable: {{ .svc.pdb.maxUnavailable }}
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
          averageUtilization: {{ .svc.autoscaling.targetCPUUtilizationPercentage }}
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
