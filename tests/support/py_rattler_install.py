"""Install specs from a channel into a prefix with py-rattler, an independent conda client.

usage: py_rattler_install.py CHANNEL PREFIX SPEC...
Prints one JSON object: the solved records (name, version, build, subdir, url).
CHANNEL is a directory, a file:// or an http(s):// URL. The machine's virtual packages
(`__glibc`, …) are detected as conda clients do; CONDA_OVERRIDE_GLIBC lowers or raises
the glibc it reports.
"""
import asyncio
import json
import os
import sys

from rattler import Channel, VirtualPackage, VirtualPackageOverrides, install, solve


async def main() -> None:
    channel_arg, prefix, *specs = sys.argv[1:]
    if "://" not in channel_arg:
        channel_arg = "file://" + os.path.abspath(channel_arg)
    channel = Channel(channel_arg)
    records = await solve(
        [channel], specs, platforms=["linux-64", "noarch"], virtual_packages=VirtualPackage.detect(VirtualPackageOverrides.from_env())
    )
    cache = os.environ.get("RATTLER_BENCH_CACHE")
    await install(records, target_prefix=prefix, show_progress=False, **({"cache_dir": cache} if cache else {}))
    print(json.dumps({
        "records": [
            {"name": r.name.normalized, "version": str(r.version), "build": str(r.build), "subdir": str(r.subdir), "url": str(r.url)}
            for r in records
        ]
    }))
    # The install is complete and reported. py-rattler 0.28 has been seen dying by
    # SIGSEGV while the interpreter shuts down after two installs ran at once (the
    # records already printed): end here, without that teardown.
    sys.stdout.flush()
    os._exit(0)


asyncio.run(main())
