/* SPDX-License-Identifier: Apache-2.0 */
/*
 * from_pod.c: tcx ingress of a pod's host-side veth, so every packet the
 * pod sends. Translates services, judges the connection against the
 * source's egress and the destination's ingress policy, reverse-NATs
 * replies and redirects the packet to a destination pod on this node.
 */
#include "pipeline.h"

SEC("classifier")
int moat_from_pod(struct __sk_buff *skb)
{
	return pipeline_run(skb, MOAT_HOOK_FROM_POD);
}

char LICENSE[] SEC("license") = "GPL";
