/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nat.h: rewrites an IPv4 address and L4 port in place, with the IPv4
 * header checksum and the TCP/UDP checksum updated incrementally.
 */
#ifndef MOAT_NAT_H
#define MOAT_NAT_H

#include <stddef.h>

#include "parse.h"

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SADDR_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DADDR_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))

/* Which end of the packet a rewrite changes. */
#define NAT_SOURCE 0
#define NAT_DEST 1

/* Offset of the L4 checksum covering the pseudo header, or 0. */
static __always_inline __u32 l4_csum_off(const struct flow *f)
{
	switch (f->protocol) {
	case IPPROTO_TCP:
		return f->l4_off + offsetof(struct tcphdr, check);
	case IPPROTO_UDP:
		return f->l4_off + offsetof(struct udphdr, check);
	default:
		/* SCTP's CRC32c and ICMP's checksum skip the IP header. */
		return 0;
	}
}

/*
 * Rewrites the source or destination to addr:port and updates `f`.
 * Returns 0 or a negative drop reason. Every packet pointer is invalid
 * afterwards, since bpf_skb_store_bytes() may move the data.
 */
static __always_inline int nat_rewrite(struct __sk_buff *skb, struct flow *f,
				       int which, __be32 addr, __be16 port)
{
	__be32 old_addr = which == NAT_DEST ? f->daddr : f->saddr;
	__be16 old_port = which == NAT_DEST ? f->dport : f->sport;
	__u32 addr_off = which == NAT_DEST ? IP_DADDR_OFF : IP_SADDR_OFF;
	__u32 port_off = f->l4_off + (which == NAT_DEST ? 2 : 0);
	__u32 csum_off = l4_csum_off(f);
	__u64 mangled = f->protocol == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int change_port = has_ports_l4(f->protocol) && port != old_port;

	/* Changing an SCTP port would need the CRC32c of the whole packet. */
	if (change_port && f->protocol == IPPROTO_SCTP)
		return MOAT_DROP_SCTP_PORT_NAT;

	if (addr != old_addr) {
		if (csum_off &&
		    bpf_l4_csum_replace(skb, csum_off, old_addr, addr,
					BPF_F_PSEUDO_HDR | mangled | 4) < 0)
			return MOAT_DROP_NAT_FAILED;
		if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, addr, 4) < 0)
			return MOAT_DROP_NAT_FAILED;
		if (bpf_skb_store_bytes(skb, addr_off, &addr, 4, 0) < 0)
			return MOAT_DROP_NAT_FAILED;
	}
	if (change_port) {
		if (csum_off &&
		    bpf_l4_csum_replace(skb, csum_off, old_port, port,
					mangled | 2) < 0)
			return MOAT_DROP_NAT_FAILED;
		if (bpf_skb_store_bytes(skb, port_off, &port, 2, 0) < 0)
			return MOAT_DROP_NAT_FAILED;
	}

	if (which == NAT_DEST) {
		f->daddr = addr;
		f->dport = has_ports_l4(f->protocol) ? port : f->dport;
	} else {
		f->saddr = addr;
		f->sport = has_ports_l4(f->protocol) ? port : f->sport;
	}
	return 0;
}

#endif /* MOAT_NAT_H */
