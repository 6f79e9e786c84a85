/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct.h: connection tracking. One LRU hash holds an entry per connection,
 * keyed by its original direction after service translation; replies
 * find it through the reversed tuple. Entries expire after a lifetime
 * that depends on the protocol and, for TCP, on the flags seen.
 */
#ifndef MOAT_CT_H
#define MOAT_CT_H

#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MOAT_CAP_CT);
	__type(key, struct moat_ct_key);
	__type(value, struct moat_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_ct SEC(".maps");

static __always_inline void ct_key_of(struct moat_ct_key *key,
				      const struct flow *f, __u8 flags)
{
	key->saddr = f->saddr;
	key->daddr = f->daddr;
	key->sport = f->sport;
	key->dport = f->dport;
	key->protocol = f->protocol;
	key->flags = flags;
	key->pad = 0;
}

static __always_inline void ct_key_reverse(struct moat_ct_key *key)
{
	__be32 addr = key->saddr;
	__be16 port = key->sport;

	key->saddr = key->daddr;
	key->daddr = addr;
	key->sport = key->dport;
	key->dport = port;
}

static __always_inline int ct_expired(const struct moat_ct_entry *e, __u64 now)
{
	return e->expires_ns < now;
}

/*
 * Finds the live connection of a packet. *reply tells whether the packet
 * travels in the reply direction. An expired entry counts as missing.
 */
static __always_inline struct moat_ct_entry *
ct_lookup(const struct flow *f, int *reply, __u64 now)
{
	struct moat_ct_key key;
	struct moat_ct_entry *e;

	ct_key_of(&key, f, 0);
	e = bpf_map_lookup_elem(&moat_ct, &key);
	if (e && !ct_expired(e, now)) {
		*reply = 0;
		return e;
	}
	ct_key_reverse(&key);
	e = bpf_map_lookup_elem(&moat_ct, &key);
	if (e && !ct_expired(e, now)) {
		*reply = 1;
		return e;
	}
	return NULL;
}

static __always_inline __u64 ct_lifetime(const struct moat_ct_entry *e,
					 __u8 protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		if (e->state & (MOAT_CT_RST))
			return MOAT_CT_LIFETIME_TCP_CLOSE;
		if ((e->state & MOAT_CT_FIN_ORIG) && (e->state & MOAT_CT_FIN_REPLY))
			return MOAT_CT_LIFETIME_TCP_CLOSE;
		if (!(e->state & MOAT_CT_SEEN_REPLY))
			return MOAT_CT_LIFETIME_TCP_SYN;
		return MOAT_CT_LIFETIME_TCP;
	case IPPROTO_ICMP:
		return MOAT_CT_LIFETIME_ICMP;
	default:
		return MOAT_CT_LIFETIME_NONTCP;
	}
}

/*
 * Records a packet of the connection: TCP flags, counters and the new
 * deadline. Concurrent updates from two CPUs may lose a count, which only
 * makes the statistics approximate.
 */
static __always_inline void ct_update(struct moat_ct_entry *e,
				      const struct flow *f, int reply,
				      __u32 len, __u64 now)
{
	__u8 state = e->state;

	if (reply)
		state |= MOAT_CT_SEEN_REPLY;
	if (f->protocol == IPPROTO_TCP) {
		if (f->tcp_flags & TCP_F_RST)
			state |= MOAT_CT_RST;
		if (f->tcp_flags & TCP_F_FIN)
			state |= reply ? MOAT_CT_FIN_REPLY : MOAT_CT_FIN_ORIG;
	}
	if (state != e->state)
		e->state = state;
	e->packets += 1;
	e->bytes += len;
	e->expires_ns = now + ct_lifetime(e, f->protocol) * NS_PER_SEC;
}

/*
 * A TCP SYN without ACK on a closing connection starts a new connection
 * with the same tuple, which must be judged again.
 */
static __always_inline int ct_reopened(const struct moat_ct_entry *e,
				       const struct flow *f, int reply)
{
	if (f->protocol != IPPROTO_TCP || reply)
		return 0;
	if ((f->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) != TCP_F_SYN)
		return 0;
	return (e->state & (MOAT_CT_RST | MOAT_CT_FIN_ORIG | MOAT_CT_FIN_REPLY)) != 0;
}

/* Creates the entry of a new connection; returns it or NULL. */
static __always_inline struct moat_ct_entry *
ct_create(const struct moat_ct_key *key, const struct moat_ct_entry *init)
{
	if (bpf_map_update_elem(&moat_ct, key, init, BPF_ANY) < 0)
		return NULL;
	return bpf_map_lookup_elem(&moat_ct, key);
}

#endif /* MOAT_CT_H */
