"""Prints, as one JSON object, the sdist file name and sha256 the package index pip is
configured with lists for each PROJECT==VERSION argument: an independent reading of the
PEP 691 JSON pages (Python's json and urllib, not ftforge's code) for the tests of
`ftforge recipe new`."""

import json
import re
import sys
import urllib.request

from pip._internal.configuration import Configuration
from pip._internal.models.index import PyPI


def index_url():
    config = Configuration(isolated=False)
    config.load()
    for key in (":env:.index-url", "global.index-url", "install.index-url"):
        try:
            return config.get_value(key)
        except Exception:
            pass
    return PyPI.simple_url


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def main():
    index = index_url().rstrip("/")
    out = {}
    for arg in sys.argv[1:]:
        project, version = arg.split("==")
        request = urllib.request.Request(
            f"{index}/{normalize(project)}/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.load(response)
        for f in page["files"]:
            name = f["filename"]
            if not name.endswith(".tar.gz"):
                continue
            stem = name[: -len(".tar.gz")]
            prefix, _, file_version = stem.rpartition("-")
            if normalize(prefix) == normalize(project) and file_version == version:
                out[arg] = {"filename": name, "sha256": f["hashes"]["sha256"]}
    print(json.dumps(out))


main()
