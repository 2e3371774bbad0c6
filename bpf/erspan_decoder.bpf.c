// SPDX-License-Identifier: GPL-2.0
/* The XDP mirror decoder for the collector interface: ERSPAN I/II/III, GRE 0x8949 (vendor
 * header), 0x6558, 0x0800 and 0x86DD over outer IPv4/IPv6 into flows and session counters.
 *
 * Semantics are the erspan library's (erspan/decoder.py, tunnel.py, layers.py), so the two
 * produce the same flow table: same key, IP-layer bytes from the inner IP header, the inner
 * 802.1Q tag over the ERSPAN VLAN field, ICMP type/code as ports, ports only on first
 * fragments. Whatever this path does not decode (malformed headers, outer fragments, frames
 * that are not mirror streams) goes to the stack with its reason counted; decoded copies are
 * dropped when mirror_config.drop says so.
 *
 * Concurrency: flows and sessions are shared LRU entries updated with atomic adds. The
 * session's sequence high-water mark advances by compare-and-swap, so loss stays exact when
 * one stream is spread over several CPUs: the arrival order is the order in which the swaps
 * succeed, and a number at or below the mark (late or repeated) never counts as lost.
 * Cost (bench/xdp_decode_cost.py): the common path is inline; the rare deeper walks (a second
 * VLAN tag and beyond, IPv6 extension headers) are global functions the verifier checks once,
 * and timestamps come from a timer-kept clock (10 ms ticks) instead of a helper per packet.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "erspan_decoder.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define GRE_ERSPAN 0x88BE
#define GRE_ERSPAN3 0x22EB
#define GRE_VENDOR 0x8949
#define GRE_BRIDGED 0x6558
#define GRE_C 0x8000
#define GRE_R 0x4000
#define GRE_K 0x2000
#define GRE_S 0x1000
#define GRE_VERSION 0x0007
#define ERSPAN3_FT_ETHERNET 0
#define ERSPAN3_FT_IP 2
#define IPPROTO_GRE_ 47
#define IPPROTO_UDPLITE_ 136
#define IPPROTO_ICMPV6_ 58
#define MAX_VLAN_TAGS 4
#define MAX_IPV6_EXT 8
#define MAX_OFFSET 0x3FFF /* no frame XDP sees without frags is longer */
#define SEQ_RETRIES 8
#define FRAG_LATER 1 /* not the first fragment */
#define FRAG_MORE 2
#define V3 __attribute__((target("cpu=v3"))) /* atomic fetch-or and compare-and-swap */

/* ip_walk()'s result, in the order of the MIRROR_OUTER_IP_* and MIRROR_INNER_IP_* reasons. */
enum ip_result { IP_OK, IP_TRUNCATED, IP_VERSION, IP_V4_HEADER_LENGTH, IP_V4_TOTAL_LENGTH,
		 IP_V6_EXT_TRUNCATED, IP_V6_EXT_CHAIN };

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* userspace sets it (max_flows) */
	__type(key, struct mirror_flow_key);
	__type(value, struct mirror_flow);
} mirror_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct mirror_session_key);
	__type(value, struct mirror_session);
} mirror_sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MIRROR_REASONS);
	__type(key, __u32); /* enum mirror_reason (an array key must be an int) */
	__type(value, __u64);
} mirror_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mirror_stats);
} mirror_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mirror_config);
} mirror_config SEC(".maps");

/* A clock the program reads with one load: a BPF timer stores bpf_ktime_get_ns() every
 * CLOCK_TICK_NS (100 wakeups a second), so no packet pays for a time helper; flow and session
 * timestamps are within a tick. The timer dies with the map, when the object is closed. */
#define CLOCK_TICK_NS 10000000
#define CLOCK_MONOTONIC_ 1
struct mirror_clock {
	__u64 now_ns;
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mirror_clock);
} mirror_clock SEC(".maps");

static int clock_tick(void *map, __u32 *key, struct mirror_clock *clock)
{
	clock->now_ns = bpf_ktime_get_ns();
	bpf_timer_start(&clock->timer, CLOCK_TICK_NS, 0);
	return 0;
}

/* The time now, give or take a tick; the first packet starts the clock. */
static __always_inline __u64 clock_now(void)
{
	__u32 zero = 0;
	struct mirror_clock *clock = bpf_map_lookup_elem(&mirror_clock, &zero);

	if (!clock)
		return bpf_ktime_get_ns();
	if (clock->now_ns)
		return clock->now_ns;
	if (bpf_timer_init(&clock->timer, &mirror_clock, CLOCK_MONOTONIC_) == 0) {
		bpf_timer_set_callback(&clock->timer, clock_tick);
		bpf_timer_start(&clock->timer, CLOCK_TICK_NS, 0);
	}
	return bpf_ktime_get_ns();
}

struct l2_meta {
	__u32 l3; /* offset of the payload after the tags */
	__u16 ethertype;
	__u16 vlan; /* outermost tag's VID, MIRROR_NO_ID when untagged */
};

struct ip_meta {
	__u32 l4; /* offset of the payload after any IPv6 extension headers */
	__u32 length; /* IP-layer bytes: IPv4 total length, IPv6 payload length + 40 */
	__u8 proto;
	__u8 dscp;
	__u8 frag; /* FRAG_LATER | FRAG_MORE */
	__u8 pad;
};

static __always_inline __u16 rd16(const __u8 *p)
{
	return __builtin_bswap16(*(const __u16 *)p); /* unaligned packet loads are fine */
}

static __always_inline __u32 rd32(const __u8 *p)
{
	return __builtin_bswap32(*(const __u32 *)p);
}

/* `len` bytes at `off` in the frame, or NULL when they are not all there. */
#define AT(ctx, off, len)                                                                 \
	({                                                                                \
		void *data_ = (void *)(long)(ctx)->data, *end_ = (void *)(long)(ctx)->data_end; \
		__u32 o_ = (off);                                                         \
		__u8 *p_ = NULL;                                                          \
		if (o_ <= MAX_OFFSET) {                                                   \
			__u8 *q_;                                                         \
			asm volatile("" : "+r"(o_)); /* keep the mask: the verifier needs it */ \
			q_ = data_ + (o_ & MAX_OFFSET);                                   \
			if ((void *)(q_ + (len)) <= end_)                                 \
				p_ = q_;                                                  \
		}                                                                         \
		p_;                                                                       \
	})

static __always_inline bool vlan_tpid(__u16 et)
{
	return et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200;
}

/* The tags after the first (at `off`, which holds a TPID), up to MAX_VLAN_TAGS in all: rare,
 * so a global function the verifier checks once. Returns MIRROR_OK or `cut` (the layer's
 * truncation reason); being global, it also puts enum mirror_reason in the BTF userspace reads. */
__noinline enum mirror_reason more_vlan_tags(struct xdp_md *ctx, __u32 off, struct l2_meta *l2,
					     enum mirror_reason cut)
{
	__u8 *p;

	if (!l2)
		return cut;
	for (int i = 1; i < MAX_VLAN_TAGS; i++) {
		if (!vlan_tpid(l2->ethertype))
			break;
		p = AT(ctx, off, 6);
		if (!p)
			return cut;
		l2->ethertype = rd16(p + 4);
		off += 4;
	}
	l2->l3 = off + 2;
	return MIRROR_OK;
}

/* An Ethernet header at `off` and up to 4 802.1Q/QinQ tags (vlan: the outermost one's VID). */
static __always_inline enum mirror_reason walk_l2(struct xdp_md *ctx, __u32 off, struct l2_meta *l2,
						  enum mirror_reason cut)
{
	__u8 *p = AT(ctx, off, 14);

	if (!p)
		return cut;
	l2->ethertype = rd16(p + 12);
	l2->vlan = MIRROR_NO_ID;
	l2->l3 = off + 14;
	if (!vlan_tpid(l2->ethertype))
		return MIRROR_OK;
	p = AT(ctx, off + 12, 6);
	if (!p)
		return cut;
	l2->vlan = rd16(p + 2) & 0x0FFF;
	l2->ethertype = rd16(p + 4);
	l2->l3 = off + 18;
	if (!vlan_tpid(l2->ethertype))
		return MIRROR_OK;
	return more_vlan_tags(ctx, off + 16, l2, cut);
}

static __always_inline bool ipv6_ext(__u8 nh)
{
	switch (nh) {
	case 0: case 43: case 44: case 51: case 60: case 135: case 139: case 140:
		return true;
	}
	return false;
}

/* IPv6 extension headers from `off` (next header `nh`): the rare case, checked once as a
 * global function. Returns ip_result; sets ip->proto, ip->l4 and fragment flags. */
__noinline int ipv6_ext_walk(struct xdp_md *ctx, __u32 off, __u32 nh, struct ip_meta *ip)
{
	__u32 len = ctx->data_end - ctx->data;
	__u8 *p;

	if (!ip)
		return IP_TRUNCATED;
	off &= MAX_OFFSET;
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		__u32 hdr_len;

		if (!ipv6_ext(nh))
			break;
		p = AT(ctx, off, 8); /* every extension header is at least 8 bytes */
		if (!p)
			return IP_V6_EXT_TRUNCATED;
		if (nh == 44) {
			__u16 word = rd16(p + 2);

			hdr_len = 8;
			ip->frag |= ((word & 0xFFF8) ? FRAG_LATER : 0) | ((word & 1) ? FRAG_MORE : 0);
		} else if (nh == 51) {
			hdr_len = ((__u32)p[1] + 2) * 4;
		} else {
			hdr_len = ((__u32)p[1] + 1) * 8;
		}
		if (off + hdr_len > len)
			return IP_V6_EXT_TRUNCATED;
		nh = p[0];
		off = (off + hdr_len) & MAX_OFFSET;
	}
	if (ipv6_ext(nh))
		return IP_V6_EXT_CHAIN;
	ip->proto = nh;
	ip->l4 = off;
	return IP_OK;
}

/* The IPv4 (v6 == 0) or IPv6 header at `off`; addresses into `addrs`. Returns ip_result. */
static __always_inline int ip_walk(struct xdp_md *ctx, __u32 off, bool v6, struct mirror_addrs *addrs,
				   struct ip_meta *ip)
{
	__u32 len = ctx->data_end - ctx->data;
	__u8 *p;

	if (!v6) {
		__u32 ihl, total;
		__u16 frag;

		p = AT(ctx, off, 20);
		if (!p)
			return IP_TRUNCATED;
		if (p[0] >> 4 != 4)
			return IP_VERSION;
		ihl = (p[0] & 0x0F) * 4;
		if (ihl < 20)
			return IP_V4_HEADER_LENGTH;
		if (off + ihl > len)
			return IP_TRUNCATED;
		total = rd16(p + 2);
		if (total < ihl)
			return IP_V4_TOTAL_LENGTH;
		__builtin_memset(addrs, 0, sizeof(*addrs));
		__builtin_memcpy(&addrs->src[12], p + 12, 4);
		__builtin_memcpy(&addrs->dst[12], p + 16, 4);
		frag = rd16(p + 6);
		ip->frag = ((frag & 0x1FFF) ? FRAG_LATER : 0) | ((frag & 0x2000) ? FRAG_MORE : 0);
		ip->proto = p[9];
		ip->dscp = p[1] >> 2;
		ip->length = total;
		ip->l4 = off + ihl;
		return IP_OK;
	}
	p = AT(ctx, off, 40);
	if (!p)
		return IP_TRUNCATED;
	if (p[0] >> 4 != 6)
		return IP_VERSION;
	__builtin_memcpy(addrs, p + 8, 32);
	ip->dscp = (rd16(p) >> 6) & 0x3F;
	ip->length = rd16(p + 4) + 40;
	ip->frag = 0;
	ip->proto = p[6];
	ip->l4 = off + 40;
	if (ipv6_ext(ip->proto))
		return ipv6_ext_walk(ctx, off + 40, ip->proto, ip);
	return IP_OK;
}

/* What one frame adds to its flow and session, filled in as the headers are read. */
struct frame {
	struct mirror_flow_key key;
	struct mirror_session_key session;
	struct ip_meta ip;
	struct l2_meta l2;
	__u32 seq;
	__u16 erspan_vlan;
	bool has_seq;
	bool in_session;
	bool truncated;
	__u8 tcp_flags;
};

/* Ports (or ICMP type and code) and TCP flags of the mirrored packet, as parse_ports in
 * erspan/layers.py: a transport header cut short leaves them out and marks truncation. */
static __always_inline void read_ports(struct xdp_md *ctx, struct frame *f)
{
	__u8 proto = f->ip.proto;
	__u32 need = 0;
	__u8 *p;

	if (f->ip.frag & FRAG_LATER)
		return;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	    proto == IPPROTO_UDPLITE_)
		need = 4;
	else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_)
		need = 2;
	if (need == 4 && (p = AT(ctx, f->ip.l4, 4))) {
		f->key.sport = rd16(p);
		f->key.dport = rd16(p + 2);
		f->key.has_ports = 1;
	} else if (need == 2 && (p = AT(ctx, f->ip.l4, 2))) {
		f->key.sport = p[0];
		f->key.dport = p[1];
		f->key.has_ports = 1;
	} else if (need) {
		f->truncated = true;
	}
	if (proto == IPPROTO_TCP && (p = AT(ctx, f->ip.l4, 14)))
		f->tcp_flags = p[13];
}

/* The mirrored packet at `off`: an Ethernet frame, or IP when `ethertype` names it. */
static __always_inline enum mirror_reason decode_inner(struct xdp_md *ctx, struct frame *f, __u32 off,
					__u16 ethertype)
{
	__u32 len = ctx->data_end - ctx->data;
	int r;

	f->key.vlan = f->erspan_vlan ? f->erspan_vlan : MIRROR_NO_ID;
	if (!ethertype) {
		if (walk_l2(ctx, off, &f->l2, MIRROR_INNER_L2_TRUNCATED) != MIRROR_OK)
			return MIRROR_INNER_L2_TRUNCATED;
		ethertype = f->l2.ethertype;
		off = f->l2.l3;
		if (f->l2.vlan != MIRROR_NO_ID)
			f->key.vlan = f->l2.vlan;
	}
	if (ethertype != ETH_P_IP && ethertype != ETH_P_IPV6)
		return MIRROR_INNER_NOT_IP;
	r = ip_walk(ctx, off, ethertype == ETH_P_IPV6, &f->key.addrs, &f->ip);
	if (r != IP_OK)
		return MIRROR_INNER_IP_TRUNCATED - 1 + r;
	f->key.version = ethertype == ETH_P_IPV6 ? 6 : 4;
	f->key.proto = f->ip.proto;
	if (len - (off & MAX_OFFSET) < f->ip.length)
		f->truncated = true;
	read_ports(ctx, f);
	return MIRROR_OK;
}

/* ERSPAN II/III word 0: session id, VLAN field, T bit. */
static __always_inline void erspan_word0(struct frame *f, __u32 w0)
{
	f->key.session_id = f->session.session_id = w0 & 0x3FF;
	f->erspan_vlan = (w0 >> 16) & 0x0FFF;
	f->truncated = (w0 & 0x400) != 0;
}

/* GRE at `gre` and the mirror header after it, then the mirrored packet. Sets
 * f->in_session once the stream (session key) is known. A global function: verified once,
 * and its return type puts enum mirror_reason in the object's BTF for userspace. */
static __always_inline enum mirror_reason decode_tunnel(struct xdp_md *ctx, struct frame *f, __u32 gre,
					    __u32 vendor_len)
{
	__u16 flags, proto, ethertype = 0;
	__u32 head, w0, w2, frame_type;
	__u8 *p = AT(ctx, gre, 4);

	if (!f || !p)
		return MIRROR_GRE_TRUNCATED;
	flags = rd16(p);
	proto = rd16(p + 2);
	if (proto != GRE_ERSPAN && proto != GRE_ERSPAN3 && proto != GRE_VENDOR &&
	    proto != GRE_BRIDGED && proto != ETH_P_IP && proto != ETH_P_IPV6)
		return MIRROR_GRE_NOT_MIRROR;
	if (flags & GRE_R)
		return MIRROR_GRE_ROUTING;
	if (flags & GRE_VERSION)
		return MIRROR_GRE_VERSION;
	/* 4 bytes each for C, K, S, without branches (one verifier path for every combination) */
	head = gre + 4 + ((flags >> 13) & 4) + ((flags >> 11) & 4) + ((flags >> 10) & 4);
	if (flags & GRE_S) {
		p = AT(ctx, head - 4, 4);
		if (!p)
			return MIRROR_GRE_TRUNCATED;
		f->seq = rd32(p);
		f->has_seq = true;
	} else if (!AT(ctx, gre, head - gre)) {
		return MIRROR_GRE_TRUNCATED;
	}
	f->session.gre_proto = proto;
	f->session.session_id = MIRROR_NO_ID;
	f->key.session_id = MIRROR_NO_ID;
	f->key.direction = MIRROR_NO_DIRECTION;
	switch (proto) {
	case GRE_ERSPAN:
		if (!(flags & GRE_S)) { /* Type I: the frame follows GRE */
			f->key.erspan_type = 1;
			break;
		}
		p = AT(ctx, head, 8);
		if (!p)
			return MIRROR_ERSPAN_TRUNCATED;
		w0 = rd32(p);
		if (w0 >> 28 != 1)
			return MIRROR_ERSPAN_VERSION;
		f->key.erspan_type = 2;
		erspan_word0(f, w0);
		head += 8;
		break;
	case GRE_ERSPAN3:
		p = AT(ctx, head, 12);
		if (!p)
			return MIRROR_ERSPAN_TRUNCATED;
		w0 = rd32(p);
		w2 = rd32(p + 8);
		head += 12;
		if (w2 & 1) { /* o: the platform sub-header follows */
			if (!AT(ctx, head, 8))
				return MIRROR_ERSPAN_TRUNCATED;
			head += 8;
		}
		if (w0 >> 28 != 2)
			return MIRROR_ERSPAN_VERSION;
		f->key.erspan_type = 3;
		f->key.direction = (w2 >> 3) & 1;
		erspan_word0(f, w0);
		frame_type = (w2 >> 10) & 0x1F;
		if (frame_type == ERSPAN3_FT_IP) {
			p = AT(ctx, head, 1);
			ethertype = p && (p[0] >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP;
		} else if (frame_type != ERSPAN3_FT_ETHERNET) {
			f->in_session = true;
			return MIRROR_ERSPAN_FRAME_TYPE;
		}
		break;
	case GRE_VENDOR:
		vendor_len &= MIRROR_VENDOR_HEADER_MAX;
		if (!AT(ctx, gre, head - gre + vendor_len))
			return MIRROR_VENDOR_HEADER_TRUNCATED;
		head += vendor_len;
		break;
	case ETH_P_IP:
	case ETH_P_IPV6:
		ethertype = proto;
		break;
	}
	f->in_session = true;
	return decode_inner(ctx, f, head, ethertype);
}

static __always_inline bool count_flow(struct frame *f, __u64 now, struct mirror_stats *stats)
{
	struct mirror_flow *v = bpf_map_lookup_elem(&mirror_flows, &f->key);

	if (!v) {
		struct mirror_flow fresh = {
			.packets = 1, .bytes = f->ip.length, .tcp_flags = f->tcp_flags,
			.first_seen_ns = now, .last_seen_ns = now, .outer = f->session.outer,
			.gre_proto = f->session.gre_proto, .outer_version = f->session.outer_version,
			.dscp = f->ip.dscp,
		};

		if (bpf_map_update_elem(&mirror_flows, &f->key, &fresh, BPF_NOEXIST) == 0) {
			stats->flow_inserts++;
			return true;
		}
		v = bpf_map_lookup_elem(&mirror_flows, &f->key); /* another CPU inserted it */
		if (!v)
			return false;
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, f->ip.length);
	if ((v->tcp_flags | f->tcp_flags) != v->tcp_flags)
		__sync_fetch_and_or(&v->tcp_flags, f->tcp_flags);
	v->last_seen_ns = now;
	v->dscp = f->ip.dscp;
	v->outer = f->session.outer;
	v->gre_proto = f->session.gre_proto;
	v->outer_version = f->session.outer_version;
	return true;
}

/* Advance the stream's sequence high-water mark to `seq`, counting the numbers skipped. */
static __always_inline void count_sequence(struct mirror_session *s, __u32 seq,
					   struct mirror_stats *stats)
{
	for (int i = 0; i < SEQ_RETRIES; i++) {
		__u64 old = *(volatile __u64 *)&s->seq;
		__s32 step = (__s32)(seq - (__u32)old);

		if ((old & MIRROR_SEQ_SEEN) && step <= 0)
			return;
		if (__sync_val_compare_and_swap(&s->seq, old, MIRROR_SEQ_SEEN | seq) == old) {
			if ((old & MIRROR_SEQ_SEEN) && step > 1)
				__sync_fetch_and_add(&s->lost, step - 1);
			return;
		}
	}
	stats->seq_contention++;
}

static __always_inline void count_session(struct frame *f, bool passed, __u64 now,
					  struct mirror_stats *stats)
{
	struct mirror_session *s = bpf_map_lookup_elem(&mirror_sessions, &f->session);

	if (!s) {
		struct mirror_session fresh = {
			.packets = 1, .passed = passed, .truncated = !passed && f->truncated,
			.seq = f->has_seq ? MIRROR_SEQ_SEEN | f->seq : 0,
			.first_seen_ns = now, .last_seen_ns = now,
		};

		if (bpf_map_update_elem(&mirror_sessions, &f->session, &fresh, BPF_NOEXIST) == 0) {
			stats->session_inserts++;
			return;
		}
		s = bpf_map_lookup_elem(&mirror_sessions, &f->session);
		if (!s) {
			stats->session_update_failed++;
			return;
		}
	}
	__sync_fetch_and_add(&s->packets, 1);
	if (passed)
		__sync_fetch_and_add(&s->passed, 1);
	else if (f->truncated)
		__sync_fetch_and_add(&s->truncated, 1);
	if (f->has_seq)
		count_sequence(s, f->seq, stats);
	s->last_seen_ns = now;
}

SEC("xdp")
V3 int tgs_mirror_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct mirror_config *cfg = bpf_map_lookup_elem(&mirror_config, &zero);
	struct mirror_stats *stats = bpf_map_lookup_elem(&mirror_stats, &zero);
	struct frame f = {};
	enum mirror_reason reason;
	bool passed;
	__u64 now, *count;
	int r;

	if (!cfg || !stats)
		return XDP_PASS;
	if (walk_l2(ctx, 0, &f.l2, MIRROR_OUTER_L2_TRUNCATED) != MIRROR_OK) {
		reason = MIRROR_OUTER_L2_TRUNCATED;
	} else if (f.l2.ethertype != ETH_P_IP && f.l2.ethertype != ETH_P_IPV6) {
		reason = MIRROR_NOT_MIRROR;
	} else {
		r = ip_walk(ctx, f.l2.l3, f.l2.ethertype == ETH_P_IPV6, &f.session.outer, &f.ip);
		if (r != IP_OK)
			reason = MIRROR_OUTER_IP_TRUNCATED - 1 + r;
		else if (f.ip.proto != IPPROTO_GRE_)
			reason = MIRROR_NOT_MIRROR;
		else if (f.ip.frag)
			reason = MIRROR_OUTER_FRAGMENT;
		else {
			f.session.outer_version = f.l2.ethertype == ETH_P_IPV6 ? 6 : 4;
			reason = decode_tunnel(ctx, &f, f.ip.l4, cfg->vendor_header_len);
		}
	}
	passed = reason != MIRROR_OK && reason != MIRROR_ERSPAN_FRAME_TYPE &&
		 reason != MIRROR_INNER_NOT_IP;
	if (f.in_session) {
		now = clock_now();
		if (reason == MIRROR_OK && !count_flow(&f, now, stats)) {
			reason = MIRROR_FLOW_UPDATE_FAILED;
			passed = true;
		}
		count_session(&f, passed, now, stats);
	}
	count = bpf_map_lookup_elem(&mirror_reasons, &reason);
	if (count)
		*count += 1;
	stats->passed += passed;
	return passed || !cfg->drop ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
