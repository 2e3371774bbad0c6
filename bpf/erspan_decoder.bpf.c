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
 * Concurrency: flows (an LRU hash) and sessions (a set-associative array, see
 * erspan_decoder.h) are shared by all CPUs and counted with atomic adds (without fetch, which
 * every kernel has). The session's sequence high-water mark only ever advances, in one step
 * per packet, so loss stays exact when one stream is spread over several CPUs: a number at or
 * below the mark (late or repeated) never counts as lost. TCP flags are kept as one byte per
 * flag, each set by a plain store, so their OR needs no atomic either.
 * Cost (bench/xdp_decode_cost.py): one hash lookup per frame (the flow); the session is an
 * array slot found by a hash computed here, a hash map lookup saved (~30 ns). The common path
 * is inline; the unusual ones (ISL, a TTag or a second tag, IPv6 extension headers) are global
 * functions taking only their context and scalars, which the verifier checks once.
 *
 * Kernels: built twice from this file (bpf/Makefile), the loader picking by what the running
 * kernel has (sonic_agent/mirror/xdp.py). erspan_decoder.bpf.o needs BPF timers (5.15+): the
 * clock is timer-kept (no time helper per packet) and the mark advances by compare-and-swap.
 * erspan_decoder_5_10.bpf.o (MIRROR_KERNEL_5_10) uses only what 5.10 has: the clock is
 * bpf_ktime_get_ns per frame and the mark advances under the set's lock, about 80 ns more
 * per frame on this machine's VM (the bench prints both).
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include "erspan_decoder.h"
#include "erspan_decoder_parse.h"

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
#define SEQ_TAG_SHIFT 33 /* mirror_session.seq: above MIRROR_SEQ_SEEN, the slot's claim number */
#define SEQ_TAG_BITS (~0ULL << SEQ_TAG_SHIFT)
#define barrier() asm volatile("" ::: "memory")
#ifdef MIRROR_KERNEL_5_10
#define PROGRAM_ISA
#else
#define SEQ_RETRIES 8
#define PROGRAM_ISA __attribute__((target("cpu=v3"))) /* compare-and-swap */
#endif

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* userspace sets it (max_flows) */
	__type(key, struct mirror_flow_key);
	__type(value, struct mirror_flow);
} mirror_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096); /* userspace sets it: session_sets * MIRROR_SESSION_WAYS */
	__type(key, __u32);
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

#ifdef MIRROR_KERNEL_5_10
static __always_inline __u64 clock_now(void)
{
	return bpf_ktime_get_ns();
}
#else
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
#endif

/* What one frame adds to its flow and session, filled in as the headers are read. */
struct frame {
	struct mirror_flow_key key;
	struct mirror_session_key session;
	struct ip_meta ip;
	struct l2_meta l2;
	__u32 seq;
	__u32 port_index;
	__u16 erspan_vlan;
	__u16 inner; /* where the mirrored frame (or packet, when inner_ip) starts */
	bool inner_ip;
	bool has_port_index;
	bool has_seq;
	bool in_session;
	bool truncated;
	__u8 tcp_flags;
};

/* The reason of a failed IP walk (enum ip_result, in the order of the reasons), outer or
 * inner. A global function, on the error path only; its return type puts enum mirror_reason
 * in the object's BTF, where userspace reads the reason names. */
__noinline enum mirror_reason ip_reason(int result, bool inner)
{
	return (inner ? MIRROR_INNER_IP_TRUNCATED : MIRROR_OUTER_IP_TRUNCATED) - 1 + result;
}

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
	    proto == IPPROTO_UDPLITE)
		need = 4;
	else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
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
		if (f->l2.vlan != NO_VLAN)
			f->key.vlan = f->l2.vlan;
	}
	if (ethertype != ETH_P_IP && ethertype != ETH_P_IPV6)
		return MIRROR_INNER_NOT_IP;
	r = ip_walk(ctx, off, ethertype == ETH_P_IPV6, &f->key.addrs, &f->ip);
	if (r != IP_OK)
		return ip_reason(r, true);
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

/* The source port index in an ERSPAN III platform sub-header, by platform id (its top 6
 * bits), as port_index in erspan/tunnel.py. */
static __always_inline void platform_port(struct frame *f, __u32 sub, __u32 sub2)
{
	f->has_port_index = true;
	switch (sub >> 26) {
	case 3:
		f->port_index = sub & 0x3FFF;
		break;
	case 1:
		f->port_index = sub2;
		break;
	case 5: case 6:
		f->port_index = sub & 0xFFFF;
		break;
	case 0: case 7:
		f->port_index = sub & 0xFFFFF;
		break;
	default:
		f->has_port_index = false;
	}
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
		f->port_index = rd32(p + 4) & 0xFFFFF;
		f->has_port_index = true;
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
			p = AT(ctx, head, 8);
			if (!p)
				return MIRROR_ERSPAN_TRUNCATED;
			platform_port(f, rd32(p), rd32(p + 4));
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
	f->inner = head;
	f->inner_ip = ethertype != 0;
	return decode_inner(ctx, f, head, ethertype);
}

/* TCP flag bit i to byte i of a u64, the layout of mirror_flow.tcp_flag_bytes (the even and
 * odd bits multiplied apart, so no product carries into the next byte). */
static __always_inline __u64 flag_bytes(__u8 flags)
{
	const __u64 spread = 0x0002040810204081ULL;

	return ((flags & 0x55) * spread | (flags & 0xAA) * spread) & 0x0101010101010101ULL;
}

static __always_inline bool count_flow(struct frame *f, __u64 now, struct mirror_stats *stats)
{
	struct mirror_flow *v = bpf_map_lookup_elem(&mirror_flows, &f->key);
	__u64 flags = flag_bytes(f->tcp_flags);

	if (!v) {
		struct mirror_flow fresh = {
			.packets = 1, .bytes = f->ip.length, .tcp_flag_bytes = flags,
			.first_seen_ns = now, .last_seen_ns = now, .outer = f->session.outer,
			.gre_proto = f->session.gre_proto, .outer_version = f->session.outer_version,
			.dscp = f->ip.dscp, .port_index = f->port_index, .has_port_index = f->has_port_index,
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
	if ((*(volatile __u64 *)&v->tcp_flag_bytes & flags) != flags) {
		/* a flag new to the flow: its byte set by a store, which races with nothing */
#pragma unroll
		for (int i = 0; i < 8; i++)
			if (f->tcp_flags & (1 << i))
				((volatile __u8 *)&v->tcp_flag_bytes)[i] = 1;
	}
	v->last_seen_ns = now;
	v->dscp = f->ip.dscp;
	v->port_index = f->port_index;
	v->has_port_index = f->has_port_index;
	return true;
}

/* How far `seq` moves the stream's mark `old`, 0 when it does not: the mark is not this
 * packet's to move once its slot was re-claimed for another stream (`tag`, the claim the
 * packet matched, differs), and a late or repeated number leaves it. A first number: 1. */
static __always_inline __s32 seq_step(__u64 old, __u32 seq, __u64 tag)
{
	__s32 step = (__s32)(seq - (__u32)old);

	if ((old & SEQ_TAG_BITS) != tag)
		return 0;
	if (!(old & MIRROR_SEQ_SEEN))
		return 1;
	return step > 0 ? step : 0;
}

/* Advance the stream's sequence high-water mark to `seq`, counting the numbers skipped:
 * by compare-and-swap (retried, then given up and counted), or, on 5.10, under the lock of
 * the set (`set`, its first slot), which claims take too. */
static __always_inline void count_sequence(struct mirror_session *set, struct mirror_session *s, __u32 seq,
					   __u64 tag, struct mirror_stats *stats)
{
#ifdef MIRROR_KERNEL_5_10
	__s32 step;

	bpf_spin_lock(&set->lock);
	step = seq_step(s->seq, seq, tag);
	if (step) {
		s->seq = tag | MIRROR_SEQ_SEEN | seq;
		s->lost += step - 1;
	}
	bpf_spin_unlock(&set->lock);
#else
	for (int i = 0; i < SEQ_RETRIES; i++) {
		__u64 old = *(volatile __u64 *)&s->seq;
		__s32 step = seq_step(old, seq, tag);

		if (!step)
			return;
		if (__sync_val_compare_and_swap(&s->seq, old, tag | MIRROR_SEQ_SEEN | seq) == old) {
			if (step > 1)
				__sync_fetch_and_add(&s->lost, step - 1);
			return;
		}
	}
	stats->seq_contention++;
#endif
}

/* The stream's hash: a seeded multiply-xorshift over the session key's 5 words. Its low bits
 * pick the stream's set of session slots; the whole of it keys the stream's flows. */
static __always_inline __u64 stream_hash(const struct mirror_session_key *key, const struct mirror_config *cfg)
{
	const __u64 *w = (const __u64 *)key;
	__u64 h = cfg->session_seed;

	for (int i = 0; i < sizeof(*key) / 8; i++) {
		h = (h ^ w[i]) * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	return h;
}

static __always_inline bool session_key_equal(const struct mirror_session_key *a,
					      const struct mirror_session_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

static __always_inline __u64 session_state(struct mirror_session *s)
{
	return *(volatile __u64 *)&s->state;
}

/* A slot's new state, stored after everything written before it (a plain store: x86 keeps
 * stores in order; arm64 does not, see Limits in README.md). */
static __always_inline void set_session_state(struct mirror_session *s, __u64 state)
{
	barrier();
	*(volatile __u64 *)&s->state = state;
	barrier();
}

/* The sequence tag of a slot state: its claim number, shifted above MIRROR_SEQ_SEEN. */
static __always_inline __u64 seq_tag(__u64 state)
{
	return (state >> 2) << SEQ_TAG_SHIFT;
}

/* Under the set's lock: the stream's slot if another CPU claimed it meanwhile, else the set's
 * first free slot, else the one seen least recently (evicted), initialised for the stream.
 * Slots are never freed, so free slots are a suffix of the set. No calls while locked: the
 * loops are unrolled over slot pointers taken before. */
static __always_inline struct mirror_session *session_claim(struct mirror_session **ways, struct frame *f,
							     __u64 now, __u64 *tag, struct mirror_stats *stats)
{
	struct mirror_session *found = NULL, *victim = ways[0];
	__u64 state;

	bpf_spin_lock(&ways[0]->lock);
#pragma unroll
	for (int w = 0; w < MIRROR_SESSION_WAYS; w++) {
		struct mirror_session *s = ways[w];

		if ((s->state & MIRROR_SESSION_PHASE) == MIRROR_SESSION_FREE) {
			victim = s;
			break;
		}
		if (session_key_equal(&s->key, &f->session)) {
			found = s;
			break;
		}
		if (s->last_seen_ns < victim->last_seen_ns)
			victim = s;
	}
	if (!found) {
		state = victim->state;
		if ((state & MIRROR_SESSION_PHASE) == MIRROR_SESSION_READY)
			stats->session_evictions++;
		/* a new claim count first, so a lock-free reader comparing keys sees the change */
		state = ((state | MIRROR_SESSION_PHASE) + 1) | MIRROR_SESSION_CLAIMED;
		set_session_state(victim, state);
		victim->key = f->session;
		victim->packets = victim->passed = victim->truncated = victim->lost = 0;
		victim->seq = seq_tag(state);
		victim->first_seen_ns = victim->last_seen_ns = now;
		set_session_state(victim, state + 1); /* READY */
		found = victim;
	}
	*tag = seq_tag(found->state);
	bpf_spin_unlock(&ways[0]->lock);
	return found;
}

/* The stream's slot, its sequence tag and its set's first slot (`set`, whose lock is the
 * set's): a READY slot of its set holding its key, the state re-read after the compare so a
 * slot being re-claimed meanwhile does not match (the barriers keep the key loads between the
 * two; the loads are ordered on x86); else claimed under the set's lock. An eviction racing a
 * packet of the evicted stream (the set's least recent) can still add that packet to the new
 * stream's counts, as reusing an LRU hash element can; the tag keeps it off the new stream's
 * sequence mark. */
static __always_inline struct mirror_session *session_slot(struct frame *f, const struct mirror_config *cfg,
							    __u64 now, __u64 *tag, struct mirror_session **set,
							    struct mirror_stats *stats)
{
	struct mirror_session *ways[MIRROR_SESSION_WAYS];
	__u32 first = ((__u32)f->key.stream & ((cfg->session_sets ?: 1) - 1)) * MIRROR_SESSION_WAYS;

#pragma unroll
	for (int w = 0; w < MIRROR_SESSION_WAYS; w++) {
		__u32 slot = first + w;
		struct mirror_session *s = bpf_map_lookup_elem(&mirror_sessions, &slot);
		__u64 state;

		if (!s)
			return NULL;
		if (w == 0)
			*set = s;
		state = session_state(s);
		barrier();
		if ((state & MIRROR_SESSION_PHASE) == MIRROR_SESSION_READY &&
		    session_key_equal(&s->key, &f->session)) {
			barrier();
			if (session_state(s) == state) {
				*tag = seq_tag(state);
				return s;
			}
		}
		ways[w] = s;
	}
	return session_claim(ways, f, now, tag, stats);
}

static __always_inline void count_session(struct frame *f, bool passed, __u64 now,
					  const struct mirror_config *cfg, struct mirror_stats *stats)
{
	struct mirror_session *set = NULL, *s;
	__u64 tag = 0;

	s = session_slot(f, cfg, now, &tag, &set, stats);
	if (!s || !set) /* a slot past the map's end: not with session_sets as userspace sets it */
		return;
	__sync_fetch_and_add(&s->packets, 1);
	if (passed)
		__sync_fetch_and_add(&s->passed, 1);
	else if (f->truncated)
		__sync_fetch_and_add(&s->truncated, 1);
	if (f->has_seq)
		count_sequence(set, s, f->seq, tag, stats);
	s->last_seen_ns = now;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mirror_capture);
} mirror_capture SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* bytes: ~3,000 records of a snap length of 256 */
} mirror_frames SEC(".maps");

/* Hand the decoded frame to userspace when its stream is being captured (erspan_decoder.h).
 * Out of line: the common path pays only the caller's check of cap->streams. */
static __noinline void capture_frame(struct xdp_md *ctx, struct frame *f, __u64 now, struct mirror_capture *cap)
{
	__u32 off = f->inner & MAX_OFFSET, len = ctx->data_end - ctx->data, n, at = 0;
	const __u64 *want, *have = (const __u64 *)&f->session.outer;
	struct mirror_captured *rec;
	bool found = false;
	__u8 *p;

	for (int i = 0; i < MIRROR_CAPTURE_STREAMS; i++) {
		if (i >= cap->streams)
			break;
		want = (const __u64 *)&cap->stream[i].outer;
		if (((want[0] ^ have[0]) | (want[1] ^ have[1]) | (want[2] ^ have[2]) | (want[3] ^ have[3])) == 0 &&
		    cap->stream[i].gre_proto == f->session.gre_proto &&
		    cap->stream[i].outer_version == f->session.outer_version) {
			found = true;
			break;
		}
	}
	if (!found)
		return;
	rec = bpf_ringbuf_reserve(&mirror_frames, sizeof(*rec), 0);
	if (!rec) {
		__sync_fetch_and_add(&cap->dropped, 1);
		return;
	}
	n = len > off ? len - off : 0;
	rec->time_ns = now;
	rec->outer = f->session.outer;
	rec->frame_len = n;
	rec->port_index = f->port_index;
	rec->gre_proto = f->session.gre_proto;
	rec->session_id = f->session.session_id;
	rec->outer_version = f->session.outer_version;
	rec->direction = f->key.direction;
	rec->has_port_index = f->has_port_index;
	rec->ip_only = f->inner_ip;
	if (n > cap->snap_len)
		n = cap->snap_len;
	if (n > MIRROR_CAPTURE_SNAP_MAX)
		n = MIRROR_CAPTURE_SNAP_MAX;
	for (int i = 0; i < MIRROR_CAPTURE_SNAP_MAX / 8; i++) { /* 8 bytes a step, then the rest */
		if (at + 8 > n || !(p = AT(ctx, off + at, 8)))
			break;
		*(__u64 *)&rec->data[at & (MIRROR_CAPTURE_SNAP_MAX - 8)] = *(__u64 *)p;
		at += 8;
	}
	for (int i = 0; i < 7; i++) {
		if (at >= n || !(p = AT(ctx, off + at, 1)))
			break;
		asm volatile("" : "+r"(at)); /* keep the mask: the verifier needs it */
		rec->data[at & (MIRROR_CAPTURE_SNAP_MAX - 1)] = *p;
		at++;
	}
	rec->cap_len = at;
	bpf_ringbuf_submit(rec, 0);
}

SEC("xdp")
PROGRAM_ISA int tgs_mirror_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct mirror_config *cfg = bpf_map_lookup_elem(&mirror_config, &zero);
	struct mirror_stats *stats = bpf_map_lookup_elem(&mirror_stats, &zero);
	struct mirror_capture *cap;
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
			reason = ip_reason(r, false);
		else if (f.ip.proto != IPPROTO_GRE)
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
		f.key.stream = stream_hash(&f.session, cfg);
		if (reason == MIRROR_OK && !count_flow(&f, now, stats)) {
			reason = MIRROR_FLOW_UPDATE_FAILED;
			passed = true;
		}
		count_session(&f, passed, now, cfg, stats);
		cap = bpf_map_lookup_elem(&mirror_capture, &zero);
		if (cap && cap->streams && (reason == MIRROR_OK || reason == MIRROR_INNER_NOT_IP))
			capture_frame(ctx, &f, now, cap);
	}
	count = bpf_map_lookup_elem(&mirror_reasons, &reason);
	if (count)
		*count += 1;
	stats->passed += passed;
	return passed || !cfg->drop ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
