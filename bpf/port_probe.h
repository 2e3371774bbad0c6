/* The port probes' kernel/user contract: map keys, values and names, declared once.
 *
 * Userspace (sonic_agent/probes/kernel.py) mirrors these layouts with ctypes and reads the
 * enum names (classes, directions, errors) from the BTF the kernel keeps for the maps, so a
 * class added here needs no second list of names in Python.
 */
#ifndef PORT_PROBE_H
#define PORT_PROBE_H

#define SIZE_BUCKETS 16 /* log2 of the frame length: bucket b counts [2^b, 2^(b+1)) */
#define GRPC_PORTS_MAX 8

enum probe_dir { PROBE_RX, PROBE_TX };

/* Order is the index into port_counts.cls; only ever append. */
enum probe_class {
	CLASS_OTHER_L2,
	CLASS_LLDP,
	CLASS_LACP, /* slow protocols: LACP, marker, OAM */
	CLASS_STP, /* 802.1D/RSTP/MSTP BPDUs and Cisco PVST+ */
	CLASS_ARP,
	CLASS_ND, /* ICMPv6 133..137 */
	CLASS_ICMP,
	CLASS_ICMP6, /* ICMPv6 other than ND */
	CLASS_BGP, /* TCP 179, either port */
	CLASS_BFD, /* UDP 3784, 3785, 4784 */
	CLASS_DHCP, /* UDP 67, 68 over IPv4 */
	CLASS_DHCP6, /* UDP 546, 547 over IPv6 */
	CLASS_SSH,
	CLASS_SNMP, /* UDP 161, 162 */
	CLASS_GRPC, /* TCP, probe_settings.grpc_ports */
	CLASS_SFLOW, /* UDP 6343 */
	CLASS_VXLAN, /* UDP 4789 */
	CLASS_TCP4,
	CLASS_UDP4,
	CLASS_OTHER_IP4,
	CLASS_OTHER_IP6,
	PROBE_CLASSES
};

/* probe_errors: what a bound or a missing entry made the kernel side skip (per-CPU). */
struct probe_errors {
	__u64 no_port_entry; /* frames on a device without a port_counts entry */
	__u64 talker_update; /* inserts the top-talker LRU map refused */
	__u64 drops_full; /* drops not counted: drop_counts is full */
};

/* port_counts: per-CPU hash; entries are created by userspace when it attaches a port. */
struct port_key {
	__u32 ifindex;
	enum probe_dir dir;
};

struct class_count {
	__u64 packets;
	__u64 bytes;
};

struct port_counts {
	struct class_count cls[PROBE_CLASSES];
	__u64 sizes[SIZE_BUCKETS];
	__u64 seq; /* frames since the last top-talker sample (this CPU) */
};

/* talkers: LRU hash of sampled frames towards the CPU (ingress only). */
struct talker_key {
	__u8 addr[16]; /* IPv6; IPv4 or (family 0) the source MAC in the first bytes */
	__u32 ifindex;
	enum probe_class klass;
	__u8 family; /* 4, 6 or 0 */
	__u8 proto; /* IP protocol / IPv6 next header */
	__u16 pad;
};

/* drop_counts: per-CPU hash of kfree_skb by (probed device, reason), agent's netns only. */
struct drop_key {
	__u32 ifindex;
	__u32 reason; /* enum skb_drop_reason of the running kernel */
};

/* settings: a one-entry array written by userspace; changes apply without reloading. */
struct probe_settings {
	__u32 talker_sample; /* 1 in N frames towards the CPU updates talkers; 0 disables */
	__u32 netns_ino; /* count drops only on devices of this network namespace */
	__u16 grpc_ports[GRPC_PORTS_MAX]; /* 0 ends the list */
};

#endif
