"""Dumps what a PVH guest is handed, from a QEMU that runs stub.elf.

Usage: capture.py QMP_SOCKET OUTPUT_DIRECTORY

QEMU must already run the stub with `-qmp unix:QMP_SOCKET,server,wait=off`.
Once the stub halts, this reads ebx (the start info's address) and follows
every pointer the parsers follow: the start info, the memory map, the command
line, the module list and modules, the RSDP, the RSDT or XSDT and each table
it lists. Each region is saved as OUTPUT_DIRECTORY/<address>-<what>.bin, the
address in 16 hex digits: the file name is the region's physical base.
"""

import json
import os
import socket
import struct
import sys
import tempfile
import time


class Monitor:
    """A QMP connection: one command at a time, events skipped."""

    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX)
        for _ in range(100):
            try:
                self.socket.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.1)
        self.stream = self.socket.makefile("rw")
        self.reply()  # the greeting
        self.command("qmp_capabilities")

    def reply(self):
        while True:
            message = json.loads(self.stream.readline())
            if "event" not in message:
                return message

    def command(self, name, **arguments):
        self.stream.write(json.dumps({"execute": name, "arguments": arguments}) + "\n")
        self.stream.flush()
        message = self.reply()
        if "error" in message:
            raise RuntimeError(f"{name}: {message['error']}")
        return message["return"]

    def registers(self):
        text = self.command("human-monitor-command", **{"command-line": "info registers"})
        fields = {}
        for word in text.split():
            name, _, value = word.partition("=")
            if value:
                fields.setdefault(name, value)
        return fields

    def read(self, address, size):
        with tempfile.NamedTemporaryFile() as file:
            self.command("pmemsave", val=address, size=size, filename=file.name)
            return file.read()


def main(socket_path, output):
    monitor = Monitor(socket_path)
    # The stub's `hlt` is at 0x100001; once eip has passed it, ebx is final.
    for _ in range(100):
        registers = monitor.registers()
        if int(registers["EIP"], 16) in (0x100002, 0x100003):
            break
        time.sleep(0.1)
    else:
        sys.exit(f"the stub never halted: {registers}")
    start_info = int(registers["EBX"], 16)
    os.makedirs(output, exist_ok=True)

    def save(address, size, what):
        data = monitor.read(address, size)
        with open(os.path.join(output, f"{address:016x}-{what}.bin"), "wb") as file:
            file.write(data)
        return data

    header = monitor.read(start_info, 8)
    magic, version = struct.unpack_from("<II", header)
    assert magic == 0x336EC578, f"bad magic {magic:#x}"
    info = save(start_info, 56 if version >= 1 else 40, "start-info")
    _, _, _, modules, modlist, cmdline, rsdp = struct.unpack_from("<IIIIQQQ", info)
    if version >= 1:
        memmap, entries = struct.unpack_from("<QI", info, 40)
        if entries:
            save(memmap, entries * 24, "memory-map")
    if cmdline:
        text = monitor.read(cmdline, 4096)
        save(cmdline, text.index(b"\0") + 1, "command-line")
    if modules:
        listing = save(modlist, modules * 32, "module-list")
        for index in range(modules):
            address, size = struct.unpack_from("<QQ", listing, index * 32)
            save(address, size, f"module-{index}")
    if rsdp:
        save_acpi(monitor, save, rsdp)
    try:
        monitor.command("quit")
    except (json.JSONDecodeError, ConnectionError):
        pass  # QEMU may close the socket before it answers


def save_acpi(monitor, save, rsdp):
    revision = monitor.read(rsdp, 20)[15]
    if revision >= 2:
        length = struct.unpack_from("<I", monitor.read(rsdp, 24), 20)[0]
        pointer = save(rsdp, length, "rsdp")
        root, width = struct.unpack_from("<Q", pointer, 24)[0], 8
    else:
        pointer = save(rsdp, 20, "rsdp")
        root, width = struct.unpack_from("<I", pointer, 16)[0], 4
    table = save_table(monitor, save, root)
    for offset in range(36, len(table), width):
        (address,) = struct.unpack_from("<Q" if width == 8 else "<I", table, offset)
        save_table(monitor, save, address)


def save_table(monitor, save, address):
    header = monitor.read(address, 36)
    signature = header[:4].decode("ascii")
    (length,) = struct.unpack_from("<I", header, 4)
    return save(address, length, signature.lower())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
