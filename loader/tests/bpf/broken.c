/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broken.c: a classifier the verifier must reject. It reads the packet
 * without a bounds check and shares the datapath's maps, so loading it
 * exercises the same path as a real program upgrade.
 */
#include "pipeline.h"

SEC("classifier")
int moat_from_pod(struct __sk_buff *skb)
{
	__u8 *data = (void *)(long)skb->data;

	/* No check against data_end: the verifier rejects this read. */
	return data[64];
}

char LICENSE[] SEC("license") = "GPL";
