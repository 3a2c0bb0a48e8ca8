"""`ganpipe bench`: how fast the project trains and scores, against the common way of doing it.

Measured for each default GAN architecture (ARCHITECTURES), in one process:

1. Training throughput, images/s, of the project's loop (`train.fit` on `objectives.build("gan")`
   over one in-memory tensor) and of a REFERENCE loop written the way public GAN scripts are (a
   torchvision-style Dataset handing a PIL image per sample to ToTensor + Normalize, a shuffling
   DataLoader, the textbook step inline with a second G forward for the G update, `.item()` and a
   print every iteration). Same nets, data, batch size, optimizer settings, thread count and
   number of timed steps; the same number of warm-up steps is run first and left out of both.
   The two loops take turns, a round of each at a time (`rounds`), because this kind of VM
   changes speed by up to 50% from one minute to the next: back to back, one loop could get the
   fast minute and the other the slow one, and the ratio would measure the VM.
2. Achieved GFLOP/s of the project loop: FLOPs of one training step (FlopCounterMode) divided by
   the measured seconds per step, as a share of this machine's measured float32 GEMM rate. And
   the ceiling: the same step's matmuls and convolutions replayed alone, at their exact shapes.
   And the project loop once more with `precision: bf16` (autocast), in the same rounds.
3. Evaluate-style scoring: `evaluation.Reference(...)` and `.score` at n vs n (10k vs 10k).

Timings depend on the machine and on what else runs on it, so the load average before and after
is part of the result, and no test ever asserts a speed.

One concern a module: the settings in `config.py`, the whole run in `run.py`, its table in
`table.py`; the loops in `loops.py`, the clocks, FLOP counts, sgemm peak and kernel replay in
`timing.py`, scoring in `scoring.py`. What the one-off studies of the allocator, two runs sharing
the cores, three seeds against one and each process kind's start-up found is in
docs/performance.md; they left the package with their conclusions kept.
This package face only names what the `ganpipe bench` command and the tests use.
"""


from ganpipe.bench.config import BenchConfig
from ganpipe.bench.loops import ARCHITECTURES
from ganpipe.bench.run import load_warning, run_bench
from ganpipe.bench.scoring import tile_to, time_scoring
from ganpipe.bench.table import format_table

__all__ = ["ARCHITECTURES", "BenchConfig", "format_table", "load_warning", "run_bench", "tile_to", "time_scoring"]
