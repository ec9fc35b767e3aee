"""Full or smoke. `make bench` runs every benchmark in full on a release build; `make test`
runs each with BENCH_SMOKE=1, on the debug build at tiny sizes, in seconds, so that a
benchmark which no longer runs fails the suite. Smoke numbers mean nothing and are not kept."""
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
BUILD = "debug" if SMOKE else "release"


def binary(name):
    """A product of the build this mode runs on."""
    return os.path.join(ROOT, ".build", BUILD, name)


def sized(full, smoke):
    """`full` in a real run, `smoke` in a smoke run."""
    return smoke if SMOKE else full


def env_or(name, full, smoke):
    """An environment override, else the mode's size (as a string, like the environment's)."""
    return os.environ.get(name, str(sized(full, smoke)))
