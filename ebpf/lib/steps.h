/* SPDX-License-Identifier: Apache-2.0 */
/*
 * steps.h: the steps that every packet of a connection takes, shared by
 * both hooks: per-packet state, service translation, policy judgement,
 * conntrack, events, counters and forwarding.
 */
#ifndef MOAT_STEPS_H
#define MOAT_STEPS_H

#include "counters.h"
#include "ct.h"
#include "events.h"
#include "lb.h"
#include "nat.h"
#include "policy.h"
#include "redirect.h"

/* State of one packet between the pipeline steps. */
struct packet {
	struct flow f;
	struct image img;
	__u64 now;
	__u32 len;
	__u32 ifindex;		/* interface the packet arrived on */
	__u8 hook;		/* MOAT_HOOK_* */
	__u8 event_flags;	/* MOAT_EVENT_F_* */
	int reply;		/* the packet travels in the reply direction */
	__be32 service_addr;	/* ClusterIP before translation, or 0 */
	__be16 service_port;
	__u32 service_id;
	int hairpin;		/* source rewritten to MOAT_HAIRPIN_ADDR */
};

/* Drops a packet that no connection judged, counting its reason. */
static __always_inline int drop_early(struct __sk_buff *skb, int reason)
{
	count_drop(reason, skb->len);
	return TC_ACT_SHOT;
}

/* Identity override for the node's own addresses, from the links map. */
static __always_inline void mark_host(struct judgement *j, __be32 saddr,
				      __be32 daddr)
{
	struct moat_link *link;

	link = link_of(saddr);
	if (link && (link->flags & MOAT_LINK_F_HOST))
		j->src_identity = MOAT_ID_HOST;
	link = link_of(daddr);
	if (link && (link->flags & MOAT_LINK_F_HOST))
		j->dst_identity = MOAT_ID_HOST;
}

/* Judges the original direction saddr -> daddr:dport of a connection. */
static __always_inline void judge_conn(const struct image *img, __be32 saddr,
				       __be32 daddr, __u8 protocol,
				       __be16 dport, struct judgement *j)
{
	struct moat_endpoint_value *src_ep, *dst_ep;

	/* A hairpin connection runs from the pod to itself. */
	if (saddr == bpf_htonl(MOAT_HAIRPIN_ADDR))
		saddr = daddr;
	src_ep = image_endpoint(img, saddr);
	dst_ep = image_endpoint(img, daddr);
	judge(img, src_ep, dst_ep, saddr, daddr, protocol, dport, j);
	mark_host(j, saddr, daddr);
	if ((j->src_identity == MOAT_ID_HOST || j->dst_identity == MOAT_ID_HOST)
	    && j->drop_reason) {
		/* The node itself is never subject to policy. */
		j->drop_reason = 0;
		j->rule_id = MOAT_RULE_NONE;
	}
}

static __always_inline void apply_judgement(struct moat_ct_entry *e,
					    const struct judgement *j,
					    __u32 generation)
{
	e->generation = generation;
	e->rule_id = j->rule_id;
	e->src_identity = j->src_identity;
	e->dst_identity = j->dst_identity;
	e->drop_reason = j->drop_reason;
	e->verdict = j->drop_reason ? MOAT_VERDICT_DROPPED :
				      MOAT_VERDICT_FORWARDED;
}

/*
 * Translates a packet to a ClusterIP:port into backend:port. The pinned
 * backend of a known flow wins over a new choice, so a connection keeps
 * its backend when the image changes. Returns 0 or a drop reason.
 * NOTE: the pin is not checked against a new image, so a flow keeps a
 * backend that the new image removed until the flow ends. When the new
 * image drops the whole service, its flows are no longer translated.
 */
static __always_inline int service_translate(struct __sk_buff *skb,
					     struct packet *p)
{
	struct moat_service_value *svc;
	struct moat_backend_value *backend;
	struct moat_ct_entry *pin, init = {};
	struct moat_ct_key key;
	__be32 addr;
	__be16 port;
	int err;

	/* Most packets go to no service: one lookup settles that. */
	svc = lb_frontend(&p->img, &p->f);
	if (!svc)
		return 0;
	ct_key_of(&key, &p->f, MOAT_CT_F_SERVICE);
	pin = bpf_map_lookup_elem(&moat_ct, &key);
	if (pin && !ct_expired(pin, p->now)) {
		addr = pin->nat_addr;
		port = pin->nat_port;
		p->service_id = pin->service_id;
	} else {
		backend = lb_select(&p->img, svc, &p->f);
		if (!backend)
			return MOAT_DROP_NO_BACKEND;
		addr = addr4_of(backend->addr);
		port = backend->port;
		p->service_id = svc->service_id;
		init.nat_addr = addr;
		init.nat_port = port;
		init.service_id = svc->service_id;
		init.generation = p->img.generation;
		init.expires_ns = p->now + MOAT_CT_LIFETIME_TCP_SYN * NS_PER_SEC;
		bpf_map_update_elem(&moat_ct, &key, &init, BPF_ANY);
	}
	p->service_addr = p->f.daddr;
	p->service_port = p->f.dport;
	p->event_flags |= MOAT_EVENT_F_SERVICE;
	err = nat_rewrite(skb, &p->f, NAT_DEST, addr, port);
	if (err || p->f.saddr != p->f.daddr)
		return err;
	p->hairpin = 1;
	return nat_rewrite(skb, &p->f, NAT_SOURCE, bpf_htonl(MOAT_HAIRPIN_ADDR),
			   p->f.sport);
}

/* Keeps the backend pin of a service flow alive as long as the flow. */
static __always_inline void service_touch(const struct packet *p,
					  const struct moat_ct_entry *e)
{
	struct moat_ct_entry *pin;
	struct moat_ct_key key = {
		/* The pin has the pod's own address, also for a hairpin. */
		.saddr = p->hairpin ? p->f.daddr : p->f.saddr,
		.daddr = p->service_addr,
		.sport = p->f.sport,
		.dport = p->service_port,
		.protocol = p->f.protocol,
		.flags = MOAT_CT_F_SERVICE,
	};

	if (!p->service_addr)
		return;
	pin = bpf_map_lookup_elem(&moat_ct, &key);
	if (pin)
		pin->expires_ns = e->expires_ns;
}

/* Creates and judges the conntrack entry of a new connection. */
static __always_inline struct moat_ct_entry *conn_new(struct packet *p)
{
	struct moat_ct_entry init = {}, *e;
	struct moat_ct_key key;
	struct judgement j;

	judge_conn(&p->img, p->f.saddr, p->f.daddr, p->f.protocol, p->f.dport,
		   &j);
	apply_judgement(&init, &j, p->img.generation);
	init.service_id = MOAT_SERVICE_NONE;
	if (p->service_addr) {
		init.nat_addr = p->service_addr;
		init.nat_port = p->service_port;
		init.service_id = p->service_id;
	}
	if (p->f.protocol == IPPROTO_TCP && (p->f.tcp_flags & TCP_F_SYN))
		init.state = MOAT_CT_SYN;
	ct_key_of(&key, &p->f, 0);
	e = ct_create(&key, &init);
	p->reply = 0;
	p->event_flags |= MOAT_EVENT_F_NEW;
	return e;
}

/*
 * Judges a known connection again under a new image generation, in its
 * original direction. `f` is a packet of the connection, travelling in
 * the reply direction when `reply` is set. Returns 1 when the verdict
 * changed.
 */
static __always_inline int conn_rejudge(struct packet *p, const struct flow *f,
					int reply, struct moat_ct_entry *e)
{
	__be32 saddr = reply ? f->daddr : f->saddr;
	__be32 daddr = reply ? f->saddr : f->daddr;
	__be16 dport = reply ? f->sport : f->dport;
	__u8 old = e->verdict;
	struct judgement j;

	judge_conn(&p->img, saddr, daddr, f->protocol, dport, &j);
	apply_judgement(e, &j, p->img.generation);
	p->event_flags |= MOAT_EVENT_F_REJUDGED;
	return e->verdict != old;
}

static __always_inline void send_event(const struct packet *p,
				       const struct moat_ct_entry *e)
{
	struct moat_flow_event ev = {
		.timestamp_ns = p->now,
		.protocol = p->f.protocol,
		.verdict = e->verdict,
		.hook = p->hook,
		.flags = p->event_flags | (p->reply ? MOAT_EVENT_F_REPLY : 0),
		.drop_reason = e->drop_reason,
		.src_identity = e->src_identity,
		.dst_identity = e->dst_identity,
		.rule_id = e->rule_id,
		.generation = e->generation,
		.ifindex = p->ifindex,
	};

	/* Events name the connection in its original direction. */
	ev.saddr = p->reply ? p->f.daddr : p->f.saddr;
	ev.daddr = p->reply ? p->f.saddr : p->f.daddr;
	ev.sport = p->reply ? p->f.dport : p->f.sport;
	ev.dport = p->reply ? p->f.sport : p->f.dport;
	/* A hairpin connection is named as the pod -> itself. */
	if (ev.saddr == bpf_htonl(MOAT_HAIRPIN_ADDR))
		ev.saddr = ev.daddr;
	if (e->service_id != MOAT_SERVICE_NONE) {
		ev.flags |= MOAT_EVENT_F_SERVICE;
		ev.service_addr = e->nat_addr;
		ev.service_port = e->nat_port;
	}
	event_send(&ev);
}

static __always_inline void count_packet(const struct packet *p,
					 const struct moat_ct_entry *e,
					 int dropped)
{
	struct moat_endpoint_value *ep;

	ep = image_endpoint(&p->img, p->f.saddr);
	if (ep)
		count_endpoint(ep->endpoint_id, dropped, p->len);
	ep = image_endpoint(&p->img, p->f.daddr);
	if (ep)
		count_endpoint(ep->endpoint_id, dropped, p->len);
	count_rule(e->rule_id, p->len);
	if (dropped)
		count_drop(e->drop_reason, p->len);
}

/*
 * Runs conntrack and policy for a parsed packet whose service translation
 * is done. Returns the conntrack entry, or NULL when the map is full
 * beyond what LRU eviction can free.
 */
static __always_inline struct moat_ct_entry *conn_judge(struct packet *p)
{
	struct moat_ct_entry *e;
	int changed = 0;

	e = ct_lookup(&p->f, &p->reply, p->now);
	if (e && ct_reopened(e, &p->f, p->reply))
		e = NULL;
	if (!e) {
		e = conn_new(p);
		if (!e)
			return NULL;
		changed = 1;
	} else if (e->generation != p->img.generation) {
		changed = conn_rejudge(p, &p->f, p->reply, e);
	}
	ct_update(e, &p->f, p->reply, p->len, p->now);
	if (!p->reply)
		service_touch(p, e);
	if (event_due(e, changed, p->now))
		send_event(p, e);
	return e;
}

/*
 * A packet leaving a pod must carry the address of that pod. A packet that
 * the to-pod hook judges never carries the hairpin address, since the
 * from-pod hook redirects hairpin packets past it. Policy would judge such
 * a packet as the pod to itself, so it counts as spoofed.
 */
static __always_inline int check_source(const struct packet *p)
{
	struct moat_link *link;

	if (p->hook != MOAT_HOOK_FROM_POD) {
		if (p->f.saddr == bpf_htonl(MOAT_HAIRPIN_ADDR))
			return MOAT_DROP_SPOOFED_SOURCE;
		return 0;
	}
	link = link_of(p->f.saddr);
	if (!link || link->ifindex != p->ifindex)
		return MOAT_DROP_SPOOFED_SOURCE;
	return 0;
}

/*
 * Hands a forwarded packet on. The from-pod hook sends it straight to a
 * local destination pod. Packets that reach the to-pod hook of another
 * veth carry MOAT_MARK_JUDGED, so that hook does not judge them twice.
 */
static __always_inline int forward(struct __sk_buff *skb,
				   const struct packet *p)
{
	struct moat_link *link;
	int ret;

	if (p->hook != MOAT_HOOK_FROM_POD)
		return TC_ACT_OK;
	link = link_of(p->f.daddr);
	if (!link || !link->ifindex || (link->flags & MOAT_LINK_F_HOST)) {
		set_mark_bits(skb, MOAT_MARK_MASK, MOAT_MARK_JUDGED);
		return TC_ACT_OK;
	}
	/* A peer redirect skips the to-pod hook, so it needs no mark. */
	if (!(link->flags & MOAT_LINK_F_MAC))
		set_mark_bits(skb, MOAT_MARK_MASK, MOAT_MARK_JUDGED);
	ret = redirect_to(skb, link);
	if (ret == TC_ACT_SHOT)
		count_drop(MOAT_DROP_REDIRECT_FAILED, p->len);
	return ret;
}

#endif /* MOAT_STEPS_H */
