/* SPDX-License-Identifier: Apache-2.0 */
/*
 * icmp.h: ICMP errors (destination unreachable, time exceeded, parameter
 * problem) as traffic related to a known connection. An error quotes the
 * IPv4 header and the first 8 L4 bytes of the packet that caused it. The
 * quoted tuple names the connection, whose conntrack entry decides the
 * error's fate, and whose service translation the quoted header and the
 * outer addresses undergo as well.
 */
#ifndef MOAT_ICMP_H
#define MOAT_ICMP_H

#include "nat.h"

/* Bytes of the ICMP error header before the quoted packet. */
#define ICMP_ERR_HLEN 8
/* Quoted IPv4 header without options, then 8 bytes of its L4 header. */
#define ICMP_QUOTE_LEN (20 + 8)

/* The quoted packet of an ICMP error and where its fields sit. */
struct icmp_quote {
	struct flow f;		/* tuple of the quoted packet */
	__u32 icmp_csum_off;	/* ICMP checksum, from skb->data */
	__u32 ip_off;		/* quoted IPv4 header */
	__u32 l4_off;		/* quoted L4 header */
};

/* Reads the ports (or echo identifier) of the quoted L4 header. */
static __always_inline int quote_ports(struct flow *f, void *l4,
				       void *data_end)
{
	struct icmp_echo_hdr *echo = l4;

	if ((void *)(echo + 1) > data_end)
		return MOAT_DROP_MALFORMED;
	if (has_ports_l4(f->protocol)) {
		f->sport = *(__be16 *)l4;
		f->dport = *(__be16 *)(l4 + 2);
		return 0;
	}
	if (f->protocol == IPPROTO_ICMP &&
	    (echo->type == ICMP_ECHO || echo->type == ICMP_ECHOREPLY)) {
		f->icmp_echo = 1;
		f->sport = echo->id;
		f->dport = echo->id;
		return 0;
	}
	/* An error about an error, or a protocol without a tuple. */
	return MOAT_DROP_ICMP_UNRELATED;
}

/*
 * Parses the packet quoted by the ICMP error whose header starts at
 * `outer->l4_off`. Returns 0 or a negative drop reason.
 * NOTE: a quoted header with IP options is dropped as malformed, because
 * the fixed quote length keeps the linear-data bound below 128 bytes.
 */
static __always_inline int icmp_quote_parse(struct __sk_buff *skb,
					    const struct flow *outer,
					    struct icmp_quote *q)
{
	void *data, *data_end;
	struct iphdr *ip, *inner;
	int err;

	/* l4_off is at most 74, so the length stays below 128. */
	err = ensure_linear(skb, outer->l4_off + ICMP_ERR_HLEN + ICMP_QUOTE_LEN);
	if (err)
		return err;
	/*
	 * Derive pointers from the reloaded outer IP header, as in
	 * parse_packet(): an offset added to data in 32 bits is rejected.
	 */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return MOAT_DROP_MALFORMED;
	inner = (void *)ip + ip->ihl * 4 + ICMP_ERR_HLEN;
	if ((void *)(inner + 1) > data_end)
		return MOAT_DROP_MALFORMED;
	if (inner->ihl != 5)
		return MOAT_DROP_MALFORMED;

	__builtin_memset(&q->f, 0, sizeof(q->f));
	q->f.saddr = inner->saddr;
	q->f.daddr = inner->daddr;
	q->f.protocol = inner->protocol;
	q->icmp_csum_off = outer->l4_off + 2;
	q->ip_off = outer->l4_off + ICMP_ERR_HLEN;
	q->l4_off = q->ip_off + sizeof(*inner);
	q->f.l4_off = q->l4_off;
	return quote_ports(&q->f, inner + 1, data_end);
}

/*
 * Rewrites the source or destination of the quoted packet to addr:port
 * and updates `q->f`. The quoted IPv4 checksum follows the address. The
 * ICMP checksum then needs no change for it, because the ones' complement
 * sum of a header with a valid checksum is constant. A port change does
 * change the ICMP checksum. The quoted TCP/UDP checksum is left as it
 * is: receivers cannot verify it on a truncated quote anyway.
 */
static __always_inline int icmp_quote_rewrite(struct __sk_buff *skb,
					      struct icmp_quote *q, int which,
					      __be32 addr, __be16 port)
{
	__be32 old_addr = which == NAT_DEST ? q->f.daddr : q->f.saddr;
	__be16 old_port = which == NAT_DEST ? q->f.dport : q->f.sport;
	__u32 addr_off = q->ip_off + (which == NAT_DEST ? 16 : 12);
	__u32 port_off = q->l4_off + (which == NAT_DEST ? 2 : 0);

	if (addr != old_addr) {
		if (bpf_l3_csum_replace(skb, q->ip_off + 10, old_addr, addr, 4) < 0)
			return MOAT_DROP_NAT_FAILED;
		if (bpf_skb_store_bytes(skb, addr_off, &addr, 4, 0) < 0)
			return MOAT_DROP_NAT_FAILED;
	}
	if (has_ports_l4(q->f.protocol) && port != old_port) {
		if (q->f.protocol == IPPROTO_SCTP)
			return MOAT_DROP_SCTP_PORT_NAT;
		if (bpf_l4_csum_replace(skb, q->icmp_csum_off, old_port, port, 2) < 0)
			return MOAT_DROP_NAT_FAILED;
		if (bpf_skb_store_bytes(skb, port_off, &port, 2, 0) < 0)
			return MOAT_DROP_NAT_FAILED;
	}

	if (which == NAT_DEST) {
		q->f.daddr = addr;
		q->f.dport = has_ports_l4(q->f.protocol) ? port : q->f.dport;
	} else {
		q->f.saddr = addr;
		q->f.sport = has_ports_l4(q->f.protocol) ? port : q->f.sport;
	}
	return 0;
}

#endif /* MOAT_ICMP_H */
