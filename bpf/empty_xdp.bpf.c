// SPDX-License-Identifier: GPL-2.0
/* The baseline for bench/probe_cost.py: an XDP program that only passes the frame. */
#include "kernel.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int empty_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
