// SPDX-License-Identifier: GPL-2.0
/* Port probes: what reaches and leaves the switch CPU, per device, direction and class.
 *
 * One object for every port: tgs_probe_xdp counts ingress, tgs_probe_tc_eg egress (TC
 * clsact), tgs_probe_tc_in ingress where a foreign XDP program owns the device. All three
 * share one classifier and the maps below; tgs_probe_drop follows skb:kfree_skb.
 * The "tgs_probe_" name prefix is how userspace recognises its own programs after a crash.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "port_probe.h"
#include "port_probe_classify.h"

#define TC_ACT_UNSPEC_ (-1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048); /* (device, direction) pairs: 1024 probed devices */
	__type(key, struct port_key);
	__type(value, struct port_counts);
} port_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024); /* probes.top_talkers */
	__type(key, struct talker_key);
	__type(value, struct class_count);
} talkers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct drop_key);
	__type(value, struct class_count);
} drop_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_errors);
} probe_errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_settings);
} settings SEC(".maps");

/* Count a skipped update in probe_errors.<field>. */
#define count_error(field)                                                  \
	do {                                                                \
		__u32 zero_ = 0;                                            \
		struct probe_errors *e_ = bpf_map_lookup_elem(&probe_errors, &zero_); \
		if (e_)                                                     \
			e_->field += 1;                                     \
	} while (0)

static __always_inline __u32 log2_bucket(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	r = r < SIZE_BUCKETS ? r : SIZE_BUCKETS - 1;
	/* and a mask (SIZE_BUCKETS is a power of two), kept by the barrier: older verifiers (6.1)
	 * lose the clamp's bound through the zero-extension clang emits, and refuse the index */
	asm volatile("" : "+r"(r));
	return r & (SIZE_BUCKETS - 1);
}

static __always_inline void record_talker(__u32 ifindex, enum probe_class c, const struct frame_info *pkt,
					  const void *data, const void *end, __u32 len)
{
	struct talker_key key = { .ifindex = ifindex, .klass = c, .family = pkt->family,
				  .proto = pkt->proto };
	struct class_count *v, one = { .packets = 1, .bytes = len };
	__u8 *src;

	if (pkt->family == 4 && (src = PKT_AT(data, end, pkt->saddr, 4)))
		__builtin_memcpy(key.addr, src, 4);
	else if (pkt->family == 6 && (src = PKT_AT(data, end, pkt->saddr, 16)))
		__builtin_memcpy(key.addr, src, 16);
	else if ((src = PKT_AT(data, end, pkt->saddr, 6)))
		__builtin_memcpy(key.addr, src, 6);
	v = bpf_map_lookup_elem(&talkers, &key);
	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, len);
	} else if (bpf_map_update_elem(&talkers, &key, &one, BPF_NOEXIST) && !bpf_map_lookup_elem(&talkers, &key)) {
		count_error(talker_update);
	}
}

/* Bytes on the wire of a GSO packet of `segs` segments: every segment repeats the headers. */
static __always_inline __u32 gso_wire_len(const void *data, const void *end, const struct frame_info *pkt,
					  __u32 len, __u32 segs)
{
	__u8 *l4 = pkt->l4 ? PKT_AT(data, end, pkt->l4, 13) : NULL;

	if (!l4)
		return len;
	return len + (segs - 1) * (pkt->l4 + (pkt->proto == IPPROTO_TCP ? (l4[12] >> 4) * 4 : 8));
}

/* Count one frame (segs 1) or one GSO/GRO packet of `segs` segments (TC only, `skb`). */
static __always_inline void count(void *ctx, bool skb, __u32 ifindex, enum probe_dir dir, const void *data,
				  const void *end, __u32 len, __u32 segs)
{
	struct port_key key = { .ifindex = ifindex, .dir = dir };
	struct frame_info pkt = {};
	struct port_counts *st;
	struct probe_settings *cfg;
	enum probe_class c;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&settings, &zero);
	st = bpf_map_lookup_elem(&port_counts, &key);
	if (!cfg || !st) {
		count_error(no_port_entry);
		return;
	}
	c = classify(ctx, skb, data, end, cfg, &pkt);
	if (c >= PROBE_CLASSES) /* bounds for the verifier */
		return;
	if (segs > 1) {
		len = gso_wire_len(data, end, &pkt, len, segs);
		st->sizes[log2_bucket(len / segs)] += segs;
	} else {
		segs = 1;
		st->sizes[log2_bucket(len)] += 1;
	}
	st->cls[c].packets += segs;
	st->cls[c].bytes += len;
	/* Top talkers: one frame in talker_sample per CPU and port, so the exact counting path
	 * above stays a single per-CPU lookup and the shared LRU map is touched rarely. */
	if (dir == PROBE_RX && cfg->talker_sample && ++st->seq >= cfg->talker_sample) {
		st->seq = 0;
		record_talker(ifindex, c, &pkt, data, end, len);
	}
}

SEC("xdp")
int tgs_probe_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	count(ctx, false, ctx->ingress_ifindex, PROBE_RX, data, end, end - data, 1);
	return XDP_PASS;
}

SEC("tc")
int tgs_probe_tc_eg(struct __sk_buff *skb)
{
	count(skb, true, skb->ifindex, PROBE_TX, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
	      skb->gso_segs);
	return TC_ACT_UNSPEC_;
}

SEC("tc")
int tgs_probe_tc_in(struct __sk_buff *skb)
{
	count(skb, true, skb->ifindex, PROBE_RX, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
	      skb->gso_segs);
	return TC_ACT_UNSPEC_;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(tgs_probe_drop, struct sk_buff *skb, void *location, __u32 reason) /* enum skb_drop_reason */
{
	struct drop_key key = { .reason = reason };
	struct class_count *v, one = { .packets = 1 };
	struct probe_settings *cfg;
	__u32 zero = 0;

	if (!BPF_CORE_READ(skb, dev)) /* no device, no port to charge it to */
		return 0;
	cfg = bpf_map_lookup_elem(&settings, &zero);
	if (!cfg || BPF_CORE_READ(skb, dev, nd_net.net, ns.inum) != cfg->netns_ino)
		return 0;
	key.ifindex = BPF_CORE_READ(skb, dev, ifindex);
	struct port_key probed = { .ifindex = key.ifindex, .dir = PROBE_RX };

	if (!bpf_map_lookup_elem(&port_counts, &probed)) /* only the ports the probes watch */
		return 0;
	one.bytes = BPF_CORE_READ(skb, len);
	v = bpf_map_lookup_elem(&drop_counts, &key);
	if (v) {
		v->packets += 1;
		v->bytes += one.bytes;
	} else if (bpf_map_update_elem(&drop_counts, &key, &one, BPF_NOEXIST) && !bpf_map_lookup_elem(&drop_counts, &key)) {
		count_error(drops_full);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
