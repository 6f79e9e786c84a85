/* SPDX-License-Identifier: Apache-2.0 */
/* events.h: the flow event ring buffer and its per-connection rate limit. */
#ifndef MOAT_EVENTS_H
#define MOAT_EVENTS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MOAT_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_events SEC(".maps");

/* Events sent (index 0) and lost to a full ring buffer (index 1). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_event_stats SEC(".maps");

/*
 * Decides whether a packet of a known connection sends an event: always
 * for a new or re-judged verdict (`changed`), and for drops at most once
 * per MOAT_EVENT_DROP_INTERVAL_NS. Updates the entry's event time.
 */
static __always_inline int event_due(struct moat_ct_entry *e, int changed,
				     __u64 now)
{
	if (!changed && (e->verdict != MOAT_VERDICT_DROPPED ||
			 now - e->last_event_ns < MOAT_EVENT_DROP_INTERVAL_NS))
		return 0;
	e->last_event_ns = now;
	return 1;
}

/* Copies `ev` into the ring buffer; a full buffer loses the event. */
static __always_inline void event_send(const struct moat_flow_event *ev)
{
	__u32 index = 0;
	__u64 *count;

	if (bpf_ringbuf_output(&moat_events, (void *)ev, sizeof(*ev), 0) < 0)
		index = 1;
	count = bpf_map_lookup_elem(&moat_event_stats, &index);
	if (count)
		*count += 1;
}

#endif /* MOAT_EVENTS_H */
