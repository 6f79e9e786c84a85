/* SPDX-License-Identifier: Apache-2.0 */
/*
 * related.h: the path of an ICMP error, which belongs to the connection
 * it quotes. The error takes that connection's verdict and its service
 * and hairpin translation.
 */
#ifndef MOAT_RELATED_H
#define MOAT_RELATED_H

#include "icmp.h"
#include "steps.h"

/*
 * Puts the hairpin address back as outer source and quoted destination,
 * for an error a pod sends about a reply it got from its own ClusterIP.
 * The quote then shows the reply as the pod sent it, to the hairpin
 * address.
 */
static __always_inline int icmp_hairpin_apply(struct __sk_buff *skb,
					      struct packet *p,
					      struct icmp_quote *q)
{
	__be32 hairpin = bpf_htonl(MOAT_HAIRPIN_ADDR);
	int err;

	err = nat_rewrite(skb, &p->f, NAT_SOURCE, hairpin, 0);
	if (err)
		return err;
	return icmp_quote_rewrite(skb, q, NAT_DEST, hairpin, q->f.dport);
}

/*
 * An error a pod sends about a reply it got from a ClusterIP quotes the
 * ClusterIP as source. The quote and the outer destination go back to the
 * backend that the connection's service pin names. Returns 0 or a drop
 * reason.
 */
static __always_inline int icmp_service_translate(struct __sk_buff *skb,
						  struct packet *p,
						  struct icmp_quote *q)
{
	struct moat_ct_entry *pin;
	struct moat_ct_key key;
	__be32 addr;
	__be16 port;
	int err;

	ct_key_of(&key, &q->f, MOAT_CT_F_SERVICE);
	ct_key_reverse(&key);
	pin = bpf_map_lookup_elem(&moat_ct, &key);
	if (!pin || ct_expired(pin, p->now))
		return 0;
	addr = pin->nat_addr;
	port = pin->nat_port;
	if (p->f.daddr == q->f.saddr) {
		err = nat_rewrite(skb, &p->f, NAT_DEST, addr, 0);
		if (err)
			return err;
	}
	err = icmp_quote_rewrite(skb, q, NAT_SOURCE, addr, port);
	if (err || q->f.saddr != q->f.daddr)
		return err;
	return icmp_hairpin_apply(skb, p, q);
}

/*
 * The quoted packet went to a service backend: the error leaves with the
 * ClusterIP:port in the quote, and as outer source when the backend sent
 * it, so the receiver matches it to its socket. An error about a hairpin
 * request also goes from the hairpin address back to the pod itself.
 */
static __always_inline int icmp_reverse_nat(struct __sk_buff *skb,
					    struct packet *p,
					    struct icmp_quote *q,
					    const struct moat_ct_entry *e)
{
	__be32 pod = q->f.daddr;
	int err;

	if (p->f.saddr == q->f.daddr) {
		err = nat_rewrite(skb, &p->f, NAT_SOURCE, e->nat_addr, 0);
		if (err)
			return err;
	}
	err = icmp_quote_rewrite(skb, q, NAT_DEST, e->nat_addr, e->nat_port);
	if (err || q->f.saddr != bpf_htonl(MOAT_HAIRPIN_ADDR))
		return err;

	/* A hairpin request came from the backend pod itself. */
	err = nat_rewrite(skb, &p->f, NAT_DEST, pod, 0);
	if (err)
		return err;
	return icmp_quote_rewrite(skb, q, NAT_SOURCE, pod, q->f.sport);
}

/*
 * Handles an ICMP error as traffic related to the connection it quotes:
 * it passes when that connection exists and is allowed, and is dropped
 * otherwise. It neither creates nor refreshes a conntrack entry.
 */
static __always_inline int icmp_error_run(struct __sk_buff *skb,
					  struct packet *p)
{
	struct icmp_quote q;
	struct moat_ct_entry *e;
	int reply = 0, err;

	err = icmp_quote_parse(skb, &p->f, &q);
	if (!err && p->hook == MOAT_HOOK_FROM_POD)
		err = icmp_service_translate(skb, p, &q);
	if (err)
		return drop_early(skb, err);
	/* An error goes back to the sender of the packet it quotes. */
	if (p->f.daddr != q.f.saddr)
		return drop_early(skb, MOAT_DROP_ICMP_UNRELATED);
	e = ct_lookup(&q.f, &reply, p->now);
	if (!e)
		return drop_early(skb, MOAT_DROP_ICMP_UNRELATED);
	if (e->generation != p->img.generation)
		conn_rejudge(p, &q.f, reply, e);
	count_packet(p, e, e->verdict == MOAT_VERDICT_DROPPED);
	if (e->verdict == MOAT_VERDICT_DROPPED)
		return TC_ACT_SHOT;

	if (!reply && e->service_id != MOAT_SERVICE_NONE) {
		err = icmp_reverse_nat(skb, p, &q, e);
		if (err)
			return drop_early(skb, err);
	}
	return forward(skb, p);
}

#endif /* MOAT_RELATED_H */
