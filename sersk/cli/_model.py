"""The one place where the command line turns its options into a model.

Every model is the pipeline of a :mod:`sersk.pipelines` factory: the factory's
own parameters take the options that configure the whole recipe (sampling
rate, clip length, seed, epochs, batch size), and :meth:`set_params` on the
classifier step applies the rest (device, verbosity, ``--module-param``).
Nothing here sets a feature or model hyper-parameter of its own.
"""

from __future__ import annotations

from ._parser import DEEP_MODELS, DEMO_CRNN

__all__ = [
    "FACTORIES",
    "build_pipeline",
    "default_duration",
    "model_duration",
    "split_pipeline",
    "with_perturbed_copies",
]

# model name of the command line -> factory of sersk.pipelines
FACTORIES = {
    "svm": "make_svm_pipeline",
    "rf": "make_random_forest_pipeline",
    "crnn": "make_crnn_pipeline",
    "cnn": "make_cnn_pipeline",
    "cnn_lstm": "make_cnn_lstm_pipeline",
    "rnn": "make_rnn_pipeline",
}


def default_duration(args):
    """Clip length in seconds: ``--duration``, else 2 s (synthetic) or 3 s."""
    if args.duration is not None:
        return float(args.duration)
    return 2.0 if getattr(args, "corpus", "synthetic") == "synthetic" else 3.0


def model_duration(args):
    """Clip length the model's loader pads or trims to.

    ``--duration`` when given; else None: every model takes each clip at its
    own length (the classic ones pool statistics over its frames, the deep
    ones pad each batch and ignore the padding).
    """
    if args.duration is None:
        return None
    return default_duration(args)


def build_pipeline(args):
    """The unfitted pipeline that ``sersk <command> --model M ...`` uses.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of ``sersk train``, ``evaluate`` or ``demo``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        ``make_M_pipeline(...)`` of :mod:`sersk.pipelines` with the options
        applied; its first step is the :class:`~sersk.features.AudioLoader`
        that pads or trims clips to the training duration.

    Examples
    --------
    >>> from sersk.cli import build_parser
    >>> from sersk.cli._model import build_pipeline
    >>> args = build_parser().parse_args(
    ...     ["train", "--corpus", "synthetic", "--model", "rf", "--out", "m.sersk"])
    >>> pipe = build_pipeline(args)
    >>> [name for name, _ in pipe.steps]
    ['audioloader', 'features', 'randomforestclassifier']
    >>> pipe.get_params()["randomforestclassifier__n_estimators"]
    500
    """
    from .. import pipelines
    from ._parser import _parse_value

    factory = getattr(pipelines, FACTORIES[args.model])
    options = {
        "sr": getattr(args, "sr", 16000),
        "duration": model_duration(args),
        "n_jobs": getattr(args, "n_jobs", None),
        "random_state": args.random_state,
    }
    if args.model == "svm":
        # predict prints class probabilities: the saved SVM needs predict_proba
        options["probability"] = args.command == "train"
    if args.model not in DEEP_MODELS:
        return factory(**options)
    if args.epochs is not None:
        options["max_epochs"] = args.epochs
    if hasattr(args, "batch_size"):
        options["batch_size"] = args.batch_size
    pipeline = factory(**options)
    module_params = list(args.module_param)
    if args.command == "demo" and not module_params:
        module_params = [(k, _parse_value(v)) for k, v in DEMO_CRNN]
    step = pipeline.steps[-1][0]
    settings = {
        "device": args.device,
        "verbose": int(args.command == "train" and not args.quiet),
        **{f"module__{key}": value for key, value in module_params},
    }
    _check_deep_options(pipeline.steps[-1][1], args.device, module_params)
    pipeline.set_params(**{f"{step}__{key}": value for key, value in settings.items()})
    return pipeline


def _check_deep_options(net, device, module_params):
    """Refuse a bad --device or --module-param name before any work."""
    import inspect
    import re

    from ._common import CLIError

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", str(device)):
        raise CLIError(
            f"--device {device!r} is not a device: use auto, cpu, cuda or cuda:N"
        )
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CLIError(
                f"--device {device}: no CUDA device is available here; use "
                "--device cpu (or auto, which picks CUDA when there is one)"
            )
    module = type(net)._default_module
    names = set(inspect.signature(module).parameters) - {"n_coeffs", "n_classes"}
    unknown = sorted({key for key, _ in module_params} - names)
    if unknown:
        raise CLIError(
            f"--module-param {', '.join(unknown)}: not a parameter of "
            f"{module.__name__} (the network of {type(net).__name__}); its "
            f"parameters are {', '.join(sorted(names))}"
        )


def _stateless(step):
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.utils import get_tags

    if isinstance(step, Pipeline):
        return all(_stateless(s) for _, s in step.steps)
    if isinstance(step, FeatureUnion):
        return all(_stateless(t) for _, t in step.transformer_list)
    return not get_tags(step).requires_fit


def with_perturbed_copies(pipeline, head, source, F, *, quiet):
    """The head to fit, and its ``X``, for a pipeline that may augment.

    For an :class:`~sersk.pipelines.AugmentedPipeline` (``make_svm_pipeline``'s
    speed perturbation) the features of the perturbed copies of every clip
    are computed once, beside ``F``, and the head is fitted through row
    indices on the rows of a fold and their copies, exactly as the
    pipeline's own ``fit`` would; otherwise ``(head, F)``.
    """
    from .._augmented_pipeline import _RowsWithCopies, perturbed_copies
    from ._common import transform_in_chunks

    loader, front, _ = split_pipeline(pipeline)
    copies = []
    for k, waves in enumerate(perturbed_copies(pipeline, source)):
        factor = pipeline.speed_factors[k]
        copies.append(
            transform_in_chunks(
                front,
                loader.transform(waves),
                quiet=quiet,
                desc=f"features x{factor:g} speed",
            )
        )
    if not copies:
        return head, F
    return _RowsWithCopies(head, F, copies), _RowsWithCopies.index(len(F))


def split_pipeline(pipeline):
    """``(loader, front, head)`` of a factory pipeline.

    The front end (feature extraction) has nothing to fit, so it runs once on
    all clips; cross-validation then refits only the head, which is what makes
    ``sersk demo`` fast. All three share the pipeline's step objects, so
    fitting the head fits the pipeline.
    """
    from sklearn.pipeline import Pipeline

    loader = pipeline.steps[0][1]
    k = 1
    while k < len(pipeline.steps) - 1 and _stateless(pipeline.steps[k][1]):
        k += 1
    front = Pipeline(pipeline.steps[1:k])
    head = pipeline[k:] if k < len(pipeline.steps) - 1 else pipeline.steps[-1][1]
    return loader, front, head
