#!/usr/bin/env python3
"""What is in a WASM bundle: code bytes per crate, and the data segment.

Reads a module that still has its `name` section (the `frontend.wasm` cargo
writes, before wasm-bindgen and wasm-opt strip it), sums each function body's
size under the crate its (Rust-mangled) name starts with, and prints the top
contributors. Sizes are raw (before gzip); their shares are what matter.

    python3 end2end/bench/wasm_top.py \
        target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm [N]
"""

import re
import sys
from collections import Counter


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(data):
    assert data[:4] == b"\0asm", "not a WASM module"
    i = 8
    while i < len(data):
        kind = data[i]
        size, i = leb(data, i + 1)
        yield kind, data[i : i + size]
        i += size


def imported_functions(body):
    count, i = leb(body, 0)
    funcs = 0
    for _ in range(count):
        for _ in range(2):  # module, field
            n, i = leb(body, i)
            i += n
        kind = body[i]
        i += 1
        if kind == 0:  # function: type index
            _, i = leb(body, i)
            funcs += 1
        elif kind == 1:  # table: reftype + limits
            i += 1
            flags, i = leb(body, i)
            _, i = leb(body, i)
            if flags & 1:
                _, i = leb(body, i)
        elif kind == 2:  # memory: limits
            flags, i = leb(body, i)
            _, i = leb(body, i)
            if flags & 1:
                _, i = leb(body, i)
        elif kind == 3:  # global: type + mutability
            i += 2
    return funcs


def crate_of(name):
    """The first path segment of a mangled (legacy `_ZN`) or plain name."""
    m = re.match(r"_ZN(\d+)", name)
    if m:
        n = int(m.group(1))
        start = m.end()
        seg = name[start : start + n]
        if seg.startswith("_$LT$"):
            inner = re.search(r"_\$LT\$([A-Za-z_][A-Za-z0-9_]*)", seg)
            return (inner.group(1) if inner else seg) + " (impl)"
        return seg
    m = re.match(r"_R[a-zA-Z]*?(\d+)([A-Za-z_][A-Za-z0-9_]*)", name)
    if m:
        return m.group(2)[: int(m.group(1))]
    return name.split("::")[0] if "::" in name else "(other: " + name[:24] + ")"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    data = open(path, "rb").read()
    imports = 0
    bodies = []
    names = {}
    data_bytes = 0
    for kind, body in sections(data):
        if kind == 2:
            imports = imported_functions(body)
        elif kind == 10:
            count, i = leb(body, 0)
            for _ in range(count):
                size, j = leb(body, i)
                bodies.append(j + size - i)
                i = j + size
        elif kind == 11:
            data_bytes = len(body)
        elif kind == 0:
            n, i = leb(body, 0)
            if body[i : i + n] != b"name":
                continue
            i += n
            while i < len(body):
                sub = body[i]
                size, i = leb(body, i + 1)
                if sub == 1:
                    count, j = leb(body, i)
                    for _ in range(count):
                        idx, j = leb(body, j)
                        ln, j = leb(body, j)
                        names[idx] = body[j : j + ln].decode("utf-8", "replace")
                        j += ln
                i += size
    per_crate = Counter()
    for k, size in enumerate(bodies):
        per_crate[crate_of(names.get(imports + k, "?"))] += size
    code = sum(bodies)
    print(f"{path}: {len(data)} bytes; code {code}, data {data_bytes}, functions {len(bodies)}, named {len(names)}")
    for crate, size in per_crate.most_common(top):
        print(f"{size:>9}  {100 * size / code:5.1f} %  {crate}")


if __name__ == "__main__":
    main()
