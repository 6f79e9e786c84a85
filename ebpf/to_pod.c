/* SPDX-License-Identifier: Apache-2.0 */
/*
 * to_pod.c: tcx egress of a pod's host-side veth, so every packet that
 * the node's stack delivers to the pod. Packets that the from-pod hook
 * already judged pass; others (from the node or from outside) are judged
 * against the destination's ingress policy.
 */
#include "pipeline.h"

SEC("classifier")
int moat_to_pod(struct __sk_buff *skb)
{
	if ((skb->mark & MOAT_MARK_MASK) == MOAT_MARK_JUDGED) {
		set_mark_bits(skb, MOAT_MARK_MASK, 0);
		return TC_ACT_OK;
	}
	return pipeline_run(skb, MOAT_HOOK_TO_POD);
}

char LICENSE[] SEC("license") = "GPL";
