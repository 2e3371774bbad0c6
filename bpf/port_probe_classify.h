/* The port probes' frame classifier: Ethernet (two VLAN tags), IPv4, IPv6 (extension
 * headers), TCP/UDP ports -> enum probe_class. Bounds-checked for the verifier, no maps, no
 * helpers: included by port_probe.bpf.c, usable by any packet program. */
#ifndef PORT_PROBE_CLASSIFY_H
#define PORT_PROBE_CLASSIFY_H

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

#endif
