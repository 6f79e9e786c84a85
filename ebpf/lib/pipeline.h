/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipeline.h: the path of one IPv4 packet through the datapath, shared by
 * both hooks: service translation, conntrack, policy, reverse NAT,
 * counters, events and the final action.
 */
#ifndef MOAT_PIPELINE_H
#define MOAT_PIPELINE_H

#include "related.h"
#include "steps.h"

/*
 * Gives a reply of a service connection the ClusterIP:port as source. The
 * reply of a hairpin connection goes to MOAT_HAIRPIN_ADDR and returns to
 * the pod that sent it, so its destination becomes that pod's address.
 */
static __always_inline int reverse_nat(struct __sk_buff *skb, struct packet *p,
				       const struct moat_ct_entry *e)
{
	__be32 pod = p->f.saddr;
	int err;

	err = nat_rewrite(skb, &p->f, NAT_SOURCE, e->nat_addr, e->nat_port);
	if (err || p->f.daddr != bpf_htonl(MOAT_HAIRPIN_ADDR))
		return err;
	return nat_rewrite(skb, &p->f, NAT_DEST, pod, p->f.dport);
}

/* Runs the whole datapath for one packet seen by `hook`. */
static __always_inline int pipeline_run(struct __sk_buff *skb, __u8 hook)
{
	struct packet p = {};
	struct moat_ct_entry *e;
	int ret;

	ret = parse_packet(skb, &p.f);
	if (ret == PARSE_OTHER)
		return TC_ACT_OK;
	if (ret == PARSE_IPV6)
		return drop_early(skb, MOAT_DROP_IPV6);
	if (ret < 0)
		return drop_early(skb, ret);

	p.hook = hook;
	p.now = bpf_ktime_get_ns();
	p.len = skb->len;
	p.ifindex = skb->ifindex;
	p.service_id = MOAT_SERVICE_NONE;
	ret = image_open(&p.img);
	if (ret)
		return drop_early(skb, ret);

	ret = check_source(&p);
	if (ret)
		return drop_early(skb, ret);
	if (p.f.icmp_error)
		return icmp_error_run(skb, &p);
	if (hook == MOAT_HOOK_FROM_POD) {
		ret = service_translate(skb, &p);
		if (ret)
			return drop_early(skb, ret);
	}

	e = conn_judge(&p);
	if (!e)
		return drop_early(skb, MOAT_DROP_CT_FAILED);
	count_packet(&p, e, e->verdict == MOAT_VERDICT_DROPPED);
	if (e->verdict == MOAT_VERDICT_DROPPED)
		return TC_ACT_SHOT;

	/* Replies of a service connection leave with the ClusterIP. */
	if (p.reply && e->service_id != MOAT_SERVICE_NONE) {
		ret = reverse_nat(skb, &p, e);
		if (ret)
			return drop_early(skb, ret);
	}
	return forward(skb, &p);
}

#endif /* MOAT_PIPELINE_H */
