/* Header walks shared by every packet program (the port probes' classifier, the XDP mirror
 * decoder): one VLAN/QinQ tag walk and one IPv6 extension-header walk, with the erspan
 * library's semantics (erspan/layers.py: VLAN_TPIDS, CISCO_TTAG, MAX_VLAN_TAGS, IPV6_EXT,
 * MAX_IPV6_EXT), so a frame parses the same in the probes, the kernel decoder and userspace.
 *
 * Walks take the frame as (data, end), XDP's or TC's, and offsets from data: bounds-checked
 * for the verifier, no maps, no helpers. `max` arguments are compile-time constants. A
 * program walks the common case inline (one tag, no extension header) and the rest through
 * the global wrappers at the end (PARSE_TAGS_WALK, PARSE_IPV6_EXT_WALK): the verifier checks
 * a global function once, instead of once per path that leads to it.
 */
#ifndef PARSE_H
#define PARSE_H

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define CISCO_TTAG 0x8988 /* ACI fabric PTP timestamp tag: 6 bytes of time, then an ethertype */
#define MAX_VLAN_TAGS 4 /* tags of any kind: VLAN (vlan_tpid) and TTag */
#define NO_VLAN 0xFFFF
#define MAX_IPV6_EXT 8
#define PARSE_MAX_OFFSET 0x3FFF /* no frame XDP sees without frags is longer */
#define FRAG_LATER 1 /* not the first fragment */
#define FRAG_MORE 2

enum {
	IPPROTO_HOPOPTS = 0,
	IPPROTO_ICMP = 1,
	IPPROTO_TCP = 6,
	IPPROTO_UDP = 17,
	IPPROTO_ROUTING = 43,
	IPPROTO_FRAGMENT = 44,
	IPPROTO_GRE = 47,
	IPPROTO_AH = 51,
	IPPROTO_ICMPV6 = 58,
	IPPROTO_DSTOPTS = 60,
	IPPROTO_SCTP = 132,
	IPPROTO_MH = 135, /* mobility */
	IPPROTO_UDPLITE = 136,
	IPPROTO_HIP = 139,
	IPPROTO_SHIM6 = 140,
};

/* `len` bytes at `off` in [data, end), or NULL when they are not all there. */
#define PKT_AT(data, end, off, len)                                                       \
	({                                                                                \
		__u32 o_ = (off);                                                         \
		__u8 *p_ = NULL;                                                          \
		if (o_ <= PARSE_MAX_OFFSET) {                                             \
			__u8 *q_;                                                         \
			asm volatile("" : "+r"(o_)); /* keep the mask: the verifier needs it */ \
			q_ = (__u8 *)(data) + (o_ & PARSE_MAX_OFFSET);                    \
			if ((void *)(q_ + (len)) <= (void *)(end))                        \
				p_ = q_;                                                  \
		}                                                                         \
		p_;                                                                       \
	})

static __always_inline __u16 rd16(const __u8 *p)
{
	/* one load: unaligned packet reads are fine on x86 and arm64 (efficient unaligned access) */
	return __builtin_bswap16(*(const __u16 *)p);
}

static __always_inline __u32 rd32(const __u8 *p)
{
	return __builtin_bswap32(*(const __u32 *)p);
}

/* 802.1Q, 802.1ad, and the pre-standard QinQ TPIDs some vendors still send. */
static __always_inline bool vlan_tpid(__u16 et)
{
	return et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200;
}

static __always_inline bool any_tag(__u16 et)
{
	return vlan_tpid(et) || et == CISCO_TTAG;
}

struct l2_meta {
	__u32 l3; /* offset of the payload after the tags */
	__u16 ethertype; /* what follows the tags (still a tag when there were more than walked) */
	__u16 vlan; /* the first VLAN tag's VID; NO_VLAN when none (set it before walking) */
};

/* The one tag walk: from the ethertype at `off`, up to `max` tags, VLAN (4 bytes) or TTag
 * (8). False when a tag, or the ethertype itself, is cut short. */
static __always_inline bool tags_walk(const void *data, const void *end, __u32 off, struct l2_meta *l2,
				      const int max)
{
	__u8 *p = PKT_AT(data, end, off, 2);

	if (!p)
		return false;
	l2->ethertype = rd16(p);
	for (int i = 0; i < max; i++) {
		if (vlan_tpid(l2->ethertype)) {
			p = PKT_AT(data, end, off, 6);
			if (!p)
				return false;
			if (l2->vlan == NO_VLAN)
				l2->vlan = rd16(p + 2) & 0x0FFF;
			l2->ethertype = rd16(p + 4);
			off += 4;
		} else if (l2->ethertype == CISCO_TTAG) {
			p = PKT_AT(data, end, off, 10);
			if (!p)
				return false;
			l2->ethertype = rd16(p + 8);
			off += 8;
		} else {
			break;
		}
		off &= PARSE_MAX_OFFSET;
	}
	l2->l3 = off + 2;
	return true;
}

/* ip_walk()'s result, in the order of the MIRROR_OUTER_IP_* and MIRROR_INNER_IP_* reasons. */
enum ip_result { IP_OK, IP_TRUNCATED, IP_VERSION, IP_V4_HEADER_LENGTH, IP_V4_TOTAL_LENGTH,
		 IP_V6_EXT_TRUNCATED, IP_V6_EXT_CHAIN };

struct ip_meta {
	__u32 l4; /* offset of the payload after any IPv6 extension headers */
	__u32 length; /* IP-layer bytes: IPv4 total length, IPv6 payload length + 40 */
	__u8 proto;
	__u8 dscp;
	__u8 frag; /* FRAG_LATER | FRAG_MORE */
	__u8 pad;
};

static __always_inline bool ipv6_ext(__u8 nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS: case IPPROTO_ROUTING: case IPPROTO_FRAGMENT: case IPPROTO_AH:
	case IPPROTO_DSTOPTS: case IPPROTO_MH: case IPPROTO_HIP: case IPPROTO_SHIM6:
		return true;
	}
	return false;
}

/* The one extension-header walk: from `off`, whose header type is `nh`, to the payload:
 * sets ip->proto and ip->l4, adds FRAG_* to ip->frag. Lengths: (len + 1) * 8 bytes, AH
 * (len + 2) * 4, Fragment 8. A Fragment header with a non-zero offset ends the walk (what
 * follows it is not a header). Returns IP_OK, IP_V6_EXT_TRUNCATED or IP_V6_EXT_CHAIN (more
 * than MAX_IPV6_EXT headers). */
static __always_inline int ipv6_ext_walk(const void *data, const void *end, __u32 off, __u8 nh,
					 struct ip_meta *ip)
{
	__u32 len = end - data;

	for (int i = 0; i < MAX_IPV6_EXT && ipv6_ext(nh); i++) {
		__u8 *p = PKT_AT(data, end, off, 8); /* every extension header is at least 8 bytes */
		__u32 hdr_len;

		if (!p)
			return IP_V6_EXT_TRUNCATED;
		if (nh == IPPROTO_FRAGMENT) {
			__u16 word = rd16(p + 2);

			hdr_len = 8;
			ip->frag |= ((word & 0xFFF8) ? FRAG_LATER : 0) | ((word & 1) ? FRAG_MORE : 0);
		} else if (nh == IPPROTO_AH) {
			hdr_len = ((__u32)p[1] + 2) * 4;
		} else {
			hdr_len = ((__u32)p[1] + 1) * 8;
		}
		if (off + hdr_len > len)
			return IP_V6_EXT_TRUNCATED;
		nh = p[0];
		off = (off + hdr_len) & PARSE_MAX_OFFSET;
		if (ip->frag & FRAG_LATER)
			break;
	}
	if (ipv6_ext(nh) && !(ip->frag & FRAG_LATER))
		return IP_V6_EXT_CHAIN;
	ip->proto = nh;
	ip->l4 = off;
	return IP_OK;
}

/* A tags walk's result as one u64, for a global function to return (unpack_l2). */
static __always_inline __u64 pack_l2(bool ok, const struct l2_meta *l2)
{
	return (__u64)ok << 48 | (__u64)l2->vlan << 32 | (__u64)l2->ethertype << 16 | l2->l3;
}

/* The global wrappers, one per context type (`suffix` xdp for struct xdp_md, skb for struct
 * __sk_buff). Kernels before 5.12 let a global function take only its context and scalars and
 * return a scalar, so results come back packed in a u64 (unpack_l2, unpack_ip). */
#define PARSE_TAGS_WALK(ctx_type, suffix)                                                 \
	__noinline __u64 tags_walk_##suffix(ctx_type *ctx, __u32 off)                     \
	{                                                                                 \
		struct l2_meta l2 = { .vlan = NO_VLAN };                                  \
		bool ok = tags_walk((void *)(long)ctx->data, (void *)(long)ctx->data_end,  \
				    off & PARSE_MAX_OFFSET, &l2, MAX_VLAN_TAGS);          \
		return pack_l2(ok, &l2);                                                  \
	}

#define PARSE_IPV6_EXT_WALK(ctx_type, suffix)                                             \
	__noinline __u64 ipv6_ext_walk_##suffix(ctx_type *ctx, __u32 off, __u32 nh)      \
	{                                                                                 \
		struct ip_meta ip = {};                                                   \
		int r = ipv6_ext_walk((void *)(long)ctx->data, (void *)(long)ctx->data_end, \
				      off & PARSE_MAX_OFFSET, nh, &ip);                   \
		return (__u64)ip.l4 << 32 | (__u64)ip.frag << 16 | (__u64)ip.proto << 8 | r; \
	}

/* A packed tags walk into `l2` (its VLAN only where `l2` has none yet); false: a tag was cut. */
static __always_inline bool unpack_l2(__u64 packed, struct l2_meta *l2)
{
	l2->l3 = packed & PARSE_MAX_OFFSET;
	l2->ethertype = packed >> 16;
	if (l2->vlan == NO_VLAN)
		l2->vlan = packed >> 32;
	return packed >> 48;
}

/* A packed extension-header walk into `ip` (FRAG_* added); returns its ip_result. */
static __always_inline int unpack_ip(__u64 packed, struct ip_meta *ip)
{
	ip->l4 = (packed >> 32) & PARSE_MAX_OFFSET;
	ip->frag |= packed >> 16;
	ip->proto = packed >> 8;
	return packed & 0xFF;
}

#endif
