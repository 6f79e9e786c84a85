/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy.h: judges one connection against the egress table of its source
 * endpoint and the ingress table of its destination endpoint, following
 * the lookup sequence documented in moat_maps.h.
 */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

#include "image.h"

/* Result of judging a connection. */
struct judgement {
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;		/* deciding rule or MOAT_RULE_NONE */
	__s32 drop_reason;	/* 0 when allowed */
};

/*
 * Looks up (table, identity, protocol, port), falling back to the table's
 * MOAT_ID_ANY entries. Returns NULL only for an image that breaks the
 * rule that every table holds a default entry.
 */
static __always_inline struct moat_policy_value *
policy_lookup(const struct image *img, __u32 table, __u32 identity,
	      __u8 protocol, __be16 port)
{
	struct moat_policy_key key = {
		.prefixlen = 32 + 32 + 8 + 8 + 16,
		.table_id = table,
		.identity = identity,
		.protocol = protocol,
		.port = port,
	};
	struct moat_policy_value *v;

	if (identity != MOAT_ID_ANY) {
		v = bpf_map_lookup_elem(img->policy, &key);
		if (v)
			return v;
		key.identity = MOAT_ID_ANY;
	}
	return bpf_map_lookup_elem(img->policy, &key);
}

/*
 * Applies one table; returns 1 when it allows. A missing default entry
 * denies, so a broken image fails closed.
 */
static __always_inline int policy_apply(const struct image *img, __u32 table,
					__u32 identity, __u8 protocol,
					__be16 port, __u32 *rule_id)
{
	struct moat_policy_value *v;

	v = policy_lookup(img, table, identity, protocol, port);
	if (!v) {
		*rule_id = MOAT_RULE_NONE;
		return 0;
	}
	if (!(v->flags & MOAT_POL_F_NOT_ISOLATED) || v->action != MOAT_ACTION_ALLOW)
		*rule_id = v->rule_id;
	return v->action == MOAT_ACTION_ALLOW;
}

/*
 * Judges a connection saddr -> daddr:dport (after service translation).
 * `src_ep` and `dst_ep` are the local endpoints or NULL.
 */
static __always_inline void judge(const struct image *img,
				  struct moat_endpoint_value *src_ep,
				  struct moat_endpoint_value *dst_ep,
				  __be32 saddr, __be32 daddr, __u8 protocol,
				  __be16 dport, struct judgement *j)
{
	__u32 rule = MOAT_RULE_NONE;

	/* ICMP and unknown protocols match only the all-ports entries. */
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP &&
	    protocol != IPPROTO_SCTP)
		dport = 0;

	j->src_identity = src_ep ? src_ep->identity : image_identity(img, saddr);
	j->dst_identity = dst_ep ? dst_ep->identity : image_identity(img, daddr);
	j->rule_id = MOAT_RULE_NONE;
	j->drop_reason = 0;
	if (j->src_identity == MOAT_ID_HOST || j->dst_identity == MOAT_ID_HOST)
		return;

	if (src_ep && !(src_ep->flags & MOAT_EP_F_EGRESS_OPEN)) {
		if (!policy_apply(img, src_ep->egress_table, j->dst_identity,
				  protocol, dport, &rule)) {
			j->rule_id = rule;
			j->drop_reason = MOAT_DROP_POLICY_EGRESS;
			return;
		}
		j->rule_id = rule;
	}
	if (dst_ep && !(dst_ep->flags & MOAT_EP_F_INGRESS_OPEN)) {
		rule = MOAT_RULE_NONE;
		if (!policy_apply(img, dst_ep->ingress_table, j->src_identity,
				  protocol, dport, &rule)) {
			j->rule_id = rule;
			j->drop_reason = MOAT_DROP_POLICY_INGRESS;
			return;
		}
		/* Report the ingress rule when one decided. */
		if (rule != MOAT_RULE_NONE)
			j->rule_id = rule;
	}
}

#endif /* MOAT_POLICY_H */
