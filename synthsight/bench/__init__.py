"""`synthsight bench`: how fast this machine scans with a given model, and the tools benchmarks/ shares.

- :mod:`synthsight.bench.run`: ``run_bench(BenchConfig) -> dict`` and ``format_result``: images/s and
  latency p50 / p99 per backend x device x precision x batch size (warm-up excluded; images/s from the
  median latency of repeated calls), decode-pool images/s by size class, what ``--precision auto``
  picks, end-to-end scan images/s, and the machine it ran on;
- :mod:`synthsight.bench.timing`: ``measure_latency`` and the backend rows;
- :mod:`synthsight.bench.images`: photo-like synthetic images (JPEG 0.3/2/12 MP, PNG 512 px);
- :mod:`synthsight.bench.machine`: ``machine_info`` (CPU, cores, memory, GPU, versions, load);
- :mod:`synthsight.bench.cpu`: the CPU-precision rows and ``auto``'s pick.

Submodules import their heavy dependencies inside functions; importing the package loads nothing.
"""
