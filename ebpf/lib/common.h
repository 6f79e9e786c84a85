/* SPDX-License-Identifier: Apache-2.0 */
/* common.h: includes, return codes and small helpers of every program. */
#ifndef MOAT_COMMON_H
#define MOAT_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "moat_maps.h"
#include "datapath.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define NS_PER_SEC 1000000000ULL

/* Identity of a peer that is neither a pod nor a known CIDR. */
#define MOAT_SERVICE_NONE 0xffffffffU

static __always_inline __u32 addr4_of(const __u8 addr[16])
{
	__u32 v;

	__builtin_memcpy(&v, addr, sizeof(v));
	return v;
}

static __always_inline void addr4_to(__u8 addr[16], __be32 v)
{
	__builtin_memset(addr, 0, 16);
	__builtin_memcpy(addr, &v, sizeof(v));
}

/*
 * Sets the bits of skb->mark under `mask` to `bits`. The empty asm hides
 * the value from clang, which would otherwise turn the masked update into
 * a 16-bit store that the verifier rejects for context fields.
 */
static __always_inline void set_mark_bits(struct __sk_buff *skb, __u32 mask,
					  __u32 bits)
{
	__u32 mark = (skb->mark & ~mask) | bits;

	asm volatile("" : "+r"(mark));
	skb->mark = mark;
}

#endif /* MOAT_COMMON_H */
