/* The XDP mirror decoder's header walks, used for the outer and the mirrored packet alike:
 * Ethernet with 802.1Q/QinQ tags, IPv4, IPv6 with extension headers. Semantics are the erspan
 * library's (erspan/layers.py), Cisco ISL and ACI TTag included. The common case (at most
 * one tag, no extension header) is inline; the rest are global functions, which the verifier
 * checks once.
 */
#ifndef ERSPAN_DECODER_PARSE_H
#define ERSPAN_DECODER_PARSE_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define MAX_VLAN_TAGS 4 /* tags of any kind: 802.1Q/QinQ and Cisco's PTP TTag */
#define CISCO_TTAG 0x8988 /* ACI fabric PTP timestamp tag: 6 bytes of time, then an ethertype */
#define ISL_HEADER 26 /* Cisco ISL, to 01:00:0c:00:00 or 03:00:0c:00:00, in front of a frame */
#define MAX_IPV6_EXT 8
#define MAX_OFFSET 0x3FFF /* no frame XDP sees without frags is longer */
#define FRAG_LATER 1 /* not the first fragment */
#define FRAG_MORE 2

/* ip_walk()'s result, in the order of the MIRROR_OUTER_IP_* and MIRROR_INNER_IP_* reasons. */
enum ip_result { IP_OK, IP_TRUNCATED, IP_VERSION, IP_V4_HEADER_LENGTH, IP_V4_TOTAL_LENGTH,
		 IP_V6_EXT_TRUNCATED, IP_V6_EXT_CHAIN };

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
	/* one load: unaligned packet reads are fine on x86 and arm64 (efficient unaligned access) */
	return __builtin_bswap16(*(const __u16 *)p);
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

static __always_inline bool any_tag(__u16 et)
{
	return vlan_tpid(et) || et == CISCO_TTAG;
}

/* The whole walk, as walk_ethernet in erspan/layers.py: an ISL header skipped (its VLAN counts
 * when no 802.1Q tag follows), then up to MAX_VLAN_TAGS tags, VLAN or TTag. Only unusual frames
 * come here (multicast-looking destinations, a TTag, a second tag): a global function, checked
 * once by the verifier; its return type also puts enum mirror_reason in the BTF userspace reads. */
__noinline enum mirror_reason walk_l2_full(struct xdp_md *ctx, __u32 off, struct l2_meta *l2,
					   enum mirror_reason cut)
{
	__u16 isl_vlan = MIRROR_NO_ID;
	__u8 *p;

	if (!l2)
		return cut;
	off &= MAX_OFFSET;
	p = AT(ctx, off, ISL_HEADER + 14);
	if (p && (rd32(p) == 0x01000C00 || rd32(p) == 0x03000C00) && p[4] == 0) {
		isl_vlan = (rd16(p + 20) >> 1) & 0x0FFF;
		off += ISL_HEADER;
	}
	if (!AT(ctx, off, 14))
		return cut;
	off += 12; /* the ethertype */
	p = AT(ctx, off, 2);
	if (!p)
		return cut;
	l2->ethertype = rd16(p);
	l2->vlan = MIRROR_NO_ID;
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (vlan_tpid(l2->ethertype)) {
			p = AT(ctx, off, 6);
			if (!p)
				return cut;
			if (l2->vlan == MIRROR_NO_ID)
				l2->vlan = rd16(p + 2) & 0x0FFF;
			l2->ethertype = rd16(p + 4);
			off += 4;
		} else if (l2->ethertype == CISCO_TTAG) {
			p = AT(ctx, off, 10);
			if (!p)
				return cut;
			l2->ethertype = rd16(p + 8);
			off += 8;
		} else {
			break;
		}
		off &= MAX_OFFSET;
	}
	if (l2->vlan == MIRROR_NO_ID)
		l2->vlan = isl_vlan;
	l2->l3 = off + 2;
	return MIRROR_OK;
}

/* An Ethernet header at `off` with its tags. Inline for the usual frame (unicast, at most
 * one 802.1Q tag); everything else takes walk_l2_full. */
static __always_inline enum mirror_reason walk_l2(struct xdp_md *ctx, __u32 off, struct l2_meta *l2,
						  enum mirror_reason cut)
{
	__u8 *p = AT(ctx, off, 14);
	__u16 et;

	if (!p)
		return cut;
	if ((p[0] & 0xFD) == 0x01) /* 01: or 03:, maybe ISL */
		return walk_l2_full(ctx, off, l2, cut);
	et = rd16(p + 12);
	if (!any_tag(et)) {
		l2->ethertype = et;
		l2->vlan = MIRROR_NO_ID;
		l2->l3 = off + 14;
		return MIRROR_OK;
	}
	if (vlan_tpid(et)) {
		p = AT(ctx, off + 12, 6);
		if (!p)
			return cut;
		et = rd16(p + 4);
		if (!any_tag(et)) {
			l2->ethertype = et;
			l2->vlan = rd16(p + 2) & 0x0FFF;
			l2->l3 = off + 18;
			return MIRROR_OK;
		}
	}
	return walk_l2_full(ctx, off, l2, cut);
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

#endif
