"""Training and evaluation: folder discovery (data), synthetic set (synthetic), fit (loop), eval (evaluate, metrics).

Python API: ``synthsight.train.loop.fit(TrainConfig(...)) -> Path``,
``synthsight.train.evaluate.evaluate_model(EvalConfig(...)) -> EvalResult``,
``synthsight.train.synthetic.make_synthetic(out_dir, n, size, seed) -> Path``.
Submodules are imported on demand, so importing this package loads no torch.
"""
