#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dlv_hostile.py: misbehaving SMTP servers for delivery robustness tests (asyncio, raw bytes).

  dlv_hostile.py --host 127.0.0.1 --port P --mode MODE --log FILE

Modes (each connection gets the same treatment; one line per connection goes to FILE):
  longline   an EHLO reply line of 1 MiB without CRLF
  endless    "250-" continuation lines after EHLO, forever (until the client goes)
  garbage    binary garbage instead of a greeting
  badcode    replies with codes like "999" and "2x0" after EHLO
  mid421     normal until RCPT TO, then "421" and close
  dropdata   reads the whole message, then closes without replying to the final dot
  dribble    a normal, accepting server whose replies come one byte every 20 ms
Prints "listening" once ready; runs until SIGTERM.
"""
import argparse
import asyncio
import os
import signal


async def readline(r):
    line = await r.readline()
    if not line:
        raise ConnectionError("eof")
    return line


async def serve(a, r, w):
    with open(a.log, "a") as f:
        f.write("conn %s\n" % a.mode)
    m = a.mode
    try:
        if m == "garbage":
            w.write(bytes(range(256)) * 64)
            await w.drain()
            await r.read(4096)
            return
        if m == "dribble":
            async def slow(data):
                for i in range(len(data)):
                    w.write(data[i:i + 1])
                    await w.drain()
                    await asyncio.sleep(0.02)
        else:
            async def slow(data):
                w.write(data)
                await w.drain()
        await slow(b"220 hostile ESMTP\r\n")
        await readline(r)
        if m == "longline":
            await slow(b"250-" + b"x" * (1 << 20))
            await r.read(4096)
            return
        if m == "endless":
            while True:
                await slow(b"250-" + b"y" * 60 + b"\r\n")
        if m == "badcode":
            await slow(b"999 what\r\n2x0 no\r\n")
            await r.read(4096)
            return
        await slow(b"250-hostile\r\n250 8BITMIME\r\n")
        while True:
            line = (await readline(r)).upper()
            if line.startswith(b"MAIL"):
                await slow(b"250 ok\r\n")
            elif line.startswith(b"RCPT"):
                if m == "mid421":
                    await slow(b"421 4.3.2 shutting down\r\n")
                    return
                await slow(b"250 ok\r\n")
            elif line.startswith(b"DATA"):
                await slow(b"354 go\r\n")
                while (await readline(r)) != b".\r\n":
                    pass
                if m == "dropdata":
                    with open(a.log, "a") as f:
                        f.write("dropped after data\n")
                    return
                with open(a.log, "a") as f:
                    f.write("accepted\n")
                await slow(b"250 ok\r\n")
            elif line.startswith(b"QUIT"):
                await slow(b"221 bye\r\n")
                return
            else:
                await slow(b"250 ok\r\n")
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        w.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    srv = await asyncio.start_server(lambda r, w: serve(a, r, w), a.host, a.port, limit=1 << 22)
    print("listening", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    async with srv:
        await stop.wait()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
