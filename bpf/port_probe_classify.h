/* The port probes' frame classifier: Ethernet with its tags, IPv4, IPv6 with its extension
 * headers (the walks of parse.h, shared with the mirror decoder), TCP/UDP ports -> enum
 * probe_class. Bounds-checked for the verifier, no maps, no helpers: included by
 * port_probe.bpf.c, for its XDP and TC programs (the context `ctx`, `skb` true for TC). */
#ifndef PORT_PROBE_CLASSIFY_H
#define PORT_PROBE_CLASSIFY_H

#include "parse.h"

#define ETH_P_ARP 0x0806
#define ETH_P_SLOW 0x8809
#define ETH_P_LLDP 0x88CC
#define ETH_P_802_3_MAX 0x0600
#define NO_CLASS PROBE_CLASSES

PARSE_TAGS_WALK(struct xdp_md, xdp)
PARSE_TAGS_WALK(struct __sk_buff, skb)
PARSE_IPV6_EXT_WALK(struct xdp_md, xdp)
PARSE_IPV6_EXT_WALK(struct __sk_buff, skb)

/* A global walk for the program's context; `skb` is a constant once count() is inlined. */
#define CTX_WALK(ctx, skb, walk, ...)                                                      \
	((skb) ? walk##_skb((struct __sk_buff *)(ctx), __VA_ARGS__) : walk##_xdp((struct xdp_md *)(ctx), __VA_ARGS__))

/* What the classifier learnt about a frame beyond its class: the top-talker key, and where
 * the TCP/UDP header starts (to count the headers every segment of a GSO packet repeats). */
struct frame_info {
	__u32 saddr; /* offset of the source: IP source address, else the source MAC */
	__u32 l4; /* offset of the TCP/UDP header; 0: none */
	__u8 family;
	__u8 proto;
};

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
static __always_inline enum probe_class l4_class(const void *data, const void *end, __u32 l4, __u8 proto,
						 bool v6, const struct probe_settings *cfg)
{
	enum probe_class fallback = v6 ? CLASS_OTHER_IP6 : proto == IPPROTO_TCP ? CLASS_TCP4 : CLASS_UDP4;
	__u8 *ports = PKT_AT(data, end, l4, 4);
	enum probe_class c;

	if (!ports)
		return fallback;
	c = port_class(rd16(ports + 2), proto == IPPROTO_TCP, v6, cfg);
	if (c == NO_CLASS)
		c = port_class(rd16(ports), proto == IPPROTO_TCP, v6, cfg);
	return c == NO_CLASS ? fallback : c;
}

static __always_inline enum probe_class ipv4_class(const void *data, const void *end, __u32 off,
						   const struct probe_settings *cfg, struct frame_info *pkt)
{
	__u8 *ip = PKT_AT(data, end, off, 20);

	if (!ip)
		return CLASS_OTHER_IP4;
	pkt->family = 4;
	pkt->proto = ip[9];
	pkt->saddr = off + 12;
	if (ip[9] == IPPROTO_ICMP)
		return CLASS_ICMP;
	if (ip[9] != IPPROTO_TCP && ip[9] != IPPROTO_UDP)
		return CLASS_OTHER_IP4;
	if (rd16(ip + 6) & 0x1FFF) /* a later fragment carries no ports */
		return ip[9] == IPPROTO_TCP ? CLASS_TCP4 : CLASS_UDP4;
	pkt->l4 = off + (ip[0] & 0x0F) * 4;
	return l4_class(data, end, pkt->l4, ip[9], false, cfg);
}

static __always_inline enum probe_class ipv6_class(void *ctx, bool skb, const void *data, const void *end,
						   __u32 off, const struct probe_settings *cfg, struct frame_info *pkt)
{
	__u8 *ip6 = PKT_AT(data, end, off, 40), *p;
	struct ip_meta ip = { .proto = ip6 ? ip6[6] : 0, .l4 = off + 40 };

	if (!ip6)
		return CLASS_OTHER_IP6;
	pkt->family = 6;
	pkt->saddr = off + 8;
	if (ipv6_ext(ip.proto) && unpack_ip(CTX_WALK(ctx, skb, ipv6_ext_walk, off + 40, ip.proto), &ip) != IP_OK)
		return CLASS_OTHER_IP6;
	pkt->proto = ip.proto;
	if (ip.frag & FRAG_LATER) /* no upper-layer header in this fragment */
		return CLASS_OTHER_IP6;
	if (ip.proto == IPPROTO_ICMPV6) {
		p = PKT_AT(data, end, ip.l4, 1);
		return p && p[0] >= 133 && p[0] <= 137 ? CLASS_ND : CLASS_ICMP6;
	}
	if (ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP)
		return CLASS_OTHER_IP6;
	pkt->l4 = ip.l4;
	return l4_class(data, end, ip.l4, ip.proto, true, cfg);
}

static __always_inline enum probe_class classify(void *ctx, bool skb, const void *data, const void *end,
						 const struct probe_settings *cfg, struct frame_info *pkt)
{
	__u8 *eth = PKT_AT(data, end, 0, 14);
	struct l2_meta l2 = { .vlan = NO_VLAN };

	if (!eth)
		return CLASS_OTHER_L2;
	pkt->saddr = 6; /* the talker of a non-IP frame: its source MAC */
	if (!tags_walk(data, end, 12, &l2, 1)) /* one tag inline, more in the global walk */
		return CLASS_OTHER_L2;
	if (any_tag(l2.ethertype) && !unpack_l2(CTX_WALK(ctx, skb, tags_walk, 12), &l2))
		return CLASS_OTHER_L2;
	switch (l2.ethertype) {
	case ETH_P_IP: return ipv4_class(data, end, l2.l3, cfg, pkt);
	case ETH_P_IPV6: return ipv6_class(ctx, skb, data, end, l2.l3, cfg, pkt);
	case ETH_P_ARP: return CLASS_ARP;
	case ETH_P_LLDP: return CLASS_LLDP;
	case ETH_P_SLOW: return CLASS_LACP;
	}
	if (l2.ethertype < ETH_P_802_3_MAX) { /* 802.3 length: BPDUs to 01:80:c2:00:00:00 or PVST+ */
		if ((eth[0] == 0x01 && eth[1] == 0x80 && eth[2] == 0xc2 && eth[3] == 0 && eth[4] == 0 && eth[5] == 0) ||
		    (eth[0] == 0x01 && eth[1] == 0x00 && eth[2] == 0x0c && eth[3] == 0xcc && eth[4] == 0xcc && eth[5] == 0xcd))
			return CLASS_STP;
	}
	return CLASS_OTHER_L2;
}

#endif
