"""Figures from pgload's logs (bench/run calls it; Debian's /usr/bin/python3, stdlib only).

  analyze.py flows APPS_LOG DEVICES_LOG WARMUP_S      (DEVICES_LOG "-": flows only)
      one line of key=value: flows/s over the measured window (answers received after the
      warm-up), decision latency (application received the 200 - device sent its signed
      approval, both CLOCK_REALTIME ns on this machine) and whole-flow latency
      (POST /auth sent -> 200 received) percentiles in ms, and error counts.

  analyze.py metrics PORT METRIC SOURCE_ADDRESS PID...
      the sum over the server processes PID... (PUSHGATE_WORKERS: each answers /metrics for
      itself, and the kernel picks which one accepts a connection) of a /metrics line, e.g.
      'pushgate_held_requests{kind="device_poll"}': opens a batch of connections to
      127.0.0.1:PORT from SOURCE_ADDRESS (127.0.0.N), sends GET /metrics on each, learns from the kernel (ss -p) which
      process accepted each, and keeps one answer per process; a few batches at most.
      Prints "sum=N processes=K of=M per_process=pid:value,...".
"""
import http.client
import re
import subprocess
import sys
import time


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def flows(apps_log, dev_log, warmup_s):
    sent = {}
    with open(dev_log if dev_log != "-" else "/dev/null") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                sent.setdefault(parts[0], int(parts[1]))  # the first answer sent
    rows = []
    with open(apps_log) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5:
                rows.append((parts[0], int(parts[1]), int(parts[2]), int(parts[3]), parts[4]))
    if not rows:
        print("flows=0 flows_per_s=0 errors=0")
        return
    t0 = min(r[1] for r in rows) + int(warmup_s * 1e9)
    window = [r for r in rows if r[2] >= t0]
    ok = [r for r in window if r[3] == 200 and r[4] == "accepted"]
    errors = len(window) - len(ok)
    t_end = max(r[2] for r in window) if window else t0
    secs = max(1e-9, (t_end - t0) / 1e9)
    decision = [(r[2] - sent[r[0]]) / 1e6 for r in ok if r[0] in sent]
    flow = [(r[2] - r[1]) / 1e6 for r in ok]
    neg = sum(1 for d in decision if d < 0)
    print(f"flows={len(ok)} seconds={secs:.2f} flows_per_s={len(ok) / secs:.1f} errors={errors} "
          f"matched={len(decision)} negative={neg} "
          f"decision_p50_ms={pct(decision, 50):.3f} decision_p90_ms={pct(decision, 90):.3f} "
          f"decision_p99_ms={pct(decision, 99):.3f} decision_max_ms={max(decision or [0]):.3f} "
          f"flow_p50_ms={pct(flow, 50):.3f} flow_p99_ms={pct(flow, 99):.3f}")


def metric_of(text, name):
    total = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            total = (total or 0) + float(parts[1])
    return total


def metrics(port, name, source, pids):
    want = set(pids)
    got = {}
    t_end = time.monotonic() + 30  # a bound for a saturated server
    for _ in range(8):
        if want <= set(got) or time.monotonic() > t_end:
            break
        conns = {}
        for _ in range(max(16, 8 * len(want - set(got)))):
            if time.monotonic() > t_end:
                break
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
            try:
                c.request("GET", "/metrics")
                r = c.getresponse()
                body = r.read().decode()
            except OSError:
                c.close()
                continue
            conns[c.sock.getsockname()[1]] = (c, body)
        if not conns:
            continue
        ports = " or ".join(f"dport = :{lp}" for lp in conns)
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} ) and ( {ports} )"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"127\.\d+\.\d+\.\d+:(\d+)\s+users:.*pid=(\d+)", line)
            if not m:
                continue
            lp, pid = int(m.group(1)), int(m.group(2))
            if pid in want and pid not in got and lp in conns:
                v = metric_of(conns[lp][1], name)
                if v is not None:
                    got[pid] = v
        for c, _ in conns.values():
            c.close()
    per = ",".join(f"{pid}:{got[pid]:.0f}" for pid in sorted(got))
    print(f"sum={sum(got.values()):.0f} processes={len(got)} of={len(want)} per_process={per or '-'}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "flows":
        flows(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) >= 6 and sys.argv[1] == "metrics":
        metrics(int(sys.argv[2]), sys.argv[3], sys.argv[4], [int(p) for p in sys.argv[5:]])
    else:
        sys.exit(__doc__)
