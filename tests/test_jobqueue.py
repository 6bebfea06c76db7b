"""The scaling guide's dask-jobqueue SLURMCluster, built from the guide's own text.

No SLURM is needed: the cluster object starts a Dask scheduler (here on the
loopback interface) and writes the batch script it would submit with
``sbatch``; nothing is submitted (``scale`` is not called).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "scaling.rst"


def _documented_kwargs():
    text = GUIDE.read_text(encoding="utf-8")
    found = re.findall(r"cluster = SLURMCluster\((.*?)\)\n", text, re.S)
    assert len(found) == 1, "the guide shows one SLURMCluster(...) call"
    return eval(f"dict({found[0]})", {"__builtins__": {"dict": dict}})


def test_documented_slurm_cluster_writes_the_expected_job_script():
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    kwargs = _documented_kwargs()
    assert kwargs["processes"] == kwargs["cores"]  # single-threaded workers

    with dask_jobqueue.SLURMCluster(
        **kwargs,
        # this test only: no scheduler reachable from other machines
        scheduler_options={"host": "127.0.0.1", "dashboard_address": None},
    ) as cluster:
        script = cluster.job_script()
        address = cluster.scheduler_address

    directives = dict(
        line.removeprefix("#SBATCH ").split(" ", 1)
        if " " in line.removeprefix("#SBATCH ")
        else line.removeprefix("#SBATCH ").split("=", 1)
        for line in script.splitlines()
        if line.startswith("#SBATCH")
    )
    assert directives["-p"] == kwargs["queue"]
    assert directives["-t"] == kwargs["walltime"]
    assert directives["--cpus-per-task"] == str(kwargs["cores"])
    assert directives["-n"] == "1"  # one job, one task: a nanny per worker
    assert directives["--mem"] == "30G"  # 32 GB in GiB, rounded

    command = next(line for line in script.splitlines() if "dask_worker" in line)
    argv = shlex.split(command)
    assert argv[0] == sys.executable  # the same environment as the client
    assert argv[argv.index("-m") + 1] == "distributed.cli.dask_worker"
    assert address in argv and address.startswith("tcp://127.0.0.1:")

    def option(name):
        return argv[argv.index(name) + 1]

    assert option("--nworkers") == str(kwargs["processes"])
    assert option("--nthreads") == "1"
    # each worker gets its share of the job's memory: 32 GB / 16 = 1.86 GiB
    assert option("--memory-limit") == "1.86GiB"
