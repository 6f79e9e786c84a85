/* SPDX-License-Identifier: Apache-2.0 */
/* counters.h: per-CPU packet and byte counters per endpoint, rule and drop reason. */
#ifndef MOAT_COUNTERS_H
#define MOAT_COUNTERS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MOAT_CAP_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct moat_ep_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_ep_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MOAT_CAP_RULE_COUNTERS);
	__type(key, __u32);
	__type(value, struct moat_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MOAT_DROP_REASONS);
	__type(key, __u32);
	__type(value, struct moat_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_drop_stats SEC(".maps");

static __always_inline void count_endpoint(__u32 endpoint_id, int dropped,
					   __u32 len)
{
	struct moat_ep_counters *c, zero = {};

	c = bpf_map_lookup_elem(&moat_ep_stats, &endpoint_id);
	if (!c) {
		bpf_map_update_elem(&moat_ep_stats, &endpoint_id, &zero,
				    BPF_NOEXIST);
		c = bpf_map_lookup_elem(&moat_ep_stats, &endpoint_id);
		if (!c)
			return;
	}
	/* Per-CPU values: plain increments are race free. */
	if (dropped) {
		c->dropped_packets += 1;
		c->dropped_bytes += len;
	} else {
		c->forwarded_packets += 1;
		c->forwarded_bytes += len;
	}
}

static __always_inline void count_rule(__u32 rule_id, __u32 len)
{
	struct moat_counter *c, zero = {};

	if (rule_id == MOAT_RULE_NONE)
		return;
	c = bpf_map_lookup_elem(&moat_rule_stats, &rule_id);
	if (!c) {
		bpf_map_update_elem(&moat_rule_stats, &rule_id, &zero,
				    BPF_NOEXIST);
		c = bpf_map_lookup_elem(&moat_rule_stats, &rule_id);
		if (!c)
			return;
	}
	c->packets += 1;
	c->bytes += len;
}

static __always_inline void count_drop(int reason, __u32 len)
{
	__u32 index = -reason;
	struct moat_counter *c;

	c = bpf_map_lookup_elem(&moat_drop_stats, &index);
	if (!c)
		return;
	c->packets += 1;
	c->bytes += len;
}

#endif /* MOAT_COUNTERS_H */
