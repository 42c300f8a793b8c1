#!/usr/bin/env python3
"""Benchmark helper for scripts/bench/capacity.sh (Python 3 stdlib only).

  capclient.py hold HOST:PORT N PIDS [WAIT_S]
      Opens N TCP connections, sends one keep-alive GET /healthz on each,
      reads the answer, keeps them all open, and reports the RSS of PIDS
      (comma-separated, summed) before and with the connections held, the
      bytes per connection, curl's time_total for a new request meanwhile,
      and how many of the N are still open after WAIT_S seconds (default 5).

  capclient.py slow HOST:PORT KEY PID SECONDS
      One streamed chat completion read at 1 byte a second (after its head,
      read at full speed) through a small receive buffer, for SECONDS, while
      the RSS of PID is printed after 1 s and every 5 s: with backpressure
      it stays flat however long the answer. Then the rest is read at full
      speed: the stream must still end with data: [DONE].

Prints "name value" lines. Not a test.
"""
import os
import selectors
import socket
import subprocess
import sys
import time


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def split_addr(a):
    host, _, port = a.rpartition(":")
    return host, int(port)


def read_answers(socks, deadline):
    """Reads one HTTP answer on each socket; returns (ok, failures by reason)."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    ok, bad = 0, {}
    pending = len(socks)

    def failed(s, why):
        bad[why] = bad.get(why, 0) + 1
        sel.unregister(s)

    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError as e:
                failed(s, f"recv: {e.strerror}")
                pending -= 1
                continue
            if not data:
                failed(s, "closed before the answer")
                pending -= 1
                continue
            b = bufs[s] + data
            bufs[s] = b
            end = b.find(b"\r\n\r\n")
            if end < 0:
                continue
            head = b[:end].decode("latin-1").split("\r\n")
            length = 0
            close = False
            for h in head[1:]:
                name, _, value = h.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and "close" in value.lower():
                    close = True
            if len(b) < end + 4 + length:
                continue
            sel.unregister(s)
            pending -= 1
            status = head[0].split()[1] if len(head[0].split()) > 1 else "?"
            if status != "200":
                bad[f"status {status}"] = bad.get(f"status {status}", 0) + 1
            elif close:
                bad["Connection: close"] = bad.get("Connection: close", 0) + 1
            else:
                ok += 1
    if pending:
        bad["no answer in time"] = bad.get("no answer in time", 0) + pending
    sel.close()
    return ok, bad


def still_open(socks):
    """Counts sockets the peer has not closed (no EOF, no error pending)."""
    n = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data:  # unexpected bytes, but open
                n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def hold(addr, n, pids, wait_s):
    host, port = split_addr(addr)
    req = (f"GET /healthz HTTP/1.1\r\nHost: {addr}\r\n"
           "Connection: keep-alive\r\n\r\n").encode()
    rss0 = rss_kb(pids)
    socks, connect_fail = [], {}
    ok_total, bad_total = 0, {}
    t0 = time.monotonic()
    batch = 500
    for start in range(0, n, batch):
        part = []
        for _ in range(start, min(n, start + batch)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.settimeout(5)
                s.connect((host, port))
                s.sendall(req)
            except OSError as e:
                why = f"connect: {e.strerror or e}"
                connect_fail[why] = connect_fail.get(why, 0) + 1
                s.close()
                continue
            part.append(s)
        ok, bad = read_answers(part, time.monotonic() + 10)
        ok_total += ok
        for k, v in bad.items():
            bad_total[k] = bad_total.get(k, 0) + v
        socks += part
    t_held = time.monotonic()
    print(f"connections_requested {n}")
    print(f"connections_answered_keepalive {ok_total}")
    for k, v in list(connect_fail.items()) + list(bad_total.items()):
        print(f"connections_failed[{k}] {v}")
    print(f"open_seconds {t_held - t0:.2f}")
    time.sleep(1)
    rss1 = rss_kb(pids)
    print(f"rss_before_kb {rss0}")
    print(f"rss_held_kb {rss1}")
    if ok_total:
        print(f"bytes_per_connection {(rss1 - rss0) * 1024 / ok_total:.0f}")
    t = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                        "--max-time", "10", f"http://{addr}/healthz"],
                       capture_output=True, text=True).stdout.split()
    print(f"new_request_status {t[0] if t else '?'}")
    print(f"new_request_time_total_s {t[1] if len(t) > 1 else '?'}")
    rest = wait_s - (time.monotonic() - t_held)
    if rest > 0:
        time.sleep(rest)
    print(f"still_open_after_{wait_s:g}s {still_open(socks)}")
    print(f"rss_after_wait_kb {rss_kb(pids)}")
    for s in socks:
        s.close()


def slow(addr, key, pid, seconds):
    host, port = split_addr(addr)
    body = ('{"model":"mock-1","stream":true,"messages":'
            '[{"role":"user","content":"write a very long answer"}]}')
    req = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\n"
           f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window, set before connecting, so that the kernel on
    # the client side holds little and backpressure reaches serve quickly.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    print(f"rss_before_request_kb {rss_kb([pid])}")
    s.sendall(req)
    head = b""
    while b"\r\n\r\n" not in head:  # the head at full speed, then 1 byte/s
        c = s.recv(1)
        if not c:
            print("closed before the head")
            return
        head += c
    status_line = head.split(b"\r\n")[0].decode()
    print(f"status_line {status_line}")
    t0 = time.monotonic()
    got = 0
    print(f"rss_start_kb {rss_kb([pid])}")
    peak = 0
    marks = [1] + list(range(5, int(seconds) + 1, 5))
    while marks:
        el = time.monotonic() - t0
        if el >= marks[0]:
            print(f"rss_after_{marks.pop(0)}s_kb {rss_kb([pid])}")
            continue
        c = s.recv(1)
        if not c:
            print("stream_ended_early closed by serve during the slow phase")
            break
        got += 1
        peak = max(peak, rss_kb([pid]))
        time.sleep(1)
    print(f"rss_peak_sampled_kb {peak}")
    print(f"bytes_read_slowly {got}")
    # Then the rest at full speed: the stream must still be whole.
    s.settimeout(5)
    tail = b""
    rest = 0
    done = False
    t1 = time.monotonic()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            rest += len(d)
            tail = (tail + d)[-64:]
            if b"data: [DONE]" in tail:
                done = True
                break
    except socket.timeout:
        print("rest_stalled no byte for 5 s")
    print(f"rest_bytes {rest}")
    print(f"rest_seconds {time.monotonic() - t1:.2f}")
    print(f"rest_reached_done {'yes' if done else 'no'}")
    s.close()


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "hold":
        pids = [int(p) for p in sys.argv[4].split(",")]
        hold(sys.argv[2], int(sys.argv[3]), pids, float(sys.argv[5]) if len(sys.argv) > 5 else 5)
    elif len(sys.argv) == 6 and sys.argv[1] == "slow":
        slow(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
