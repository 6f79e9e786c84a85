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
	bpf_ringbuf_output(&moat_events, (void *)ev, sizeof(*ev), 0);
}

#endif /* MOAT_EVENTS_H */
