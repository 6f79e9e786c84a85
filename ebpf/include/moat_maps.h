/* SPDX-License-Identifier: Apache-2.0 */
/*
 * moat_maps.h: the one definition of every map that moat's datapath reads.
 *
 * The compiler (compiler/src/layout.rs) mirrors each struct with a
 * #[repr(C)] type and tests its size and every field offset, and the image
 * file stores map records in exactly these layouts (key, then value), so
 * loading an image is a copy. Change a struct only additively: append
 * fields, bump MOAT_LAYOUT_VERSION, and say what changed in the history
 * at the end of this file.
 *
 * Byte order: addresses and ports are in network byte order, as they
 * appear in packets. Every other integer is in host byte order.
 *
 * Addresses: one 16-byte field holds both families. An IPv4 address
 * sits in the first 4 bytes and the other 12 bytes are zero; `family`
 * says which one it is (MOAT_FAMILY_V4 or MOAT_FAMILY_V6).
 *
 * Lookup sequence of a packet from pod A to address B (the compiler's
 * mirror in compiler/src/mirror.rs performs exactly these steps):
 *   1. services: (B, dport, proto) -> service; pick a backend (Maglev or
 *      random) and rewrite B:dport to the backend. Policy applies to the
 *      translated packet only.
 *   2. ipcache: longest-prefix lookup of the peer address -> identity.
 *   3. endpoints: A -> egress_table; policy lookup (egress_table, identity
 *      of B, proto, dport). If B is a local endpoint: endpoints: B ->
 *      ingress_table; policy lookup (ingress_table, identity of A, proto,
 *      dport). The packet passes when every lookup made allows it.
 *   4. policy lookup (table, identity, proto, port) is at most two LPM
 *      lookups: first with the peer's identity, and on a miss with
 *      MOAT_ID_ANY. The second lookup always hits, because every table
 *      holds a default entry {table, MOAT_ID_ANY} of prefix length 64.
 *   Traffic to or from MOAT_ID_HOST (the node itself, for example kubelet
 *   probes) passes without a policy lookup.
 */
#ifndef MOAT_MAPS_H
#define MOAT_MAPS_H

#include <linux/types.h>

/* Version of the layouts below; the image header records it. */
#define MOAT_LAYOUT_VERSION 1

/* Map names, as the loader pins them and the BPF objects declare them. */
#define MOAT_MAP_ENDPOINTS "moat_endpoints"
#define MOAT_MAP_IPCACHE "moat_ipcache"
#define MOAT_MAP_POLICY "moat_policy"
#define MOAT_MAP_SERVICES "moat_services"
#define MOAT_MAP_BACKENDS "moat_backends"
#define MOAT_MAP_MAGLEV "moat_maglev"
#define MOAT_MAP_REVNAT "moat_revnat"

#define MOAT_FAMILY_V4 4
#define MOAT_FAMILY_V6 6

/*
 * Reserved security identities. Pod identities start at
 * MOAT_ID_FIRST_POD; CIDR identities (one per address-space atom outside
 * the cluster) start at MOAT_ID_FIRST_CIDR.
 */
#define MOAT_ID_ANY 0		/* policy key wildcard; never a real identity */
#define MOAT_ID_UNKNOWN 0	/* ipcache miss: treat as unknown */
#define MOAT_ID_HOST 1		/* the node itself */
#define MOAT_ID_WORLD 2		/* IPv4 addresses outside every referenced CIDR */
#define MOAT_ID_WORLD_V6 3	/* IPv6 addresses outside every referenced CIDR */
#define MOAT_ID_FIRST_POD 256
#define MOAT_ID_FIRST_CIDR (1U << 24)

/* Policy actions. */
#define MOAT_ACTION_ALLOW 1
#define MOAT_ACTION_DENY 2

/* Rule id of a verdict that no rule decided and no policy isolates. */
#define MOAT_RULE_NONE 0xffffffffU

/*
 * endpoints: BPF_MAP_TYPE_HASH, one entry per pod on this node.
 * Host-network pods are not endpoints.
 */
struct moat_endpoint_key {
	__u8 addr[16];		/* pod IP, network byte order */
	__u8 family;		/* MOAT_FAMILY_V4 or MOAT_FAMILY_V6 */
	__u8 pad[3];		/* zero */
};

/* moat_endpoint_value.flags */
#define MOAT_EP_F_INGRESS_OPEN (1U << 0)	/* ingress table allows all */
#define MOAT_EP_F_EGRESS_OPEN (1U << 1)		/* egress table allows all */

struct moat_endpoint_value {
	__u32 ifindex;		/* host-side veth; 0 in images, the loader fills it */
	__u32 endpoint_id;	/* index into the image's endpoint names */
	__u32 identity;		/* security identity of the pod */
	__u32 ingress_table;	/* policy table id for traffic to the pod */
	__u32 egress_table;	/* policy table id for traffic from the pod */
	__u32 flags;		/* MOAT_EP_F_* */
};

/*
 * ipcache: BPF_MAP_TYPE_LPM_TRIE with BPF_F_NO_PREALLOC.
 * prefixlen counts the bits after itself: 32 for family and pad, then the
 * address prefix (0..32 for IPv4, 0..128 for IPv6). Pods of the whole
 * cluster get a full-length entry with their identity; CIDR atoms get
 * their prefix; 0.0.0.0/0 and ::/0 map to the world identities.
 */
struct moat_ipcache_key {
	__u32 prefixlen;
	__u8 family;		/* MOAT_FAMILY_V4 or MOAT_FAMILY_V6 */
	__u8 pad[3];		/* zero */
	__u8 addr[16];		/* network byte order */
};

/* moat_ipcache_value.flags */
#define MOAT_IPC_F_POD (1U << 0)	/* the address is a pod of the cluster */
#define MOAT_IPC_F_LOCAL (1U << 1)	/* the pod runs on this node */

struct moat_ipcache_value {
	__u32 identity;
	__u32 flags;		/* MOAT_IPC_F_* */
};

/*
 * policy: BPF_MAP_TYPE_LPM_TRIE with BPF_F_NO_PREALLOC.
 * prefixlen counts the bits after itself: 32 for table_id, 32 for
 * identity, 8 for protocol, 8 for pad, then 0..16 bits of the port prefix.
 *   64 = every protocol and port for (table, identity)
 *   80 = every port of one protocol
 *   96 = one port
 * Port ranges are split into aligned prefixes, so a range costs at most
 * 30 entries and a single port one entry. Port entries of one (table,
 * identity, protocol) never overlap; they refine that identity's prefix-64
 * and prefix-80 entries, if any. An identity other than MOAT_ID_ANY has
 * entries only where needed: a lookup that misses them falls back to the
 * MOAT_ID_ANY entries, whose verdicts agree there.
 * The compiler evaluates TCP, UDP and SCTP only, so a packet of another
 * protocol (ICMP, for example) can only match a prefix-64 entry.
 */
struct moat_policy_key {
	__u32 prefixlen;
	__u32 table_id;		/* from moat_endpoint_value */
	__u32 identity;		/* peer identity, or MOAT_ID_ANY */
	__u8 protocol;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	__u8 pad;		/* zero */
	__be16 port;		/* destination port, network byte order */
};

/* moat_policy_value.flags */
#define MOAT_POL_F_NOT_ISOLATED (1U << 0)	/* no policy isolates: allowed */
#define MOAT_POL_F_NO_RULE (1U << 1)	/* isolated and no rule matched */

struct moat_policy_value {
	__u32 rule_id;		/* index into the image's provenance, or MOAT_RULE_NONE */
	__u8 action;		/* MOAT_ACTION_ALLOW or MOAT_ACTION_DENY */
	__u8 flags;		/* MOAT_POL_F_* */
	__u16 pad;		/* zero */
};

/*
 * services: BPF_MAP_TYPE_HASH, one entry per frontend (ClusterIP, port,
 * protocol). Headless services have no frontend. A frontend with
 * backend_count 0 has no ready backend: drop the packet.
 */
struct moat_service_key {
	__u8 addr[16];		/* ClusterIP, network byte order */
	__be16 port;		/* service port, network byte order */
	__u8 protocol;		/* IPPROTO_* */
	__u8 family;		/* MOAT_FAMILY_V4 or MOAT_FAMILY_V6 */
};

/* moat_service_value.flags */
#define MOAT_SVC_F_MAGLEV (1U << 0)	/* pick by maglev; else random */

struct moat_service_value {
	__u32 service_id;	/* also the revnat key */
	__u32 backend_offset;	/* index of the first backend in backends */
	__u32 backend_count;
	__u32 maglev_offset;	/* index of slot 0 in maglev */
	__u32 maglev_size;	/* prime; 0 when not in maglev mode */
	__u32 flags;		/* MOAT_SVC_F_* */
};

/*
 * backends: BPF_MAP_TYPE_ARRAY. The backends of one frontend occupy
 * backend_offset .. backend_offset + backend_count - 1.
 */
struct moat_backend_value {
	__u8 addr[16];		/* backend pod IP, network byte order */
	__be16 port;		/* target port, network byte order */
	__u8 family;		/* MOAT_FAMILY_V4 or MOAT_FAMILY_V6 */
	__u8 flags;		/* zero */
};

/*
 * maglev: BPF_MAP_TYPE_ARRAY of __u32. Slot maglev_offset + (hash % maglev_size)
 * contains the index into backends (already including backend_offset) of the
 * chosen backend. The hash is the flow's 5-tuple hash.
 */
struct moat_maglev_value {
	__u32 backend;		/* index into backends */
};

/*
 * revnat: BPF_MAP_TYPE_HASH keyed by service_id (__u32). Replies from a
 * backend get their source rewritten to this frontend.
 */
struct moat_revnat_value {
	__u8 addr[16];		/* ClusterIP, network byte order */
	__be16 port;		/* service port, network byte order */
	__u8 family;
	__u8 pad;		/* zero */
};

/*
 * History of MOAT_LAYOUT_VERSION:
 *   1: first layout.
 * Comment-only changes since: the policy map's overlap and fallback rules
 * and the note on other protocols.
 */

#endif /* MOAT_MAPS_H */
