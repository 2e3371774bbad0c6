// SPDX-License-Identifier: GPL-2.0
/* Port probes: what reaches and leaves the switch CPU, per device, direction and class.
 *
 * One object for every port: tgs_probe_xdp counts ingress, tgs_probe_tc_eg egress (TC
 * clsact), tgs_probe_tc_in ingress where a foreign XDP program owns the device. All three
 * share one classifier and the maps below; tgs_probe_drop follows skb:kfree_skb.
 * The "tgs_probe_" name prefix is how userspace recognises its own programs after a crash.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "port_probe.h"

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_IPV6 0x86DD
#define ETH_P_SLOW 0x8809
#define ETH_P_LLDP 0x88CC
#define ETH_P_802_3_MAX 0x0600
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_ICMPV6_ 58
#define NO_CLASS PROBE_CLASSES
#define TC_ACT_UNSPEC_ (-1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048); /* (device, direction) pairs; userspace may resize */
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

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

/* What the classifier learnt about a frame beyond its class: the top-talker key, and where
 * the TCP/UDP header starts (to count the headers every segment of a GSO packet repeats). */
struct frame_info {
	const __u8 *saddr;
	const __u8 *l4;
	__u8 family;
	__u8 proto;
};

/* Count a skipped update in probe_errors.<field>. */
#define count_error(field)                                                  \
	do {                                                                \
		__u32 zero_ = 0;                                            \
		struct probe_errors *e_ = bpf_map_lookup_elem(&probe_errors, &zero_); \
		if (e_)                                                     \
			e_->field += 1;                                     \
	} while (0)

static __always_inline enum probe_class port_class(__u16 port, bool tcp, bool v6,
						   const struct probe_settings *cfg)
{
	if (tcp) {
		if (port == 179)
			return CLASS_BGP;
		if (port == 22)
			return CLASS_SSH;
#pragma unroll
		for (int i = 0; i < GRPC_PORTS_MAX; i++) {
			if (!cfg->grpc_ports[i])
				break;
			if (cfg->grpc_ports[i] == port)
				return CLASS_GRPC;
		}
		return NO_CLASS;
	}
	switch (port) {
	case 3784: case 3785: case 4784: return CLASS_BFD;
	case 67: case 68: return v6 ? NO_CLASS : CLASS_DHCP;
	case 546: case 547: return v6 ? CLASS_DHCP6 : NO_CLASS;
	case 161: case 162: return CLASS_SNMP;
	case 6343: return CLASS_SFLOW;
	case 4789: return CLASS_VXLAN;
	}
	return NO_CLASS;
}

/* TCP or UDP at l4: a well-known port on either side, else the family's fallback class. */
static __always_inline enum probe_class l4_class(const void *l4, const void *end, __u8 proto,
						 bool v6, const struct probe_settings *cfg)
{
	enum probe_class fallback = v6 ? CLASS_OTHER_IP6 : proto == IPPROTO_TCP ? CLASS_TCP4 : CLASS_UDP4;
	const __be16 *ports = l4;
	enum probe_class c;

	if ((void *)(ports + 2) > end)
		return fallback;
	c = port_class(bpf_ntohs(ports[1]), proto == IPPROTO_TCP, v6, cfg);
	if (c == NO_CLASS)
		c = port_class(bpf_ntohs(ports[0]), proto == IPPROTO_TCP, v6, cfg);
	return c == NO_CLASS ? fallback : c;
}

static __always_inline enum probe_class ipv4_class(const void *l3, const void *end,
						   const struct probe_settings *cfg, struct frame_info *pkt)
{
	const struct iphdr *ip = l3;

	if ((void *)(ip + 1) > end)
		return CLASS_OTHER_IP4;
	pkt->family = 4;
	pkt->proto = ip->protocol;
	pkt->saddr = (const __u8 *)&ip->saddr;
	if (ip->protocol == IPPROTO_ICMP)
		return CLASS_ICMP;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return CLASS_OTHER_IP4;
	if (ip->frag_off & bpf_htons(0x1FFF)) /* a later fragment carries no ports */
		return ip->protocol == IPPROTO_TCP ? CLASS_TCP4 : CLASS_UDP4;
	pkt->l4 = l3 + ip->ihl * 4;
	return l4_class(pkt->l4, end, ip->protocol, false, cfg);
}

static __always_inline enum probe_class ipv6_class(const void *l3, const void *end,
						   const struct probe_settings *cfg, struct frame_info *pkt)
{
	const struct ipv6hdr *ip6 = l3;
	const __u8 *pos = (const __u8 *)(ip6 + 1);
	__u8 next;

	if ((void *)(ip6 + 1) > end)
		return CLASS_OTHER_IP6;
	next = ip6->nexthdr;
	pkt->family = 6;
	pkt->saddr = (const __u8 *)&ip6->saddr;
#pragma unroll
	for (int i = 0; i < 4; i++) { /* extension headers: hop-by-hop (MLD), routing, dest, frag */
		if (next != IPPROTO_HOPOPTS_ && next != IPPROTO_ROUTING_ &&
		    next != IPPROTO_DSTOPTS_ && next != IPPROTO_FRAGMENT_)
			break;
		if ((void *)(pos + 8) > end)
			return CLASS_OTHER_IP6;
		if (next == IPPROTO_FRAGMENT_ && (*(const __be16 *)(pos + 2) & bpf_htons(0xFFF8))) {
			pkt->proto = pos[0];
			return CLASS_OTHER_IP6; /* a later fragment: no upper-layer header */
		}
		next = pos[0];
		pos += next == IPPROTO_FRAGMENT_ ? 8 : (pos[1] + 1) * 8;
	}
	pkt->proto = next;
	if (next == IPPROTO_ICMPV6_) {
		if ((void *)(pos + 1) > end)
			return CLASS_ICMP6;
		return pos[0] >= 133 && pos[0] <= 137 ? CLASS_ND : CLASS_ICMP6;
	}
	if (next != IPPROTO_TCP && next != IPPROTO_UDP)
		return CLASS_OTHER_IP6;
	pkt->l4 = pos;
	return l4_class(pos, end, next, true, cfg);
}

static __always_inline enum probe_class classify(const void *data, const void *end,
						 const struct probe_settings *cfg, struct frame_info *pkt)
{
	const struct ethhdr *eth = data;
	const void *pos = eth + 1;
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return CLASS_OTHER_L2;
	pkt->saddr = eth->h_source; /* the talker of a non-IP frame: its source MAC */
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (int i = 0; i < 2; i++) { /* 802.1Q, and 802.1ad QinQ outside it */
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		const struct vlan_tag *tag = pos;

		if ((void *)(tag + 1) > end)
			return CLASS_OTHER_L2;
		proto = bpf_ntohs(tag->proto);
		pos = tag + 1;
	}
	switch (proto) {
	case ETH_P_IP: return ipv4_class(pos, end, cfg, pkt);
	case ETH_P_IPV6: return ipv6_class(pos, end, cfg, pkt);
	case ETH_P_ARP: return CLASS_ARP;
	case ETH_P_LLDP: return CLASS_LLDP;
	case ETH_P_SLOW: return CLASS_LACP;
	}
	if (proto < ETH_P_802_3_MAX) { /* 802.3 length: BPDUs to 01:80:c2:00:00:00 or PVST+ */
		const __u8 *d = eth->h_dest;

		if ((d[0] == 0x01 && d[1] == 0x80 && d[2] == 0xc2 && d[3] == 0 && d[4] == 0 && d[5] == 0) ||
		    (d[0] == 0x01 && d[1] == 0x00 && d[2] == 0x0c && d[3] == 0xcc && d[4] == 0xcc && d[5] == 0xcd))
			return CLASS_STP;
	}
	return CLASS_OTHER_L2;
}

static __always_inline __u32 log2_bucket(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r < SIZE_BUCKETS ? r : SIZE_BUCKETS - 1;
}

static __always_inline void record_talker(__u32 ifindex, enum probe_class c,
					  const struct frame_info *pkt, const void *end, __u32 len)
{
	struct talker_key key = { .ifindex = ifindex, .klass = c, .family = pkt->family,
				  .proto = pkt->proto };
	struct class_count *v, one = { .packets = 1, .bytes = len };

	/* saddr was bounds-checked with its whole IP header by the classifier */
	if (pkt->family == 4 && pkt->saddr && (const void *)(pkt->saddr + 4) <= end)
		__builtin_memcpy(key.addr, pkt->saddr, 4);
	else if (pkt->family == 6 && pkt->saddr && (const void *)(pkt->saddr + 16) <= end)
		__builtin_memcpy(key.addr, pkt->saddr, 16);
	else if (pkt->saddr && (const void *)(pkt->saddr + 6) <= end)
		__builtin_memcpy(key.addr, pkt->saddr, 6);
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
	const __u8 *l4 = pkt->l4;
	__u32 hdr;

	if (!l4 || (const void *)(l4 + 13) > end)
		return len;
	hdr = (l4 - (const __u8 *)data) + (pkt->proto == IPPROTO_TCP ? (l4[12] >> 4) * 4 : 8);
	return len + (segs - 1) * hdr;
}

/* Count one frame (segs 1) or one GSO/GRO packet of `segs` segments (TC only). */
static __always_inline void count(__u32 ifindex, enum probe_dir dir, const void *data,
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
	c = classify(data, end, cfg, &pkt);
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
		record_talker(ifindex, c, &pkt, end, len);
	}
}

SEC("xdp")
int tgs_probe_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	count(ctx->ingress_ifindex, PROBE_RX, data, end, end - data, 1);
	return XDP_PASS;
}

SEC("tc")
int tgs_probe_tc_eg(struct __sk_buff *skb)
{
	count(skb->ifindex, PROBE_TX, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
	      skb->gso_segs);
	return TC_ACT_UNSPEC_;
}

SEC("tc")
int tgs_probe_tc_in(struct __sk_buff *skb)
{
	count(skb->ifindex, PROBE_RX, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
	      skb->gso_segs);
	return TC_ACT_UNSPEC_;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(tgs_probe_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
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
