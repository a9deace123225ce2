#!/usr/bin/env python3
"""An independent Modbus TCP server (pymodbus, not the MES's simulator) for
`mes bench acquisition --connect`: the register map of scripts/bench/acquisition-20-stations.toml
(20 stations of 200 holding registers, unit 1).

With --change-ms N the process data changes every N ms: each station's state word alternates
running/blocked and its in and good counters count up, so a collector polling at N ms commits
state intervals and counter samples on every scan.

    python3 -m venv /tmp/pymb && /tmp/pymb/bin/pip install pymodbus==3.8.6
    /tmp/pymb/bin/python scripts/bench/modbus-server.py --port 5502 [--change-ms 20]
"""

import argparse
import asyncio

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer

STATIONS = 20
SPAN = 200
RUNNING, BLOCKED = 2, 3


def u32(value):
    """A u32 as two big-endian registers, high word first (the profile's default order)."""
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


async def change(slave, every_ms):
    """Moves every station's state and counters each `every_ms` milliseconds, on a fixed rate."""
    loop = asyncio.get_running_loop()
    tick, n = loop.time(), 0
    while True:
        n += 1
        for k in range(STATIONS):
            base = k * SPAN
            slave.setValues(3, base, [RUNNING if n % 2 else BLOCKED])
            slave.setValues(3, base + 18, u32(n))
            slave.setValues(3, base + 36, u32(n))
        tick += every_ms / 1000.0
        await asyncio.sleep(max(0.0, tick - loop.time()))


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5502)
    parser.add_argument("--change-ms", type=int, default=0, help="change state and counters every N ms (0: never)")
    args = parser.parse_args()
    # The context adds 1 to every address (on reads and on the writes below alike).
    slave = ModbusSlaveContext(hr=ModbusSequentialDataBlock(0, [0] * (STATIONS * SPAN + 1)))
    for k in range(STATIONS):
        base = k * SPAN
        slave.setValues(3, base, [RUNNING])  # state
        slave.setValues(3, base + 72, u32(1))  # epoch
    context = ModbusServerContext(slaves=slave, single=True)
    if args.change_ms > 0:
        asyncio.get_running_loop().create_task(change(slave, args.change_ms))
    print(f"modbus server on {args.host}:{args.port}", flush=True)
    await StartAsyncTcpServer(context=context, address=(args.host, args.port))


if __name__ == "__main__":
    asyncio.run(main())
