"""Runs one ftforge build graph on a Dask cluster (`ftforge build --executor dask://…`).

ftforge (the coordinator) starts this script with the graph as JSON on stdin:

    {"scheduler": "tcp://HOST:8786",
     "ftforge": "ftforge",                      # the binary's name on the workers
     "retries": 2,                              # task retries on top of Dask's own
     "tasks": [{"id": 0, "name": "pyyaml 6.0.2 cp314t", "deps": [ids…],
                "recipe": "<base64 tar of the recipe folder>",
                "args": ["--variant", "{…}", "--channel", "http://…", …]}, …]}

Each task becomes one Dask future whose dependencies are the futures of the jobs it
waits for, submitted with `resources={"build": 1}` so a worker slot runs one build at
a time. On the worker the task runs `ftforge job run --recipe-archive FILE ARGS…` (the
same code as a local build), which takes host packages from the channel over HTTP and
uploads what it made; the task returns that command's stdout (its JSON report), the
tail of its stderr and the worker's address. A job whose dependency did not build
returns "blocked" without running. When a worker dies, Dask runs its tasks again on
another worker (`allowed-failures`), and `retries` covers a task that raised.

This script prints one JSON object per line on stdout, read by the coordinator:

    {"event": "connected", "workers": N, "build_slots": S}
    {"event": "started", "id": i, "worker": "tcp://…"}      # from the worker, via log_event
    {"event": "finished", "id": i, "ok": bool, "code": c, "worker": …, "stdout": …, "stderr": …}
    {"event": "error", "id": i, "message": …}               # the task itself failed (after retries)
    {"event": "lost", "message": …}                          # the scheduler went away

and exits 0 when every task reported, 2 when the scheduler went away, 1 on bad input.
Functions defined here are pickled by value (this file runs as `__main__`), so workers
need `distributed` and the ftforge binary, not this file.
"""

import json
import sys
import threading
import time

TOPIC = "ftforge"
# Events come from the main thread and from Dask's thread that delivers worker events:
# one line at a time.
_EMIT = threading.Lock()


def emit(**event):
    line = json.dumps(event) + "\n"
    with _EMIT:
        sys.stdout.write(line)
        sys.stdout.flush()


def run_job(task, ftforge, *dependencies):
    """Runs on a worker: one job of the graph through `ftforge job run`."""
    import base64
    import os
    import subprocess
    import tempfile

    from distributed import get_worker

    worker = get_worker()
    blocked = [d for d in dependencies if not d.get("ok")]
    if blocked:
        return {"id": task["id"], "ok": False, "code": None, "worker": worker.address,
                "blocked": blocked[0].get("blocked") or blocked[0]["name"], "name": task["name"],
                "stdout": "", "stderr": ""}
    worker.log_event(TOPIC, {"event": "started", "id": task["id"], "worker": worker.address})
    binary = os.environ.get("FTFORGE_BIN", ftforge)
    with tempfile.TemporaryDirectory(prefix="ftforge-task-") as tmp:
        archive = os.path.join(tmp, "recipe.tar")
        with open(archive, "wb") as f:
            f.write(base64.b64decode(task["recipe"]))
        token = None
        if task.get("token") is not None:
            token = os.path.join(tmp, "token")
            fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(task["token"])
        command = [binary, "job", "run", "--recipe-archive", archive, *task["args"]]
        if token:
            command += ["--upload-token-file", token]
        # A later variant of a shared build (noarch: python, abi3t) judges the package
        # the first variant made: its report comes from that task, or from the server.
        shared = task.get("shared_report")
        if task.get("shared_from") is not None:
            shared = next((d["stdout"] for d in dependencies if d["id"] == task["shared_from"]), None)
        if shared:
            report = os.path.join(tmp, "shared.json")
            with open(report, "w") as f:
                f.write(shared)
            command += ["--shared-report", report]
        done = subprocess.run(command, capture_output=True, text=True)
    return {
        "id": task["id"],
        "name": task["name"],
        "ok": done.returncode == 0,
        "code": done.returncode,
        "worker": worker.address,
        "stdout": done.stdout,
        # Enough of the log to read why; the full logs stay in the worker's work dir.
        "stderr": done.stderr[-200_000:],
    }


def main():
    try:
        graph = json.load(sys.stdin)
        scheduler = graph["scheduler"]
        tasks = graph["tasks"]
    except (ValueError, KeyError) as e:
        print(f"ftforge_dask: bad graph on stdin: {e}", file=sys.stderr)
        return 1

    import dask
    from distributed import Client, as_completed

    # A scheduler that goes away must stop the run, not leave it waiting for ever.
    dask.config.set({"distributed.comm.timeouts.connect": "10s"})
    try:
        client = Client(scheduler, timeout="10s")
    except Exception as e:  # noqa: BLE001 - any failure to connect is reported the same way
        emit(event="lost", message=f"cannot reach the Dask scheduler at {scheduler}: {e}")
        return 2

    workers = client.scheduler_info().get("workers", {})
    slots = sum(int(w.get("resources", {}).get("build", 0)) for w in workers.values())
    emit(event="connected", workers=len(workers), build_slots=slots)

    client.subscribe_topic(TOPIC, lambda event: emit(**event[1]))

    futures = {}
    by_key = {}
    for task in tasks:
        deps = [futures[d] for d in task["deps"]]
        future = client.submit(
            run_job, task, graph.get("ftforge", "ftforge"), *deps,
            key=f"ftforge-{task['id']}-{task['name'].replace(' ', '_')}",
            resources={"build": 1},
            retries=int(graph.get("retries", 2)),
            pure=False,
        )
        futures[task["id"]] = future
        by_key[future.key] = task["id"]

    lost = threading.Event()

    def watch():
        # The client reconnects for a while after losing the scheduler; past that,
        # its status is closed and nothing more will complete.
        while not lost.is_set():
            if client.status in ("closed", "closing", "failed"):
                lost.set()
                emit(event="lost", message=f"the Dask scheduler at {scheduler} went away")
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    remaining = set(futures)
    try:
        for future in as_completed(futures.values()):
            if lost.is_set():
                break
            task_id = by_key[future.key]
            remaining.discard(task_id)
            try:
                result = future.result()
            except Exception as e:  # noqa: BLE001 - the task's own error, after retries
                if client.status != "running":
                    # Cancelled because the scheduler is gone, not the task's failure.
                    remaining.add(task_id)
                    break
                emit(event="error", id=task_id, message=f"{type(e).__name__}: {e}")
                continue
            emit(event="finished", **result)
    except Exception as e:  # noqa: BLE001
        if not lost.is_set():
            emit(event="lost", message=f"the Dask scheduler at {scheduler} went away: {e}")
        lost.set()
    if remaining and not lost.is_set():
        lost.set()
        emit(event="lost", message=f"the Dask scheduler at {scheduler} went away")
    done = not lost.is_set()
    lost.set()
    try:
        client.close(timeout=5)
    except Exception:  # noqa: BLE001 - closing a client whose scheduler is gone
        pass
    return 0 if done else 2


if __name__ == "__main__":
    sys.exit(main())
