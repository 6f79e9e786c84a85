//! Field names of the workload, Service, Namespace and EndpointSlice kinds, and
//! of `metadata`, for the unknown-field check.
//!
//! The names are those of the Kubernetes 1.33 API (k8s-openapi `v1_33`). Fields
//! whose values moat does not read are [`Shape::Free`].

use super::schema::{SELECTOR, Shape};

const FREE: Shape = Shape::Free;

/// `metadata` of every object (ObjectMeta).
pub const OBJECT_META: Shape = Shape::Fields(&[
    ("name", &FREE),
    ("generateName", &FREE),
    ("namespace", &FREE),
    ("labels", &FREE),
    ("annotations", &FREE),
    ("uid", &FREE),
    ("resourceVersion", &FREE),
    ("generation", &FREE),
    ("creationTimestamp", &FREE),
    ("deletionTimestamp", &FREE),
    ("deletionGracePeriodSeconds", &FREE),
    ("ownerReferences", &FREE),
    ("finalizers", &FREE),
    ("managedFields", &FREE),
    ("selfLink", &FREE),
]);

/// An object with `metadata`, the given `spec` and a free `status`.
macro_rules! object {
    ($spec:expr) => {
        Shape::Fields(&[
            ("apiVersion", &FREE),
            ("kind", &FREE),
            ("metadata", &OBJECT_META),
            ("spec", &$spec),
            ("status", &FREE),
        ])
    };
}

const CONTAINER_PORT: Shape = Shape::Fields(&[
    ("containerPort", &FREE),
    ("hostIP", &FREE),
    ("hostPort", &FREE),
    ("name", &FREE),
    ("protocol", &FREE),
]);

const CONTAINER: Shape = Shape::Fields(&[
    ("args", &FREE),
    ("command", &FREE),
    ("env", &FREE),
    ("envFrom", &FREE),
    ("image", &FREE),
    ("imagePullPolicy", &FREE),
    ("lifecycle", &FREE),
    ("livenessProbe", &FREE),
    ("name", &FREE),
    ("ports", &Shape::List(&CONTAINER_PORT)),
    ("readinessProbe", &FREE),
    ("resizePolicy", &FREE),
    ("resources", &FREE),
    ("restartPolicy", &FREE),
    ("securityContext", &FREE),
    ("startupProbe", &FREE),
    ("stdin", &FREE),
    ("stdinOnce", &FREE),
    ("terminationMessagePath", &FREE),
    ("terminationMessagePolicy", &FREE),
    ("tty", &FREE),
    ("volumeDevices", &FREE),
    ("volumeMounts", &FREE),
    ("workingDir", &FREE),
]);

const POD_SPEC: Shape = Shape::Fields(&[
    ("activeDeadlineSeconds", &FREE),
    ("affinity", &FREE),
    ("automountServiceAccountToken", &FREE),
    ("containers", &Shape::List(&CONTAINER)),
    ("dnsConfig", &FREE),
    ("dnsPolicy", &FREE),
    ("enableServiceLinks", &FREE),
    ("ephemeralContainers", &FREE),
    ("hostAliases", &FREE),
    ("hostIPC", &FREE),
    ("hostNetwork", &FREE),
    ("hostPID", &FREE),
    ("hostUsers", &FREE),
    ("hostname", &FREE),
    ("imagePullSecrets", &FREE),
    ("initContainers", &Shape::List(&CONTAINER)),
    ("nodeName", &FREE),
    ("nodeSelector", &FREE),
    ("os", &FREE),
    ("overhead", &FREE),
    ("preemptionPolicy", &FREE),
    ("priority", &FREE),
    ("priorityClassName", &FREE),
    ("readinessGates", &FREE),
    ("resourceClaims", &FREE),
    ("resources", &FREE),
    ("restartPolicy", &FREE),
    ("runtimeClassName", &FREE),
    ("schedulerName", &FREE),
    ("schedulingGates", &FREE),
    ("securityContext", &FREE),
    ("serviceAccount", &FREE),
    ("serviceAccountName", &FREE),
    ("setHostnameAsFQDN", &FREE),
    ("shareProcessNamespace", &FREE),
    ("subdomain", &FREE),
    ("terminationGracePeriodSeconds", &FREE),
    ("tolerations", &FREE),
    ("topologySpreadConstraints", &FREE),
    ("volumes", &FREE),
]);

const POD_TEMPLATE: Shape = Shape::Fields(&[("metadata", &OBJECT_META), ("spec", &POD_SPEC)]);

const DEPLOYMENT_SPEC: Shape = Shape::Fields(&[
    ("minReadySeconds", &FREE),
    ("paused", &FREE),
    ("progressDeadlineSeconds", &FREE),
    ("replicas", &FREE),
    ("revisionHistoryLimit", &FREE),
    ("selector", &SELECTOR),
    ("strategy", &FREE),
    ("template", &POD_TEMPLATE),
]);

const REPLICA_SET_SPEC: Shape = Shape::Fields(&[
    ("minReadySeconds", &FREE),
    ("replicas", &FREE),
    ("selector", &SELECTOR),
    ("template", &POD_TEMPLATE),
]);

const STATEFUL_SET_SPEC: Shape = Shape::Fields(&[
    ("minReadySeconds", &FREE),
    ("ordinals", &FREE),
    ("persistentVolumeClaimRetentionPolicy", &FREE),
    ("podManagementPolicy", &FREE),
    ("replicas", &FREE),
    ("revisionHistoryLimit", &FREE),
    ("selector", &SELECTOR),
    ("serviceName", &FREE),
    ("template", &POD_TEMPLATE),
    ("updateStrategy", &FREE),
    ("volumeClaimTemplates", &FREE),
]);

const DAEMON_SET_SPEC: Shape = Shape::Fields(&[
    ("minReadySeconds", &FREE),
    ("revisionHistoryLimit", &FREE),
    ("selector", &SELECTOR),
    ("template", &POD_TEMPLATE),
    ("updateStrategy", &FREE),
]);

const JOB_SPEC: Shape = Shape::Fields(&[
    ("activeDeadlineSeconds", &FREE),
    ("backoffLimit", &FREE),
    ("backoffLimitPerIndex", &FREE),
    ("completionMode", &FREE),
    ("completions", &FREE),
    ("managedBy", &FREE),
    ("manualSelector", &FREE),
    ("maxFailedIndexes", &FREE),
    ("parallelism", &FREE),
    ("podFailurePolicy", &FREE),
    ("podReplacementPolicy", &FREE),
    ("selector", &SELECTOR),
    ("successPolicy", &FREE),
    ("suspend", &FREE),
    ("template", &POD_TEMPLATE),
    ("ttlSecondsAfterFinished", &FREE),
]);

const JOB_TEMPLATE: Shape = Shape::Fields(&[("metadata", &OBJECT_META), ("spec", &JOB_SPEC)]);

const CRON_JOB_SPEC: Shape = Shape::Fields(&[
    ("concurrencyPolicy", &FREE),
    ("failedJobsHistoryLimit", &FREE),
    ("jobTemplate", &JOB_TEMPLATE),
    ("schedule", &FREE),
    ("startingDeadlineSeconds", &FREE),
    ("successfulJobsHistoryLimit", &FREE),
    ("suspend", &FREE),
    ("timeZone", &FREE),
]);

const SERVICE_PORT: Shape = Shape::Fields(&[
    ("appProtocol", &FREE),
    ("name", &FREE),
    ("nodePort", &FREE),
    ("port", &FREE),
    ("protocol", &FREE),
    ("targetPort", &FREE),
]);

const SERVICE_SPEC: Shape = Shape::Fields(&[
    ("allocateLoadBalancerNodePorts", &FREE),
    ("clusterIP", &FREE),
    ("clusterIPs", &FREE),
    ("externalIPs", &FREE),
    ("externalName", &FREE),
    ("externalTrafficPolicy", &FREE),
    ("healthCheckNodePort", &FREE),
    ("internalTrafficPolicy", &FREE),
    ("ipFamilies", &FREE),
    ("ipFamilyPolicy", &FREE),
    ("loadBalancerClass", &FREE),
    ("loadBalancerIP", &FREE),
    ("loadBalancerSourceRanges", &FREE),
    ("ports", &Shape::List(&SERVICE_PORT)),
    ("publishNotReadyAddresses", &FREE),
    ("selector", &FREE),
    ("sessionAffinity", &FREE),
    ("sessionAffinityConfig", &FREE),
    ("trafficDistribution", &FREE),
    ("type", &FREE),
]);

const NAMESPACE_SPEC: Shape = Shape::Fields(&[("finalizers", &FREE)]);

const ENDPOINT: Shape = Shape::Fields(&[
    ("addresses", &FREE),
    ("conditions", &FREE),
    ("deprecatedTopology", &FREE),
    ("hints", &FREE),
    ("hostname", &FREE),
    ("nodeName", &FREE),
    ("targetRef", &FREE),
    ("zone", &FREE),
]);

const ENDPOINT_PORT: Shape = Shape::Fields(&[
    ("appProtocol", &FREE),
    ("name", &FREE),
    ("port", &FREE),
    ("protocol", &FREE),
]);

const ENDPOINT_SLICE: Shape = Shape::Fields(&[
    ("apiVersion", &FREE),
    ("kind", &FREE),
    ("metadata", &OBJECT_META),
    ("addressType", &FREE),
    ("endpoints", &Shape::List(&ENDPOINT)),
    ("ports", &Shape::List(&ENDPOINT_PORT)),
]);

const POD: Shape = object!(POD_SPEC);
const DEPLOYMENT: Shape = object!(DEPLOYMENT_SPEC);
const REPLICA_SET: Shape = object!(REPLICA_SET_SPEC);
const STATEFUL_SET: Shape = object!(STATEFUL_SET_SPEC);
const DAEMON_SET: Shape = object!(DAEMON_SET_SPEC);
const JOB: Shape = object!(JOB_SPEC);
const CRON_JOB: Shape = object!(CRON_JOB_SPEC);
const SERVICE: Shape = object!(SERVICE_SPEC);
const NAMESPACE: Shape = object!(NAMESPACE_SPEC);

/// Returns the shape of a non-policy kind that moat reads. Policy kinds check their own.
pub fn shape_of(kind: &str) -> Option<&'static Shape> {
    match kind {
        "Namespace" => Some(&NAMESPACE),
        "Pod" => Some(&POD),
        "Deployment" => Some(&DEPLOYMENT),
        "ReplicaSet" => Some(&REPLICA_SET),
        "StatefulSet" => Some(&STATEFUL_SET),
        "DaemonSet" => Some(&DAEMON_SET),
        "Job" => Some(&JOB),
        "CronJob" => Some(&CRON_JOB),
        "Service" => Some(&SERVICE),
        "EndpointSlice" => Some(&ENDPOINT_SLICE),
        _ => None,
    }
}
