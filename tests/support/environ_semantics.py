# os.environ, os.getenv, os.putenv/os.unsetenv and subprocess environments behave as
# on any CPython: run on the mitigated interpreter and compared with expectations.
import ctypes, os, subprocess, sys

libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
def c_getenv(name):
    value = libc.getenv(name.encode())
    return None if value is None else value.decode()

os.environ["FTF_A"] = "1"
assert os.getenv("FTF_A") == "1" and c_getenv("FTF_A") == "1"
os.environ["FTF_A"] = "two"
assert c_getenv("FTF_A") == "two"
del os.environ["FTF_A"]
assert os.getenv("FTF_A") is None and c_getenv("FTF_A") is None
os.putenv("FTF_B", "putenv")
assert c_getenv("FTF_B") == "putenv" and "FTF_B" not in os.environ  # os.putenv bypasses the mapping, as documented
os.unsetenv("FTF_B")
assert c_getenv("FTF_B") is None
for bad in ["", "A=B"]:
    try:
        os.putenv(bad, "x")
    except ValueError:
        pass
    else:
        raise AssertionError(f"putenv({bad!r}) accepted")
os.environ["FTF_CHILD"] = "inherited"
out = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('FTF_CHILD'), os.environ.get('FTF_EXTRA'))"],
                     capture_output=True, text=True, check=True).stdout.split()
assert out == ["inherited", "None"], out
env = dict(os.environ, FTF_EXTRA="given")
out = subprocess.run([sys.executable, "-c", "import os; print(os.environ['FTF_EXTRA'])"], env=env, capture_output=True, text=True, check=True).stdout.strip()
assert out == "given", out
# Many updates keep every value readable from C.
for i in range(20000):
    os.environ[f"FTF_MANY_{i % 300}"] = str(i)
assert all(c_getenv(f"FTF_MANY_{k}") is not None for k in range(300))
libc.clearenv()
assert c_getenv("FTF_CHILD") is None and c_getenv("PATH") is None
print("environ semantics ok")
