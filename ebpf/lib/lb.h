/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lb.h: service frontends and backend selection, by Maglev on the flow
 * hash or at random, as the frontend's flags choose.
 */
#ifndef MOAT_LB_H
#define MOAT_LB_H

#include "image.h"
#include "parse.h"

static __always_inline __u32 rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> ((-shift) & 31));
}

/*
 * Hash of the flow tuple that indexes the Maglev table: the Linux kernel's
 * jhash_3words(a, b, c, initval) with a = source address, b = destination
 * address, c = source port << 16 | destination port, all in host byte
 * order, and initval = protocol.
 */
static __always_inline __u32 flow_hash(const struct flow *f)
{
	__u32 init = 0xdeadbeef + (3 << 2) + f->protocol;
	__u32 a = bpf_ntohl(f->saddr) + init;
	__u32 b = bpf_ntohl(f->daddr) + init;
	__u32 c = (((__u32)bpf_ntohs(f->sport) << 16) | bpf_ntohs(f->dport)) + init;

	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

static __always_inline struct moat_service_value *
lb_frontend(const struct image *img, const struct flow *f)
{
	struct moat_service_key key = {
		.port = f->dport,
		.protocol = f->protocol,
		.family = MOAT_FAMILY_V4,
	};

	if (!has_ports_l4(f->protocol))
		return NULL;
	addr4_to(key.addr, f->daddr);
	return bpf_map_lookup_elem(img->services, &key);
}

/* Picks the backend of a new connection; NULL when there is none. */
static __always_inline struct moat_backend_value *
lb_select(const struct image *img, const struct moat_service_value *svc,
	  const struct flow *f)
{
	struct moat_maglev_value *slot;
	__u32 index, backend;

	if (!svc->backend_count)
		return NULL;
	if ((svc->flags & MOAT_SVC_F_MAGLEV) && svc->maglev_size) {
		index = svc->maglev_offset + flow_hash(f) % svc->maglev_size;
		slot = bpf_map_lookup_elem(img->maglev, &index);
		if (!slot)
			return NULL;
		backend = slot->backend;
	} else {
		backend = svc->backend_offset +
			  bpf_get_prandom_u32() % svc->backend_count;
	}
	return bpf_map_lookup_elem(img->backends, &backend);
}

#endif /* MOAT_LB_H */
