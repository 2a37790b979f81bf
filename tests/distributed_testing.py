# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Run a function in several CPU processes joined by a gloo process group, as `torchrun` would start them.

`spawn(world_size, fn, *args)` starts `world_size` fresh interpreters (`torch.multiprocessing`, spawn) with the
environment `torchrun` sets (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`)
and calls `fn(*args)` in each; `TrainingArguments(use_cpu=True)` then joins the group with the gloo backend, as
under `torchrun`. `fn` must be importable by name (a module-level function of a module on `sys.path`).
"""

import os
import socket
import time

import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _entry(rank, world_size, port, fn, args):
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    fn(*args)  # on an error the process exits at once (no barrier: the others may wait in a collective)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # tear the group down together (gloo aborts a process leaving alone)
        torch.distributed.destroy_process_group()


def spawn(world_size: int, fn, *args, timeout: float = 300.0):
    """Run `fn(*args)` in `world_size` processes (ranks 0 .. world_size - 1); raises if any of them fails.

    Args:
        world_size: number of processes.
        fn: a module-level function (pickled by name).
        *args: picklable arguments of `fn`.
        timeout: seconds to wait for the processes; then they are killed and `TimeoutError` is raised (a process
            that failed while the others wait in a collective is reported by `join` before that).
    """
    context = mp.start_processes(
        _entry, args=(world_size, free_port(), fn, args), nprocs=world_size, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise TimeoutError(f"{fn.__name__} did not finish in {timeout} s in {world_size} processes")
