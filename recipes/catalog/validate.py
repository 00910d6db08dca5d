#!/usr/bin/env python3
"""Checks a catalog file (compiled-top.txt, smoke.txt) against the package index pip is
configured with: every entry must name a project whose newest release has a source
distribution (ftforge builds from sdists) and, for compiled-top.txt, wheels that hold
compiled extension modules (a wheel whose ABI tag is not `none`: cp314, cp314t, abi3, …).

    python3 recipes/catalog/validate.py recipes/catalog/compiled-top.txt
    python3 recipes/catalog/validate.py --pure-ok recipes/catalog/smoke.txt
    python3 recipes/catalog/validate.py --ranks RANKS.tsv recipes/catalog/compiled-top.txt

One line per entry: the newest release with an sdist, its compiled wheels' ABI tags, and
whether the project publishes a free-threaded (`t`) wheel. Exit status 1 when an entry
fails. The index is read with PEP 691's JSON (as ftforge's own sources are); no host is
written here: pip's configuration (or pip's default) names it.

`--ranks` reads a tab-separated file with the columns `name` and
`rank_among_15000_most_downloaded` (the download ranking the catalog was chosen from)
and prints each entry's rank.
"""

import argparse
import json
import sys
import urllib.request

from pip._internal.configuration import Configuration
from pip._internal.models.index import PyPI
from pip._vendor.packaging.utils import (
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pip._vendor.packaging.version import InvalidVersion

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def index_url():
    """The index pip is configured with, as ftforge's mirrors.rs asks pip for it."""
    config = Configuration(isolated=False)
    config.load()
    for key in (
        ":env:.index-url",
        "download.index-url",
        "install.index-url",
        "global.index-url",
    ):
        try:
            return config.get_value(key)
        except Exception:
            pass
    return PyPI.simple_url


def entries(path):
    """Project names of a requirements file: one a line, `#` comments."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if not all(c.isalnum() or c in "-_." for c in line):
                sys.exit(f"{path}:{number}: `{line}` is not a bare project name")
            out.append((number, line))
    return out


def project_page(index, name):
    url = index.rstrip("/") + "/" + canonicalize_name(name) + "/"
    request = urllib.request.Request(url, headers={"Accept": SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def newest_with_sdist(page):
    """(version, the version's files) of the newest final release with an sdist."""
    by_version = {}
    for file in page.get("files", []):
        if file.get("yanked"):
            continue
        name = file["filename"]
        try:
            if name.endswith(".whl"):
                _, version, _, tags = parse_wheel_filename(name)
                by_version.setdefault(version, {"sdist": None, "wheels": []})
                by_version[version]["wheels"].append(tags)
            elif name.endswith((".tar.gz", ".zip")):
                _, version = parse_sdist_filename(name)
                by_version.setdefault(version, {"sdist": None, "wheels": []})
                by_version[version]["sdist"] = name
        except (InvalidVersion, ValueError):
            continue
    for version in sorted(by_version, reverse=True):
        if version.is_prerelease or version.is_devrelease:
            continue
        if by_version[version]["sdist"]:
            return version, by_version[version]
    return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog")
    parser.add_argument(
        "--pure-ok",
        action="store_true",
        help="entries need an sdist only (for smoke.txt, which has a pure-Python entry)",
    )
    parser.add_argument("--ranks", help="TSV with name and rank columns")
    parser.add_argument(
        "--at-least", type=int, default=0, help="fail when the file has fewer entries"
    )
    args = parser.parse_args()

    ranks = {}
    if args.ranks:
        with open(args.ranks, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            name_col = header.index("name")
            rank_col = header.index("rank_among_15000_most_downloaded")
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) > rank_col and cols[rank_col]:
                    ranks[canonicalize_name(cols[name_col])] = int(cols[rank_col])

    index = index_url()
    listed = entries(args.catalog)
    failures = 0
    seen = set()
    for number, name in listed:
        canonical = canonicalize_name(name)
        problem = None
        if canonical in seen:
            problem = "listed twice"
        seen.add(canonical)
        version, files = None, None
        if problem is None:
            try:
                version, files = newest_with_sdist(project_page(index, name))
            except Exception as e:  # the page could not be read: say so, go on
                problem = f"cannot read its index page: {e}"
        abis = []
        if problem is None and version is None:
            problem = "no release with an sdist"
        if problem is None:
            abis = sorted(
                {t.abi for tags in files["wheels"] for t in tags if t.abi != "none"}
            )
            if not abis and not args.pure_ok:
                problem = f"{version} has no wheel with compiled extensions"
        rank = ranks.get(canonical, "")
        if problem:
            failures += 1
            print(f"FAIL {name:28} {rank!s:>6}  {args.catalog}:{number}: {problem}")
        else:
            ft = "yes" if any(a.endswith("t") and a.startswith("cp") for a in abis) else "no"
            shown = ",".join(abis[-4:]) or "none (pure)"
            print(f"ok   {name:28} {rank!s:>6}  {version!s:14} ft-wheel={ft:3}  abis={shown}")
    print(f"{len(listed)} entries, {failures} failed")
    if len(listed) < args.at_least:
        print(f"fewer than {args.at_least} entries")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
