//! Pod templates and replica counts of the workload kinds.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;

use ipnet::IpNet;

use super::node::Node;
use super::{field_origin, typed};
use crate::diag::Diagnostic;

/// The pod template of a workload and how many pods it represents.
pub struct Template<'a> {
    pub replicas: u32,
    pub template: core::PodTemplateSpec,
    pub node: &'a Node,
}

/// The raw count of a workload before it is checked: value, field name and its parent node.
struct Count<'a> {
    value: Option<i32>,
    field: &'static str,
    parent: &'a Node,
}

/// The pod CIDR and how many of its addresses earlier pods already need.
#[derive(Clone, Copy)]
pub struct Addresses {
    pub pod_cidr: IpNet,
    pub taken: u64,
}

/// Reads the template of a workload kind and checks its replica count
/// against the addresses left in the pod CIDR.
pub fn template<'a>(
    doc: &'a Node,
    kind: &str,
    addresses: Addresses,
    out: &mut Vec<Diagnostic>,
) -> Option<Template<'a>> {
    let (count, template, node) = read(doc, kind, out)?;
    let replicas = checked_count(&count, addresses, out)?;
    Some(Template {
        replicas,
        template,
        node,
    })
}

/// Returns the count (1 when unset), or `None` after an error for a negative count
/// or one the pod CIDR cannot address.
fn checked_count(count: &Count, addresses: Addresses, out: &mut Vec<Diagnostic>) -> Option<u32> {
    let pod_cidr = addresses.pod_cidr;
    let value = count.value.unwrap_or(1);
    let at = field_origin(count.parent, count.field);
    let field = count.field;
    let Ok(replicas) = u32::try_from(value) else {
        out.push(
            Diagnostic::error(
                "moat::negative-count",
                format!("`{field}` is negative: {value}"),
            )
            .at(Some(at))
            .with_label("must be 0 or more")
            .with_help(format!("set `{field}` to 0 or a positive number")),
        );
        return None;
    };
    let capacity = pod_capacity(pod_cidr);
    if u64::from(replicas) > capacity {
        out.push(
            Diagnostic::error(
                "moat::too-many-replicas",
                format!(
                    "`{field}` is {replicas}, but pod CIDR {pod_cidr} has only {capacity} pod addresses"
                ),
            )
            .at(Some(at))
            .with_label("more pods than addresses")
            .with_help(
                "lower the count, or pass a larger range with `--pod-cidr`; moat created no pods for this workload",
            ),
        );
        return None;
    }
    let left = capacity.saturating_sub(addresses.taken);
    if u64::from(replicas) > left {
        out.push(
            Diagnostic::error(
                "moat::too-many-replicas",
                format!(
                    "`{field}` is {replicas}, but only {left} of the {capacity} pod addresses of {pod_cidr} are left"
                ),
            )
            .at(Some(at))
            .with_label("more pods than addresses left")
            .with_help(
                "earlier pods use the other addresses; lower the counts, or pass a larger range with `--pod-cidr`; moat created no pods for this workload",
            ),
        );
        return None;
    }
    Some(replicas)
}

/// Counts the addresses the pod address allocator can hand out from `range`:
/// every host address but the first, which is the pods' gateway.
pub fn pod_capacity(range: IpNet) -> u64 {
    let host_bits = u32::from(range.max_prefix_len() - range.prefix_len());
    let Some(addresses) = 1u64.checked_shl(host_bits).filter(|_| host_bits < 64) else {
        return u64::MAX;
    };
    // IPv4 ranges larger than /31 lose their network and broadcast addresses.
    let unusable = match range {
        IpNet::V4(_) if host_bits >= 2 => 3,
        _ => 1,
    };
    addresses.saturating_sub(unusable)
}

/// Reads the count, pod template and the template's node of a workload kind.
fn read<'a>(
    doc: &'a Node,
    kind: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<(Count<'a>, core::PodTemplateSpec, &'a Node)> {
    let spec_node = doc.get("spec").unwrap_or(doc);
    let template_node = |n: &'a Node| n.get("template").unwrap_or(n);
    let count = |value: Option<i32>, field: &'static str, parent: &'a Node| Count {
        value,
        field,
        parent,
    };
    match kind {
        "Deployment" => {
            let spec = typed::from_node::<apps::Deployment>(doc, kind)
                .map_err(|e| out.push(e))
                .ok()?
                .spec?;
            let replicas = count(spec.replicas, "replicas", spec_node);
            Some((replicas, spec.template, template_node(spec_node)))
        }
        "ReplicaSet" => {
            let spec = typed::from_node::<apps::ReplicaSet>(doc, kind)
                .map_err(|e| out.push(e))
                .ok()?
                .spec?;
            let replicas = count(spec.replicas, "replicas", spec_node);
            Some((replicas, spec.template?, template_node(spec_node)))
        }
        "StatefulSet" => {
            let spec = typed::from_node::<apps::StatefulSet>(doc, kind)
                .map_err(|e| out.push(e))
                .ok()?
                .spec?;
            let replicas = count(spec.replicas, "replicas", spec_node);
            Some((replicas, spec.template, template_node(spec_node)))
        }
        "DaemonSet" => {
            let spec = typed::from_node::<apps::DaemonSet>(doc, kind)
                .map_err(|e| out.push(e))
                .ok()?
                .spec?;
            let one = count(Some(1), "replicas", spec_node);
            Some((one, spec.template, template_node(spec_node)))
        }
        "Job" => {
            let spec = typed::from_node::<batch::Job>(doc, kind)
                .map_err(|e| out.push(e))
                .ok()?
                .spec?;
            let parallelism = count(spec.parallelism, "parallelism", spec_node);
            Some((parallelism, spec.template, template_node(spec_node)))
        }
        _ => {
            let job = typed::from_node::<batch::CronJob>(doc, kind)
                .map_err(|e| out.push(e))
                .ok()?
                .spec?
                .job_template
                .spec?;
            let job_node = spec_node
                .get("jobTemplate")
                .and_then(|n| n.get("spec"))
                .unwrap_or(spec_node);
            let parallelism = count(job.parallelism, "parallelism", job_node);
            Some((parallelism, job.template, template_node(job_node)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_of_common_ranges() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(pod_capacity(net("10.244.0.0/16")), 65533);
        assert_eq!(pod_capacity(net("10.0.0.0/30")), 1);
        assert_eq!(pod_capacity(net("10.0.0.0/32")), 0);
        assert_eq!(pod_capacity(net("fd00::/120")), 255);
        assert_eq!(pod_capacity(net("fd00::/48")), u64::MAX);
    }
}
