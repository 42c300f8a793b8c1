#!/usr/bin/env python3
"""A streaming client for the end-to-end tests: POSTs a body to a URL on
127.0.0.1, reads the answer as it arrives, checks every event, and prints
one JSON summary line.

  stream_client.py URL BODY [HEADER...]

For an OpenAI stream (chat.completion.chunk events) every chunk must have
id, object, created, model and choices (each with index and delta, or the
usage chunk's empty choices), the first chunk must carry the assistant
role, and data: [DONE] must come last. For an Anthropic stream (events
with names) the event sequence must be Anthropic's. Violations are listed
under "errors"; the summary also has the text, the tool calls' arguments
joined per call, the finish reason, the usage, and the arrival time of
each event (to see that chunks are relayed as they come, not buffered)."""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, body = sys.argv[1], sys.argv[2].encode()
    headers = {"Content-Type": "application/json"}
    for h in sys.argv[3:]:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    u = urllib.parse.urlsplit(url)
    assert u.hostname == "127.0.0.1", "tests only talk to 127.0.0.1"
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    t0 = time.monotonic()
    conn.request("POST", u.path + (("?" + u.query) if u.query else ""), body, headers)
    resp = conn.getresponse()
    out = {"status": resp.status, "content_type": resp.getheader("Content-Type", ""),
           "events": 0, "names": [], "content": "", "tools": {}, "tool_names": {},
           "finish": None, "usage": None, "done": False, "errors": [], "times_ms": [],
           "error": None}
    if not out["content_type"].startswith("text/event-stream"):
        out["body"] = resp.read().decode("utf-8", "replace")
        print(json.dumps(out))
        return
    event, data = "", []
    first = True
    after_done = False

    def dispatch(event, text):
        nonlocal first, after_done
        out["events"] += 1
        out["times_ms"].append(round((time.monotonic() - t0) * 1000, 1))
        if event:
            out["names"].append(event)
        if after_done:
            out["errors"].append("an event after the end")
        if text == "[DONE]":
            out["done"] = True
            after_done = True
            return
        try:
            j = json.loads(text)
        except ValueError:
            out["errors"].append("not JSON: " + text[:80])
            return
        if event:  # Anthropic's stream
            anthropic(j, event)
            return
        if "error" in j:
            out["error"] = j["error"]
            return
        for k in ("id", "object", "created", "model", "choices"):
            if k not in j:
                out["errors"].append("chunk without " + k)
        if j.get("object") != "chat.completion.chunk":
            out["errors"].append("object is %r" % j.get("object"))
        if j.get("usage"):
            out["usage"] = j["usage"]
        choices = j.get("choices", [])
        if not choices and not j.get("usage"):
            out["errors"].append("a chunk with no choice and no usage")
        for c in choices:
            d = c.get("delta")
            if d is None or "index" not in c:
                out["errors"].append("choice without delta or index")
                continue
            if first and d.get("role") != "assistant":
                out["errors"].append("the first chunk has no assistant role")
            first = False
            if d.get("content"):
                out["content"] += d["content"]
            for tc in d.get("tool_calls") or []:
                i = str(tc["index"])
                fn = tc.get("function", {})
                if "name" in fn:
                    out["tool_names"][i] = fn["name"]
                out["tools"][i] = out["tools"].get(i, "") + fn.get("arguments", "")
            if c.get("finish_reason"):
                out["finish"] = c["finish_reason"]

    blocks = {}

    def anthropic(j, event):
        nonlocal after_done
        if j.get("type") != event:
            out["errors"].append("event %s carries type %s" % (event, j.get("type")))
        if event == "message_start":
            out["usage"] = j["message"]["usage"]
        elif event == "content_block_start":
            blocks[j["index"]] = j["content_block"]
            if j["content_block"]["type"] == "tool_use":
                out["tool_names"][str(j["index"])] = j["content_block"]["name"]
                out["tools"][str(j["index"])] = ""
        elif event == "content_block_delta":
            d = j["delta"]
            if j["index"] not in blocks:
                out["errors"].append("a delta for a block not started")
            if d["type"] == "text_delta":
                out["content"] += d["text"]
            elif d["type"] == "input_json_delta":
                out["tools"][str(j["index"])] += d["partial_json"]
        elif event == "message_delta":
            out["finish"] = j["delta"]["stop_reason"]
            out["usage"] = dict(out["usage"] or {}, **j.get("usage", {}))
        elif event == "message_stop":
            out["done"] = True
            after_done = True
        elif event == "error":
            out["error"] = j["error"]
            after_done = True

    buf = b""
    while True:
        piece = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not piece:
            break
        buf += piece
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8")
            if line == "":
                if data:
                    dispatch(event, "\n".join(data))
                event, data = "", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    if data:
        out["errors"].append("the stream ended inside an event")
    if not out["done"] and not out["error"]:
        out["errors"].append("the stream did not end properly")
    print(json.dumps(out))


main()
