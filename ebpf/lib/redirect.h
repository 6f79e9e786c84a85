/* SPDX-License-Identifier: Apache-2.0 */
/*
 * redirect.h: the links map from pod address to host-side veth, and the
 * redirect of a judged packet straight to the destination pod.
 */
#ifndef MOAT_REDIRECT_H
#define MOAT_REDIRECT_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MOAT_CAP_LINKS);
	__type(key, __be32);
	__type(value, struct moat_link);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_links SEC(".maps");

static __always_inline struct moat_link *link_of(__be32 addr)
{
	return bpf_map_lookup_elem(&moat_links, &addr);
}

/*
 * Sends the packet to the pod behind `link`. With known MAC addresses it
 * rewrites the Ethernet header and enters the pod's namespace directly
 * (bpf_redirect_peer, tc ingress only); otherwise the neighbour table of
 * the node resolves the pod's MAC (bpf_redirect_neigh).
 */
static __always_inline int redirect_to(struct __sk_buff *skb,
				       const struct moat_link *link)
{
	void *data, *data_end;
	struct ethhdr *eth;

	if (!(link->flags & MOAT_LINK_F_MAC))
		return bpf_redirect_neigh(link->ifindex, NULL, 0, 0);

	/* Pointers from before any rewrite are stale: load them again. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	__builtin_memcpy(eth->h_dest, link->pod_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, link->host_mac, ETH_ALEN);
	return bpf_redirect_peer(link->ifindex, 0);
}

#endif /* MOAT_REDIRECT_H */
