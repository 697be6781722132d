#!/usr/bin/env python3
"""RFC 3550 jitter of each loopback UDP flow from kernel receive stamps.

Reads the lines of `lo_stamps` (probe/examples/lo_stamps.rs: kernel stamp ns,
source port, destination port, payload length, first 28 payload octets in hex)
and, for each flow of at least --min-packets datagrams, prints what its
sender's stamps and the kernel's arrival stamps say:

  J kernel      RFC 3550 (J += (|D| - J)/16) with transit = kernel RX stamp
                minus the sender's stamp in the datagram, nanoseconds kept
  J kernel us   the same with both stamps cut to whole microseconds (iperf3's
                resolution)
  mean |D|      the unsmoothed mean change in transit
  bursts        datagrams arriving < 10 us after the previous one belong to
                the same burst; burst size and the gap between bursts

Flows are told apart by their payload: "HMBD" is probe bw (sequence and
send time in ns at octets 12 and 20); otherwise iperf3 (seconds, microseconds
and a 32-bit counter at octets 0, 4 and 8; CLOCK_MONOTONIC).

usage: jitter-truth.py stamps.txt [--min-packets N] [--json]
"""
import json
import statistics
import sys


def rfc3550(transits):
    j, prev, sum_d, n = 0.0, None, 0.0, 0
    for t in transits:
        if prev is not None:
            d = abs(t - prev)
            j += (d - j) / 16.0
            sum_d += d
            n += 1
        prev = t
    return j, (sum_d / n if n else 0.0)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else 0


def analyse(flow, rows):
    head = bytes.fromhex(rows[0][4])
    probe = head[:4] == b"HMBD"
    ks, sends, seqs = [], [], []
    for ts, _, _, _, hexs in rows:
        h = bytes.fromhex(hexs)
        if probe:
            if h[:4] != b"HMBD":
                continue
            seq = int.from_bytes(h[12:20], "big")
            if seq == (1 << 64) - 1:
                continue  # a hello
            send = int.from_bytes(h[20:28], "big")
        else:
            sec = int.from_bytes(h[0:4], "big")
            usec = int.from_bytes(h[4:8], "big")
            seq = int.from_bytes(h[8:12], "big")
            send = sec * 1_000_000_000 + usec * 1000
        ks.append(ts)
        sends.append(send)
        seqs.append(seq)
    if len(ks) < 2:
        return None
    jk, dk = rfc3550([k - s for k, s in zip(ks, sends)])
    jq, _ = rfc3550([k // 1000 * 1000 - s // 1000 * 1000 for k, s in zip(ks, sends)])
    gaps = [b - a for a, b in zip(ks, ks[1:])]
    send_gaps = [b - a for a, b in zip(sends, sends[1:])]
    bursts, size, between = [], 1, []
    for g in gaps:
        if g < 10_000:
            size += 1
        else:
            bursts.append(size)
            between.append(g)
            size = 1
    bursts.append(size)
    span = (ks[-1] - ks[0]) / 1e9
    octets = sum(r[3] for r in rows)
    return {
        "tool": "probe bw" if probe else "iperf3",
        "flow": f"{flow[0]}->{flow[1]}",
        "datagrams": len(ks),
        "seq_gaps": sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1),
        "mbit": octets * 8 / span / 1e6 if span else 0,
        "j_kernel_us": jk / 1000,
        "j_kernel_us_quantised": jq / 1000,
        "mean_abs_d_us": dk / 1000,
        "gap_p50_us": pct(gaps, 50) / 1000,
        "gap_p99_us": pct(gaps, 99) / 1000,
        "send_gap_p50_us": pct(send_gaps, 50) / 1000,
        "burst_mean": statistics.mean(bursts),
        "burst_p50": pct(bursts, 50),
        "burst_max": max(bursts),
        "between_bursts_p50_us": pct(between, 50) / 1000,
    }


def main():
    path = sys.argv[1]
    min_packets = 1000
    if "--min-packets" in sys.argv:
        min_packets = int(sys.argv[sys.argv.index("--min-packets") + 1])
    flows = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 5:
                continue
            row = (int(p[0]), int(p[1]), int(p[2]), int(p[3]), p[4])
            flows.setdefault((row[1], row[2]), []).append(row)
    out = [a for k, v in flows.items() if len(v) >= min_packets for a in [analyse(k, v)] if a]
    if "--json" in sys.argv:
        print(json.dumps(out))
        return
    for a in out:
        print(f"   {a['tool']:9} {a['flow']:13} {a['datagrams']:7d} datagrams {a['mbit']:6.1f} Mbit/s;"
              f" kernel-stamp RFC 3550 J {a['j_kernel_us']:.2f} us ({a['j_kernel_us_quantised']:.2f} us at 1 us"
              f" resolution), mean |D| {a['mean_abs_d_us']:.2f} us")
        print(f"   {'':23} arrivals: gap p50 {a['gap_p50_us']:.1f} us, p99 {a['gap_p99_us']:.1f} us;"
              f" bursts (< 10 us apart) mean {a['burst_mean']:.1f}, p50 {a['burst_p50']}, max {a['burst_max']},"
              f" {a['between_bursts_p50_us']:.1f} us apart (p50); sender stamps p50 gap {a['send_gap_p50_us']:.1f} us")


if __name__ == "__main__":
    main()
