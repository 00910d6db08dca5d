# Prints what os.environ, os.getenv, os.putenv/os.unsetenv, C getenv/clearenv and
# subprocess environments do, one observation a line. The test runs it with the
# mitigation on and off (FTFORGE_ENVSAFE=0) and requires the same transcript.
import ctypes, os, subprocess, sys

libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
def c_getenv(name):
    value = libc.getenv(name.encode())
    return None if value is None else value.decode()

def show(label, fn):
    try:
        print(label, repr(fn()))
    except Exception as exc:
        print(label, "raises", type(exc).__name__, exc)

os.environ["FTF_A"] = "1"
show("getenv after set", lambda: (os.getenv("FTF_A"), c_getenv("FTF_A")))
os.environ["FTF_A"] = "two"
show("C getenv after overwrite", lambda: c_getenv("FTF_A"))
del os.environ["FTF_A"]
show("after del", lambda: (os.getenv("FTF_A"), c_getenv("FTF_A")))
os.putenv("FTF_B", "putenv")
show("putenv: C sees it, mapping does not", lambda: (c_getenv("FTF_B"), "FTF_B" in os.environ))
os.unsetenv("FTF_B")
show("after unsetenv", lambda: c_getenv("FTF_B"))
for bad in ["", "A=B"]:
    show(f"putenv({bad!r})", lambda: os.putenv(bad, "x"))
    show(f"unsetenv({bad!r})", lambda: os.unsetenv(bad))
show("setenv overwrite=0 keeps", lambda: (libc.setenv(b"FTF_C", b"first", 1), libc.setenv(b"FTF_C", b"second", 0), c_getenv("FTF_C")))
os.environ["FTF_CHILD"] = "inherited"
show("child inherits", lambda: subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('FTF_CHILD'), os.environ.get('FTF_EXTRA'))"],
                                              capture_output=True, text=True, check=True).stdout.split())
env = dict(os.environ, FTF_EXTRA="given")
show("child gets env=", lambda: subprocess.run([sys.executable, "-c", "import os; print(os.environ['FTF_EXTRA'])"],
                                               env=env, capture_output=True, text=True, check=True).stdout.strip())
for i in range(20000):
    os.environ[f"FTF_MANY_{i % 300}"] = str(i)
last = {i % 300: i for i in range(20000)}
show("all of many updates readable from C", lambda: all(c_getenv(f"FTF_MANY_{k}") == str(last[k]) for k in range(300)))
show("names in os.environ", lambda: sorted(k for k in os.environ if k.startswith("FTF_")))
libc.clearenv()
show("after clearenv", lambda: (c_getenv("FTF_CHILD"), c_getenv("PATH")))
libc.setenv(b"FTF_AFTER_CLEAR", b"yes", 1)
show("set after clearenv", lambda: c_getenv("FTF_AFTER_CLEAR"))
