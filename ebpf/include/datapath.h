/* SPDX-License-Identifier: Apache-2.0 */
/*
 * datapath.h: layouts of the datapath's own state, which the loader reads
 * and writes but images never contain: the active image slot, conntrack,
 * endpoint links, flow events and counters. The loader mirrors each struct
 * with a #[repr(C)] type (loader/src/layout.rs) whose size and offsets a
 * test checks. Image tables are defined in moat_maps.h.
 *
 * Byte order as in moat_maps.h: addresses and ports in network order,
 * every other integer in host order.
 */
#ifndef MOAT_DATAPATH_H
#define MOAT_DATAPATH_H

#include <linux/types.h>

/* Map names of the datapath state, pinned under the pin directory. */
#define MOAT_MAP_ACTIVE "moat_active"
#define MOAT_MAP_CT "moat_ct"
#define MOAT_MAP_LINKS "moat_links"
#define MOAT_MAP_EVENTS "moat_events"
#define MOAT_MAP_EVENT_STATS "moat_event_stats"
#define MOAT_MAP_EP_STATS "moat_ep_stats"
#define MOAT_MAP_RULE_STATS "moat_rule_stats"
#define MOAT_MAP_DROP_STATS "moat_drop_stats"

/*
 * Capacity of each image table, per generation. The loader rejects an
 * image with more records than these before it changes any map. The
 * array tables (backends, maglev) are allocated at the image's size, up
 * to these bounds. LPM tables allocate entries on demand, and hash tables
 * preallocate their capacity.
 */
#define MOAT_CAP_ENDPOINTS 16384
#define MOAT_CAP_IPCACHE 65536
#define MOAT_CAP_POLICY 262144
#define MOAT_CAP_SERVICES 16384
#define MOAT_CAP_BACKENDS 65536
#define MOAT_CAP_MAGLEV 4194304
#define MOAT_CAP_REVNAT 16384

/* Capacity of the datapath state. */
#define MOAT_CAP_CT 262144
#define MOAT_CAP_LINKS 16384
#define MOAT_CAP_RULE_COUNTERS 65536
#define MOAT_EVENTS_BYTES (1U << 20)
#define MOAT_DROP_REASONS 32

/*
 * Drop reasons, negative as in events; drop_stats is indexed by
 * the negated reason. New reasons are appended.
 */
enum moat_drop_reason {
	MOAT_DROP_NONE = 0,
	MOAT_DROP_POLICY_EGRESS = -1,	/* egress policy of the source */
	MOAT_DROP_POLICY_INGRESS = -2,	/* ingress policy of the destination */
	MOAT_DROP_MALFORMED = -3,	/* truncated or invalid header */
	MOAT_DROP_NO_BACKEND = -4,	/* service frontend without backend */
	MOAT_DROP_NO_IMAGE = -5,	/* no image loaded yet */
	MOAT_DROP_IPV6 = -6,		/* IPv6 is not enforced yet */
	MOAT_DROP_FRAGMENT = -7,	/* non-first IPv4 fragment */
	MOAT_DROP_NAT_FAILED = -8,	/* packet rewrite failed */
	MOAT_DROP_SCTP_PORT_NAT = -9,	/* SCTP port change needs a CRC32c */
	MOAT_DROP_SPOOFED_SOURCE = -10,	/* source address of another pod */
	MOAT_DROP_REDIRECT_FAILED = -11,	/* the redirect helper failed */
	MOAT_DROP_IMAGE_INCOMPLETE = -12,	/* an image table is missing */
	MOAT_DROP_CT_FAILED = -13,	/* conntrack entry not created */
	MOAT_DROP_ICMP_UNRELATED = -14,	/* ICMP error of no known connection */
};

/* Verdict of a flow event. */
#define MOAT_VERDICT_FORWARDED 1
#define MOAT_VERDICT_DROPPED 2

/*
 * active: BPF_MAP_TYPE_HASH (no prealloc), key 0. Every image table exists
 * twice, as slots 0 and 1 of an ARRAY_OF_MAPS. A packet reads this entry
 * once and uses one slot for every lookup. The loader fills
 * the inactive slot, then writes this entry in one update.
 */
struct moat_active {
	__u32 slot;		/* 0 or 1 */
	__u32 generation;	/* counts swaps; 0 = no image loaded */
	__u64 image_generation;	/* generation in the image header */
	__u8 image_hash[32];	/* content hash from the image header */
};

/*
 * ct: BPF_MAP_TYPE_LRU_HASH. A connection has one entry keyed by its
 * first packet after service translation (client -> backend); replies
 * find it with the reversed tuple. A service flow has a second entry
 * with MOAT_CT_F_SERVICE keyed by the tuple before translation, which
 * pins the chosen backend.
 * ICMP echo uses the identifier as both ports.
 */
#define MOAT_CT_F_SERVICE (1U << 0)

struct moat_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 flags;		/* MOAT_CT_F_* */
	__u16 pad;		/* zero */
};

/* moat_ct_entry.tcp_flags: TCP flags seen per direction. */
#define MOAT_CT_SEEN_REPLY (1U << 0)	/* a reply was seen */
#define MOAT_CT_FIN_ORIG (1U << 1)
#define MOAT_CT_FIN_REPLY (1U << 2)
#define MOAT_CT_RST (1U << 3)
#define MOAT_CT_SYN (1U << 4)		/* opened by a SYN */

struct moat_ct_entry {
	__u64 expires_ns;	/* bpf_ktime_get_ns() deadline */
	__u64 last_event_ns;	/* time of the last event of this flow */
	__u64 packets;		/* both directions */
	__u64 bytes;
	__u32 generation;	/* image generation of the verdict */
	__u32 rule_id;		/* deciding rule or MOAT_RULE_NONE */
	__u32 src_identity;
	__u32 dst_identity;
	__be32 nat_addr;	/* service entry: backend; else ClusterIP */
	__be16 nat_port;	/* service entry: backend port; else service port */
	__u8 verdict;		/* MOAT_VERDICT_* */
	__u8 state;		/* MOAT_CT_* flags above */
	__s32 drop_reason;	/* last drop reason, 0 when forwarded */
	__u32 service_id;	/* revnat key, or 0xffffffff without service */
};

/* Connection lifetimes after the last packet, in seconds. */
#define MOAT_CT_LIFETIME_TCP 21600
#define MOAT_CT_LIFETIME_TCP_SYN 60
#define MOAT_CT_LIFETIME_TCP_CLOSE 10
#define MOAT_CT_LIFETIME_NONTCP 60
#define MOAT_CT_LIFETIME_ICMP 30

/* Minimum gap between two drop events of one connection. */
#define MOAT_EVENT_DROP_INTERVAL_NS 1000000000ULL

/*
 * links: BPF_MAP_TYPE_HASH, pod IPv4 address -> host-side veth. The
 * loader writes it when it attaches to a veth, and marks the node's own
 * addresses with MOAT_LINK_F_HOST (ifindex 0). With MOAT_LINK_F_MAC the
 * program rewrites the Ethernet header and uses bpf_redirect_peer();
 * without it, bpf_redirect_neigh() resolves the pod's MAC address.
 */
#define MOAT_LINK_F_MAC (1U << 0)
/* The address belongs to the node itself: identity MOAT_ID_HOST. */
#define MOAT_LINK_F_HOST (1U << 1)

struct moat_link {
	__u32 ifindex;		/* host-side veth in the node namespace */
	__u32 flags;		/* MOAT_LINK_F_* */
	__u8 pod_mac[6];	/* MAC of the pod-side veth */
	__u8 host_mac[6];	/* MAC of the host-side veth */
};

/*
 * events: BPF_MAP_TYPE_RINGBUF of struct moat_flow_event. A connection
 * sends an event when it is first judged, when a re-judgement changes its
 * verdict, and for drops at most once per MOAT_EVENT_DROP_INTERVAL_NS.
 */
#define MOAT_EVENT_F_NEW (1U << 0)	/* first packet of the connection */
#define MOAT_EVENT_F_REJUDGED (1U << 1)	/* new image generation */
#define MOAT_EVENT_F_REPLY (1U << 2)	/* packet of the reply direction */
#define MOAT_EVENT_F_SERVICE (1U << 3)	/* original destination was a service */

struct moat_flow_event {
	__u64 timestamp_ns;	/* bpf_ktime_get_ns() */
	__be32 saddr;		/* original direction, after translation */
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 verdict;		/* MOAT_VERDICT_* */
	__u8 hook;		/* MOAT_HOOK_* */
	__u8 flags;		/* MOAT_EVENT_F_* */
	__s32 drop_reason;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 generation;
	__u32 ifindex;		/* interface the packet arrived on */
	__be32 service_addr;	/* ClusterIP, with MOAT_EVENT_F_SERVICE */
	__be16 service_port;
	__u16 pad;
};

#define MOAT_HOOK_FROM_POD 1	/* tcx ingress of the host-side veth */
#define MOAT_HOOK_TO_POD 2	/* tcx egress of the host-side veth */

/*
 * event_stats: BPF_MAP_TYPE_PERCPU_ARRAY of __u64: events sent (index 0)
 * and events lost because the ring buffer was full (index 1).
 */

/* ep_stats: BPF_MAP_TYPE_PERCPU_HASH keyed by endpoint_id (__u32). */
struct moat_ep_counters {
	__u64 forwarded_packets;
	__u64 forwarded_bytes;
	__u64 dropped_packets;
	__u64 dropped_bytes;
};

/*
 * rule_stats: BPF_MAP_TYPE_PERCPU_HASH keyed by rule_id (__u32).
 * drop_stats: BPF_MAP_TYPE_PERCPU_ARRAY indexed by -drop_reason.
 */
struct moat_counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * Hairpin: a pod that reaches its own ClusterIP and gets itself as the
 * backend would see a packet from its own address, and its reply would
 * stay on its loopback. The from-pod program therefore also rewrites the
 * source of such a packet to this address (host order, 169.254.0.1). The
 * pod routes replies to it through its gateway, so they pass the
 * from-pod program, which restores ClusterIP:port and the pod's address.
 * RFC 3927 reserves 169.254.0.0/24, so no host configures it by itself,
 * and the sandbox's gateway 169.254.1.1 lies outside it. Policy judges a
 * hairpin connection as pod -> itself.
 */
#define MOAT_HAIRPIN_ADDR 0xa9fe0001U

/* Mark bit on packets that the from-pod program already judged. */
#define MOAT_MARK_JUDGED 0x4d4f0000U
#define MOAT_MARK_MASK 0xffff0000U

#endif /* MOAT_DATAPATH_H */
