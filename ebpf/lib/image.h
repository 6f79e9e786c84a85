/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image.h: the image tables of moat_maps.h, each held twice as the two
 * slots of an ARRAY_OF_MAPS, and the active entry that picks the slot.
 * A packet reads the active entry once (image_open) and passes the
 * resulting struct image to every lookup, so all its lookups use one
 * generation even while the loader swaps images.
 */
#ifndef MOAT_IMAGE_H
#define MOAT_IMAGE_H

#include "common.h"

/*
 * Outer map of one image table: two slots, inner layout from moat_maps.h.
 * The inner template gives key_size and value_size rather than __type():
 * clang 14 emits the key and value structs of a nested map definition as
 * BTF forward declarations, which aya 0.14 cannot size.
 */
#define MOAT_IMAGE_TABLE(_name, _type, _key, _value, _cap, _flags)	\
	struct {							\
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);		\
		__uint(max_entries, 2);					\
		__type(key, __u32);					\
		__uint(pinning, LIBBPF_PIN_BY_NAME);			\
		__array(values, struct {				\
			__uint(type, _type);				\
			__uint(max_entries, _cap);			\
			__uint(key_size, sizeof(_key));			\
			__uint(value_size, sizeof(_value));		\
			__uint(map_flags, _flags);			\
		});							\
	} _name SEC(".maps")

MOAT_IMAGE_TABLE(moat_endpoints, BPF_MAP_TYPE_HASH, struct moat_endpoint_key,
		 struct moat_endpoint_value, MOAT_CAP_ENDPOINTS, 0);
MOAT_IMAGE_TABLE(moat_ipcache, BPF_MAP_TYPE_LPM_TRIE, struct moat_ipcache_key,
		 struct moat_ipcache_value, MOAT_CAP_IPCACHE,
		 BPF_F_NO_PREALLOC);
MOAT_IMAGE_TABLE(moat_policy, BPF_MAP_TYPE_LPM_TRIE, struct moat_policy_key,
		 struct moat_policy_value, MOAT_CAP_POLICY, BPF_F_NO_PREALLOC);
MOAT_IMAGE_TABLE(moat_services, BPF_MAP_TYPE_HASH, struct moat_service_key,
		 struct moat_service_value, MOAT_CAP_SERVICES, 0);
/*
 * Arrays are preallocated, so their inner maps are sized to the image:
 * BPF_F_INNER_MAP lets an inner map's max_entries differ from this
 * template, and the kernel then checks array indexes at run time.
 */
MOAT_IMAGE_TABLE(moat_backends, BPF_MAP_TYPE_ARRAY, __u32,
		 struct moat_backend_value, MOAT_CAP_BACKENDS, BPF_F_INNER_MAP);
MOAT_IMAGE_TABLE(moat_maglev, BPF_MAP_TYPE_ARRAY, __u32,
		 struct moat_maglev_value, MOAT_CAP_MAGLEV, BPF_F_INNER_MAP);
MOAT_IMAGE_TABLE(moat_revnat, BPF_MAP_TYPE_HASH, __u32,
		 struct moat_revnat_value, MOAT_CAP_REVNAT, 0);

/*
 * A hash map, not an array: a hash update publishes a new element in one
 * pointer store, so a reader sees the old or the new entry, never a mix.
 * Without preallocation an old element is freed only after every reader
 * is done with it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct moat_active);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_active SEC(".maps");

/* The inner maps of one generation, looked up once per packet. */
struct image {
	void *endpoints;
	void *ipcache;
	void *policy;
	void *services;
	void *backends;
	void *maglev;
	void *revnat;
	__u32 generation;
};

static __always_inline int image_lookup_slot(struct image *img, __u32 slot)
{
	img->endpoints = bpf_map_lookup_elem(&moat_endpoints, &slot);
	img->ipcache = bpf_map_lookup_elem(&moat_ipcache, &slot);
	img->policy = bpf_map_lookup_elem(&moat_policy, &slot);
	img->services = bpf_map_lookup_elem(&moat_services, &slot);
	img->backends = bpf_map_lookup_elem(&moat_backends, &slot);
	img->maglev = bpf_map_lookup_elem(&moat_maglev, &slot);
	img->revnat = bpf_map_lookup_elem(&moat_revnat, &slot);
	if (!img->endpoints || !img->ipcache || !img->policy ||
	    !img->services || !img->backends || !img->maglev || !img->revnat)
		return MOAT_DROP_IMAGE_INCOMPLETE;
	return 0;
}

/*
 * Opens the active generation; returns 0 or a negative drop reason. The
 * active entry is looked up again after the table lookups: if a swap
 * happened in between, the loader may already be refilling the old slot,
 * so the lookups are repeated once on the new slot. The loader swaps at
 * most once per image load, which takes far longer than these lookups.
 */
static __always_inline int image_open(struct image *img)
{
	struct moat_active *active;
	__u32 zero = 0, generation;
	int err;

	active = bpf_map_lookup_elem(&moat_active, &zero);
	if (!active || !active->generation)
		return MOAT_DROP_NO_IMAGE;
	generation = active->generation;
	err = image_lookup_slot(img, active->slot & 1);
	if (err)
		return err;

	active = bpf_map_lookup_elem(&moat_active, &zero);
	if (!active || !active->generation)
		return MOAT_DROP_NO_IMAGE;
	if (active->generation != generation) {
		generation = active->generation;
		err = image_lookup_slot(img, active->slot & 1);
		if (err)
			return err;
	}
	img->generation = generation;
	return 0;
}

static __always_inline struct moat_endpoint_value *
image_endpoint(const struct image *img, __be32 addr)
{
	struct moat_endpoint_key key = { .family = MOAT_FAMILY_V4 };

	addr4_to(key.addr, addr);
	return bpf_map_lookup_elem(img->endpoints, &key);
}

/* Security identity of an IPv4 address; MOAT_ID_UNKNOWN on a miss. */
static __always_inline __u32 image_identity(const struct image *img,
					    __be32 addr)
{
	struct moat_ipcache_key key = {
		.prefixlen = 32 + 32,
		.family = MOAT_FAMILY_V4,
	};
	struct moat_ipcache_value *v;

	addr4_to(key.addr, addr);
	v = bpf_map_lookup_elem(img->ipcache, &key);
	return v ? v->identity : MOAT_ID_UNKNOWN;
}

#endif /* MOAT_IMAGE_H */
