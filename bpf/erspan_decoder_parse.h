/* The XDP mirror decoder's header walks, used for the outer and the mirrored packet alike:
 * Ethernet with its tags and IPv4/IPv6, over the shared walks of parse.h (the port probes use
 * the same), plus what only mirrored frames carry: a Cisco ISL header in front. Semantics are
 * the erspan library's (erspan/layers.py). The common case (at most one tag, no extension
 * header) is inline; the rest are global functions, which the verifier checks once.
 */
#ifndef ERSPAN_DECODER_PARSE_H
#define ERSPAN_DECODER_PARSE_H

#include "parse.h"

#define ISL_HEADER 26 /* Cisco ISL, to 01:00:0c:00:00 or 03:00:0c:00:00, in front of a frame */
#define MAX_OFFSET PARSE_MAX_OFFSET

/* `len` bytes at `off` in the frame, or NULL when they are not all there. */
#define AT(ctx, off, len) PKT_AT((void *)(long)(ctx)->data, (void *)(long)(ctx)->data_end, off, len)

/* The whole walk, as walk_ethernet in erspan/layers.py: an ISL header skipped (its VLAN counts
 * when no 802.1Q tag follows), then up to MAX_VLAN_TAGS tags. Only unusual frames come here
 * (multicast-looking destinations, a TTag, a second tag): a global function, checked once by
 * the verifier, returning the walk packed (pack_l2; not ok when cut). */
__noinline __u64 walk_l2_full(struct xdp_md *ctx, __u32 off)
{
	struct l2_meta l2 = { .vlan = NO_VLAN };
	__u16 isl_vlan = NO_VLAN;
	bool ok;
	__u8 *p;

	off &= MAX_OFFSET;
	p = AT(ctx, off, ISL_HEADER + 14);
	if (p && (rd32(p) == 0x01000C00 || rd32(p) == 0x03000C00) && p[4] == 0) {
		isl_vlan = (rd16(p + 20) >> 1) & 0x0FFF;
		off += ISL_HEADER;
	}
	ok = AT(ctx, off, 14) &&
	     tags_walk((void *)(long)ctx->data, (void *)(long)ctx->data_end, off + 12, &l2, MAX_VLAN_TAGS);
	if (l2.vlan == NO_VLAN)
		l2.vlan = isl_vlan;
	return pack_l2(ok, &l2);
}

/* An Ethernet header at `off` with its tags. Inline for the usual frame (unicast, at most
 * one tag); everything else takes walk_l2_full. */
static __always_inline enum mirror_reason walk_l2(struct xdp_md *ctx, __u32 off, struct l2_meta *l2,
						  enum mirror_reason cut)
{
	__u8 *p = AT(ctx, off, 14);

	if (!p)
		return cut;
	l2->vlan = NO_VLAN;
	if ((p[0] & 0xFD) != 0x01 && /* not 01: or 03:, so not ISL */
	    !tags_walk((void *)(long)ctx->data, (void *)(long)ctx->data_end, off + 12, l2, 1))
		return cut;
	if ((p[0] & 0xFD) == 0x01 || any_tag(l2->ethertype)) {
		l2->vlan = NO_VLAN;
		if (!unpack_l2(walk_l2_full(ctx, off), l2))
			return cut;
	}
	return MIRROR_OK;
}

/* IPv6 extension headers: the rare case, the shared walk as a global function. */
PARSE_IPV6_EXT_WALK(struct xdp_md, xdp)

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
		return unpack_ip(ipv6_ext_walk_xdp(ctx, off + 40, ip->proto), ip);
	return IP_OK;
}

#endif
