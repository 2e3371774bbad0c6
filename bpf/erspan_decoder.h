/* The XDP mirror decoder's kernel/user contract: map keys, values and reasons, declared once.
 *
 * Userspace (sonic_agent/mirror/xdp.py) mirrors these layouts with ctypes and reads the reason
 * names from the BTF the kernel keeps for the maps (enum mirror_reason): MIRROR_OUTER_FRAGMENT
 * becomes "outer_fragment", the name the erspan library gives the same outcome.
 */
#ifndef ERSPAN_DECODER_H
#define ERSPAN_DECODER_H

#define MIRROR_NO_ID 0xFFFF /* a vlan or session id that does not apply */
#define MIRROR_NO_DIRECTION 0xFF
#define MIRROR_SEQ_SEEN (1ULL << 32) /* mirror_session.seq holds a sequence number */
#define MIRROR_VENDOR_HEADER_MAX 255 /* bytes after a GRE 0x8949 header */

/* What became of a frame. OK, ERSPAN_FRAME_TYPE and INNER_NOT_IP frames are decoded (counted
 * in their session, dropped when mirror_config.drop); every other reason passes the frame to
 * the stack, where the userspace decoder (the erspan library) can take it. Order is free:
 * userspace goes by name. */
enum mirror_reason {
	MIRROR_OK, /* a flow */
	MIRROR_ERSPAN_FRAME_TYPE, /* ERSPAN III frame type other than Ethernet or IP */
	MIRROR_INNER_NOT_IP, /* the mirrored frame is not IP (ARP, LLDP, ...) */
	MIRROR_NOT_MIRROR, /* not IP over GRE (or more than 4 outer VLAN tags) */
	MIRROR_GRE_NOT_MIRROR, /* a GRE protocol that carries no mirror stream */
	MIRROR_OUTER_FRAGMENT, /* every outer IPv4/IPv6 fragment, first ones included */
	MIRROR_OUTER_L2_TRUNCATED,
	/* the outer and inner IP reasons: same order (enum ip_result in the program) */
	MIRROR_OUTER_IP_TRUNCATED,
	MIRROR_OUTER_IP_VERSION,
	MIRROR_OUTER_IPV4_HEADER_LENGTH,
	MIRROR_OUTER_IPV4_TOTAL_LENGTH,
	MIRROR_OUTER_IPV6_EXT_TRUNCATED,
	MIRROR_OUTER_IPV6_EXT_CHAIN, /* more than 8 extension headers */
	MIRROR_INNER_IP_TRUNCATED,
	MIRROR_INNER_IP_VERSION,
	MIRROR_INNER_IPV4_HEADER_LENGTH,
	MIRROR_INNER_IPV4_TOTAL_LENGTH,
	MIRROR_INNER_IPV6_EXT_TRUNCATED,
	MIRROR_INNER_IPV6_EXT_CHAIN,
	MIRROR_GRE_TRUNCATED,
	MIRROR_GRE_ROUTING,
	MIRROR_GRE_VERSION,
	MIRROR_ERSPAN_TRUNCATED,
	MIRROR_ERSPAN_VERSION,
	MIRROR_VENDOR_HEADER_TRUNCATED,
	MIRROR_INNER_L2_TRUNCATED,
	MIRROR_FLOW_UPDATE_FAILED, /* the flow map refused an insert: userspace counts the frame */
	MIRROR_REASONS
};

struct mirror_addrs {
	__u8 src[16]; /* IPv4: the last 4 bytes, the first 12 zero */
	__u8 dst[16];
};

/* mirror_flows: LRU hash, one entry per flow of one mirror stream, shared by all CPUs (atomic
 * adds). `stream` is the seeded 64-bit hash of the stream's mirror_session_key (outer
 * addresses, GRE protocol, session id): flows of two switches that use one session id stay
 * apart. Keys that differ in one of the hash's five words never collide (each step is a
 * bijection), so streams differing only in the outer source, the outer destination or the
 * GRE protocol and session id are always apart; others collide with a chance near 2^-64. */
struct mirror_flow_key {
	__u64 stream;
	struct mirror_addrs addrs;
	__u16 sport; /* ICMP/ICMPv6 type; valid when has_ports */
	__u16 dport; /* ICMP/ICMPv6 code */
	__u16 vlan; /* inner 802.1Q outermost tag, else the ERSPAN VLAN field if non-zero */
	__u16 session_id; /* ERSPAN II/III session id */
	__u8 erspan_type; /* 1, 2, 3; 0 for other GRE mirror streams */
	__u8 direction; /* ERSPAN III d bit: 0 ingress, 1 egress */
	__u8 version; /* inner IP: 4 or 6 */
	__u8 proto;
	__u8 has_ports;
	__u8 pad[3];
};

struct mirror_flow {
	__u64 packets;
	__u64 bytes; /* inner IP-layer bytes from the IP header */
	__u64 tcp_flag_bytes; /* byte i is 1 once a packet had TCP flag bit i: an OR kept by plain
			       * byte stores, which need no atomic (little-endian byte order) */
	__u64 first_seen_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 last_seen_ns;
	/* the mirror stream (its hash is in the key), set when the flow is created */
	struct mirror_addrs outer;
	__u16 gre_proto;
	__u8 outer_version;
	__u8 dscp; /* of the latest packet */
	__u32 port_index; /* the latest packet's: Type II index, Type III platform port/source index */
	__u8 has_port_index;
	__u8 pad[7];
};

/* mirror_sessions: one entry per mirror stream, shared by all CPUs, in an array used as a
 * set-associative cache: a stream's key hashes (seeded) to a set of MIRROR_SESSION_WAYS
 * slots; a new stream takes the set's first free slot, else evicts the slot seen least
 * recently. An array slot costs one inlined load where a hash map lookup costs ~30 ns.
 * Claims (new streams) are serialised per set by the lock of the set's first slot; counting
 * into a READY slot takes no lock (but the sequence mark on 5.10, see erspan_decoder.bpf.c). */
#define MIRROR_SESSION_WAYS 8
#define MIRROR_SESSION_PHASE 3 /* state: phase in the low 2 bits, the slot's claim count above */
#define MIRROR_SESSION_FREE 0
#define MIRROR_SESSION_CLAIMED 1 /* being (re)initialised under the set's lock */
#define MIRROR_SESSION_READY 2

struct mirror_session_key {
	struct mirror_addrs outer;
	__u16 gre_proto;
	__u16 session_id;
	__u8 outer_version;
	__u8 pad[3];
} __attribute__((aligned(8))); /* hashed and compared as 5 u64 words */

struct mirror_session {
	struct bpf_spin_lock lock; /* the set's claim lock, in its first slot only */
	__u32 pad;
	__u64 state;
	struct mirror_session_key key; /* valid when READY */
	__u64 packets; /* frames of the stream the kernel saw, decoded or passed */
	__u64 passed; /* of those, passed to userspace (inner headers the kernel path refused) */
	__u64 truncated; /* decoded frames: T bit, or the inner packet longer than the frame */
	__u64 lost; /* GRE sequence numbers skipped past the high-water mark */
	__u64 seq; /* MIRROR_SEQ_SEEN | highest sequence number, tagged with the slot's claim (above
		    * bit 32) so a late packet of an evicted stream cannot move the next one's mark */
	__u64 first_seen_ns;
	__u64 last_seen_ns;
};

/* mirror_reasons: per-CPU array of frame counts indexed by enum mirror_reason. */

/* mirror_stats: per-CPU, one entry. Flow evictions are derived by userspace: the LRU map
 * evicts silently, so evictions = inserts - entries present. */
struct mirror_stats {
	__u64 passed; /* frames passed to the stack (not decoded here) */
	__u64 flow_inserts;
	__u64 session_evictions;
	__u64 seq_contention; /* sequence numbers not applied: compare-and-swap kept losing */
};

/* mirror_config: one entry written by userspace before attaching; changes apply at once. */
struct mirror_config {
	__u32 vendor_header_len; /* GRE 0x8949: bytes before the mirrored frame (22 on Spectrum) */
	__u32 drop; /* 1: drop decoded mirror copies (XDP_DROP); 0: pass them on too */
	/* fixed before attaching: */
	__u32 session_sets; /* mirror_sessions has session_sets * MIRROR_SESSION_WAYS slots, a power of 2 */
	__u32 pad;
	__u64 session_seed; /* random: which set a stream lands in is not predictable from outside */
};

/* Capture for jobs (sonic_agent/jobs): decoded frames of the streams listed in mirror_capture
 * (outer addresses and GRE protocol; any session id) go to userspace through the mirror_frames
 * ring buffer, the mirrored frame cut to snap_len, while every frame is still decoded and
 * counted here. `streams` 0 (the default) costs one array load per frame of a stream. */
#define MIRROR_CAPTURE_STREAMS 8
#define MIRROR_CAPTURE_SNAP_MAX 256

struct mirror_capture_stream {
	struct mirror_addrs outer;
	__u16 gre_proto;
	__u8 outer_version;
	__u8 pad[5];
};

struct mirror_capture {
	__u32 streams; /* entries of `stream` in use */
	__u32 snap_len; /* <= MIRROR_CAPTURE_SNAP_MAX */
	__u64 dropped; /* frames not handed over: the ring buffer was full */
	struct mirror_capture_stream stream[MIRROR_CAPTURE_STREAMS];
};

struct mirror_captured { /* one mirror_frames record */
	__u64 time_ns; /* CLOCK_MONOTONIC */
	struct mirror_addrs outer;
	__u32 frame_len; /* bytes of the mirrored frame in the copy */
	__u32 cap_len; /* of those, in data */
	__u32 port_index;
	__u16 gre_proto;
	__u16 session_id;
	__u8 outer_version;
	__u8 direction; /* ERSPAN III d bit; MIRROR_NO_DIRECTION */
	__u8 has_port_index;
	__u8 ip_only; /* the copy carries an IP packet, not an Ethernet frame (ERSPAN III ft=2, GRE IP) */
	__u32 pad;
	__u8 data[MIRROR_CAPTURE_SNAP_MAX];
};

#endif
