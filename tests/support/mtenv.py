# The seed's mtenv.py: threads change os.environ while others call C functions that
# read the environment. On a free-threaded build over glibc < 2.40 without a
# mitigation it dies with SIGSEGV in getenv within seconds.
import os, sys, threading, time
stop = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 10)
def setter():
    i = 0
    while time.time() < stop:
        os.environ[f"MTENV_{i % 5000}"] = "x" * (i % 50)
        if i % 7 == 0:
            try: del os.environ[f"MTENV_{(i * 31) % 5000}"]
            except KeyError: pass
        i += 1
def getter():
    while time.time() < stop:
        time.mktime(time.localtime()); time.tzset()
ts = [threading.Thread(target=setter) for _ in range(2)] + [threading.Thread(target=getter) for _ in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
print("survived")
