/* SPDX-License-Identifier: Apache-2.0 */
/* parse.h: reads the IPv4 and L4 headers of a packet into a flow tuple. */
#ifndef MOAT_PARSE_H
#define MOAT_PARSE_H

#include <linux/tcp.h>
#include <linux/udp.h>

#include "common.h"

/*
 * ICMP echo header. linux/icmp.h is not used because it pulls in glibc
 * socket headers that do not build for the BPF target.
 */
struct icmp_echo_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

/* Outcome of parse_packet() besides a negative drop reason. */
#define PARSE_IPV4 0		/* an IPv4 flow, tuple filled */
#define PARSE_OTHER 1		/* not IP (ARP, LLDP...): pass unjudged */
#define PARSE_IPV6 2		/* IPv6 */

/* TCP flags copied into flow.tcp_flags. */
#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_ACK 0x10

struct flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;		/* ICMP echo: identifier */
	__be16 dport;		/* ICMP echo: identifier */
	__u8 protocol;
	__u8 tcp_flags;
	__u8 icmp_echo;		/* 1 when an ICMP echo request or reply */
	__u8 icmp_error;	/* 1 when an ICMP error quoting another packet */
	__u32 l4_off;		/* offset of the L4 header from skb->data */
};

/* Protocols whose header starts with source and destination port. */
static __always_inline int has_ports_l4(__u8 protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP ||
	       protocol == IPPROTO_SCTP;
}

/* Bytes of the L4 header the datapath reads or rewrites. */
static __always_inline __u32 l4_needed(__u8 protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_SCTP:
		return 12;	/* common header: ports, tag, CRC32c */
	case IPPROTO_ICMP:
		return sizeof(struct icmp_echo_hdr);
	default:
		return 0;
	}
}

/*
 * Makes sure `len` bytes are in the linear part of the packet. Pulling
 * invalidates every packet pointer, so callers reload data and data_end.
 */
static __always_inline int ensure_linear(struct __sk_buff *skb, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	/*
	 * Headers end before byte 128 (Ethernet 14, IPv4 up to 60, L4 up to
	 * 20); the bound lets the verifier accept the pointer addition.
	 */
	if (len > 128)
		return MOAT_DROP_MALFORMED;
	if (data + len <= data_end)
		return 0;
	if (len > skb->len)
		return MOAT_DROP_MALFORMED;
	if (bpf_skb_pull_data(skb, len) < 0)
		return MOAT_DROP_MALFORMED;
	return 0;
}

static __always_inline void parse_ports(struct flow *f, void *l4, void *data_end)
{
	if (f->protocol == IPPROTO_ICMP) {
		struct icmp_echo_hdr *icmp = l4;

		if ((void *)(icmp + 1) > data_end)
			return;
		if (icmp->type == ICMP_ECHO || icmp->type == ICMP_ECHOREPLY) {
			f->icmp_echo = 1;
			f->sport = icmp->id;
			f->dport = icmp->id;
		}
		/* Errors quote the packet that caused them (icmp.h). */
		if (icmp->type == ICMP_DEST_UNREACH ||
		    icmp->type == ICMP_TIME_EXCEEDED ||
		    icmp->type == ICMP_PARAMETERPROB)
			f->icmp_error = 1;
		return;
	}
	/* TCP, UDP and SCTP all start with source and destination port. */
	if (l4 + 4 > data_end)
		return;
	f->sport = *(__be16 *)l4;
	f->dport = *(__be16 *)(l4 + 2);
	if (f->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return;
		f->tcp_flags = ((__u8 *)tcp)[13];
	}
}

/* Fills `f` from the packet; returns PARSE_* or a negative drop reason. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct flow *f)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl, need;
	int err;

	if ((void *)(eth + 1) > data_end)
		return MOAT_DROP_MALFORMED;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return PARSE_IPV6;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_OTHER;

	err = ensure_linear(skb, sizeof(*eth) + sizeof(*ip));
	if (err)
		return err;
	/* Reload after a possible pull: the verifier forgets old bounds. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end)
		return MOAT_DROP_MALFORMED;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return MOAT_DROP_MALFORMED;
	if (ip->frag_off & bpf_htons(0x1fff))
		return MOAT_DROP_FRAGMENT;

	f->saddr = ip->saddr;
	f->daddr = ip->daddr;
	f->protocol = ip->protocol;
	f->l4_off = sizeof(*eth) + ihl;

	need = l4_needed(f->protocol);
	if (!need)
		return PARSE_IPV4;
	/* ihl is at most 60, so the sum is bounded for the verifier. */
	err = ensure_linear(skb, f->l4_off + need);
	if (err)
		return err;
	/*
	 * Derive the L4 pointer from the reloaded IP header: clang turns
	 * `data + f->l4_off` into 32-bit arithmetic on the packet pointer,
	 * which the verifier rejects.
	 */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end)
		return MOAT_DROP_MALFORMED;
	parse_ports(f, (void *)ip + ip->ihl * 4, data_end);
	return PARSE_IPV4;
}

#endif /* MOAT_PARSE_H */
