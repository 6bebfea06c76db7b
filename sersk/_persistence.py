"""One model file for every sersk estimator: :func:`save_model` and :func:`load_model`.

A sersk model file (``.sersk`` by convention) is a zip archive holding

``sersk.json``
    Metadata: the file format and its version, the sersk, scikit-learn,
    skops and (for deep models) torch versions that wrote it, what the file
    holds (``kind``), the class labels, and any ``metadata`` given to
    :func:`save_model` (``sersk train`` stores the corpus it was trained on).
``estimator.skops`` (classic estimators and the front end of deep pipelines)
    The scikit-learn part written with :func:`skops.io.dumps`. It is read
    back with :func:`skops.io.loads` and a fixed allowlist of types (sersk's
    feature transformers and the few scikit-learn helpers the sersk pipelines
    need, on top of skops' own list of trusted scikit-learn and numpy types):
    a file naming any other type is refused before anything is built. In a
    deep pipeline the network step is stored as ``"passthrough"`` here.
``network.json`` + ``network.pt`` (deep classifiers)
    The classifier's parameters as JSON and the network weights, a
    ``state_dict`` of tensors written with :func:`torch.save` and read with
    ``torch.load(weights_only=True)``, which only rebuilds tensors.

Loading never unpickles. Before anything is parsed, the sizes of the zip
members (and of the archives nested in them) are checked from the zip
headers, and every stored parameter is checked by building the estimators and
running their own parameter validation.

Version policy: files of the same format version are read whichever sersk
release wrote them; a file of a newer format is refused; a different
scikit-learn or torch version only warns (:class:`ModelVersionWarning`).
Files of sersk 0.1 (format 1, classic models stored with joblib, i.e.
pickle) are refused with a message saying to retrain.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelFileError",
    "ModelVersionWarning",
    "load_model",
    "save_model",
]

FORMAT = "sersk-model"
FORMAT_VERSION = 2

_META = "sersk.json"
_CLASSIC = "estimator.skops"
_NET_CONFIG = "network.json"
_NET_WEIGHTS = "network.pt"
_MEMBERS = {
    "classic": (_META, _CLASSIC),
    "deep": (_META, _CLASSIC, _NET_CONFIG, _NET_WEIGHTS),
    "network": (_META, _NET_CONFIG, _NET_WEIGHTS),
}

# Read limits, checked from the zip headers before a member is read.
_MAX_JSON_BYTES = 1 << 20  # sersk.json, network.json (skops' schema may be larger)
_MAX_MEMBER_BYTES = 2 << 30  # one binary member (a forest of many deep trees)
_MAX_TOTAL_BYTES = 4 << 30  # everything in one archive, nested ones included
_MAX_MEMBERS = 100_000  # members of one nested archive (skops: one per array)
# Real model members compress by less than 20:1 (float weights, tree arrays);
# a member that expands far more is a decompression bomb.
_MAX_RATIO = 200
_RATIO_FLOOR = 1 << 20  # small members may compress well (zeros, JSON)

# The sersk classes a classic part may hold, by public name (resolved to
# their defining module at load time, so private modules may move).
_SERSK_TYPES = (
    "AudioLoader",
    "ClassicFeatures",
    "ClipStandardizer",
    "Chroma",
    "MFCC",
    "MelSpectrogram",
    "RMS",
    "SpectralContrast",
    "TimePooling",
    "VoiceFunctionals",
    "ZeroCrossingRate",
)
# The scikit-learn types of the sersk pipelines (skops trusts the public
# estimators, numpy and builtins by default; the private helpers are added
# here, and the public ones too so the list does not depend on skops').
_SKLEARN_TYPES = (
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.svm._classes.SVC",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
)
# other sersk types a classic part may hold: the pipeline class of
# make_svm_pipeline and a function of a FunctionTransformer
_SERSK_FUNCTIONS = (
    "sersk._augmented_pipeline.AugmentedPipeline",
    "sersk.pipelines._weigh_last_block",
)
_DEEP_CLASSIFIERS = (
    "CRNNClassifier",
    "CNNClassifier",
    "CNNLSTMClassifier",
    "RNNClassifier",
)
# skorch arguments that are objects rather than settings; rebuilt on load
_OBJECT_PARAMS = {
    "module",
    "criterion",
    "optimizer",
    "train_split",
    "callbacks",
    "dataset",
    "iterator_train",
    "iterator_valid",
    "predict_nonlinearity",
    "compile",
    "use_caching",
    "torch_load_kwargs",
    "classes",
    "_params_to_validate",
}


class ModelFileError(ValueError):
    """A model file cannot be read: not a sersk model file, corrupt, unsafe,
    or written in a newer format. The message names the file and the fix."""


class ModelVersionWarning(UserWarning):
    """A model file was written with other scikit-learn or torch versions.

    The model is loaded; its predictions may differ slightly. Re-save it with
    :func:`sersk.save_model` under the current versions to silence this.
    """


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


def _sersk_version():
    from . import __version__

    return __version__


def _sersk_classes():
    from . import features

    classes = {}
    for name in _SERSK_TYPES:
        cls = getattr(features, name, None)
        if isinstance(cls, type):
            classes[name] = cls
    return classes


def _trusted_types():
    """The fixed allowlist given to :func:`skops.io.loads`."""
    names = [f"{c.__module__}.{c.__qualname__}" for c in _sersk_classes().values()]
    return sorted({*names, *_SKLEARN_TYPES, *_SERSK_FUNCTIONS})


def _deep_classifier_types():
    """sersk's deep classifier classes, without importing torch needlessly."""
    if "sersk.models._classifiers" not in sys.modules:
        return ()
    from .models import _classifiers

    return tuple(getattr(_classifiers, name) for name in _DEEP_CLASSIFIERS)


def _is_deep(obj):
    if "sersk.models._classifiers" not in sys.modules:
        return False
    from .models._classifiers import BaseDeepClassifier

    return isinstance(obj, BaseDeepClassifier)


def _walk_estimators(obj):
    """Yield every estimator in the parameters of ``obj`` (``obj`` included)."""
    from sklearn.base import BaseEstimator

    if isinstance(obj, BaseEstimator):
        yield obj
        for value in obj.get_params(deep=False).values():
            yield from _walk_estimators(value)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _walk_estimators(item)


def _jsonable(value):
    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, (int, np.integer)):
        return True, int(value)
    if isinstance(value, (float, np.floating)):
        return True, float(value)
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            ok, v = _jsonable(v)
            if not ok:
                return False, None
            out.append(v)
        return True, out
    return False, None


# ----------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------


def _split(estimator):
    """``(classic part or None, network or None, network step name or None)``."""
    from sklearn.pipeline import Pipeline

    if _is_deep(estimator):
        return None, estimator, None
    net, name = None, None
    if isinstance(estimator, Pipeline) and _is_deep(estimator.steps[-1][1]):
        name, net = estimator.steps[-1]
        estimator = Pipeline(
            [*estimator.steps[:-1], (name, "passthrough")],
            memory=estimator.memory,
            verbose=estimator.verbose,
        )
    for part in _walk_estimators(estimator):
        if _is_deep(part):
            raise TypeError(
                f"save_model stores a deep classifier ({type(part).__name__}) only "
                "on its own or as the last step of a Pipeline; put it last."
            )
    return estimator, net, name


def _dump_classic(estimator):
    import skops.io as sio

    data = sio.dumps(estimator, compression=zipfile.ZIP_DEFLATED)
    allowed = set(_trusted_types())
    extra = sorted(set(sio.get_untrusted_types(data=data)) - allowed)
    if extra:
        raise TypeError(
            f"save_model cannot store {type(estimator).__name__}: it holds types "
            f"that load_model would refuse to build ({', '.join(extra)}). sersk "
            "model files hold sersk's feature transformers and scikit-learn "
            "estimators only; save other objects with skops.io or joblib."
        )
    return data


def _dump_network(net, step_name):
    import numpy as np
    import torch

    from .models._training import SpeakerValidSplit

    # sersk's Accelerated* classifiers are stored as the plain classifier
    # they are built on (the accelerator belongs to the training run)
    cls = type(net).__dict__.get("_save_as", type(net))
    accelerated = cls is not type(net)
    name = cls.__name__
    if name not in _DEEP_CLASSIFIERS or cls not in _deep_classifier_types():
        raise TypeError(
            f"save_model stores sersk's deep classifiers {list(_DEEP_CLASSIFIERS)}; "
            f"got {name}. Save subclasses with their own code."
        )
    if net.module is not None:
        raise TypeError(
            f"save_model stores {name} with its built-in network only (module=None); "
            f"got module={net.module!r}."
        )
    params, skipped = {}, []
    for key, value in net.get_params(deep=False).items():
        if key in _OBJECT_PARAMS or key.startswith(
            ("callbacks__", "iterator_", "dataset__")
        ):
            continue
        if accelerated and key in ("accelerator", "unwrap_after_train"):
            continue
        ok, value = _jsonable(value)
        if ok:
            params[key] = value
        else:
            skipped.append(key)
    # Every size of the network, the defaults included: the file then loads
    # the same network whatever defaults a later sersk has.
    for key, value in _module_defaults(net._default_module).items():
        if f"module__{key}" not in params:
            params[f"module__{key}"] = _jsonable(value)[1]
    for key, namespace in (("optimizer", "torch.optim"), ("criterion", "torch.nn")):
        obj = getattr(net, key)
        ns = torch.optim if namespace == "torch.optim" else torch.nn
        if isinstance(obj, type) and getattr(ns, obj.__name__, None) is obj:
            params[key] = f"{namespace}.{obj.__name__}"
        else:
            skipped.append(key)
    split = net.train_split
    if split is None:
        params["train_split"] = None
    elif isinstance(split, SpeakerValidSplit):
        ok, rs = _jsonable(split.random_state)
        params["train_split"] = {
            "valid_size": float(split.valid_size),
            "random_state": rs if ok else None,
        }
    else:
        skipped.append("train_split")
    if skipped:
        warnings.warn(
            f"save_model does not store the parameters {sorted(skipped)} of {name} "
            "(not representable as JSON); the loaded model uses their defaults.",
            UserWarning,
            stacklevel=3,
        )
    classes = net.classes_
    ok, class_list = _jsonable(classes.tolist())
    if not ok:
        raise TypeError(
            f"The classes of this {name} ({classes.dtype}) cannot be stored as JSON; "
            "use str or int labels."
        )
    cw = net.class_weight_
    config = {
        "estimator": name,
        "step": step_name,
        "params": params,
        "classes": class_list,
        "classes_dtype": classes.dtype.str if classes.dtype != object else "object",
        "n_features_in": int(net.n_features_in_),
        "n_frames_in": int(net.n_frames_in_),
        "class_weight": None if cw is None else np.asarray(cw).tolist(),
    }
    module = net.module_
    if accelerated:  # the network itself, without a DDP wrapper
        module = net.accelerator.unwrap_model(module, keep_fp32_wrapper=False)
    state = {
        k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    return json.dumps(config, indent=1).encode(), buf.getvalue()


# Network options added after format 2, with the value files that lack them
# were trained with.
_OPTIONS_OF_OLDER_FILES = {
    # before ``freq_pooling`` existed the CNN averaged over frequency
    "CNNClassifier": {"module__freq_pooling": "mean"},
    # before ``conv_summary`` existed the CRNN's head saw the LSTM only
    "CRNNClassifier": {"module__conv_summary": False},
}


def _module_defaults(module_cls):
    """Keyword defaults of a network's constructor (sizes, dropout, ...)."""
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(module_cls.__init__).parameters.items()
        if p.kind is p.KEYWORD_ONLY and p.default is not p.empty
    }


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_model(estimator, path, *, metadata=None):
    """Save a fitted sersk estimator or pipeline to a model file, without pickle.

    Works for the pipelines of :mod:`sersk.pipelines`, sersk's deep
    classifiers, and scikit-learn estimators and pipelines built from
    scikit-learn estimators and sersk's feature transformers. The file is
    written next to ``path`` under a temporary name and renamed into place,
    so an interrupted save leaves any previous file intact.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Fitted estimator. A sersk deep classifier may stand on its own or be
        the last step of a :class:`~sklearn.pipeline.Pipeline`.
    path : str or os.PathLike
        File to write (``.sersk`` by convention); its folder must exist.
    metadata : dict or None, default=None
        JSON-serialisable information stored in ``sersk.json`` under
        ``"metadata"`` (e.g. the corpus the model was trained on).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        The estimator holds an object the model file cannot represent
        (a custom class, a custom network module).
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.

    See Also
    --------
    load_model : Read the file back.

    Notes
    -----
    Parameters of a deep classifier that are arbitrary Python objects (custom
    callbacks, datasets, iterators) are not stored, with a warning; the
    loaded model uses their defaults and is ready to predict (or to be fitted
    again). The optimizer state is not stored.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> from sersk import load_model, save_model
    >>> from sersk.features import MFCC, TimePooling
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 4000)).astype(np.float32)
    >>> y = ["calm", "angry"] * 3
    >>> pipe = make_pipeline(MFCC(n_mfcc=13, n_mels=40), TimePooling(), SVC())
    >>> _ = pipe.fit(X, y)
    >>> path = save_model(pipe, os.path.join(tempfile.mkdtemp(), "m.sersk"))
    >>> load_model(path).predict(X).tolist() == pipe.predict(X).tolist()
    True
    """
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    path = Path(os.fspath(path)).expanduser()
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"cannot write the model file {str(path)!r}: the folder "
            f"{str(folder)!r} does not exist. Create it first."
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"cannot write the model file {str(path)!r}: it is a folder. "
            "Give a file name such as model.sersk."
        )
    check_is_fitted(estimator)
    if metadata is not None:
        try:
            json.dumps(metadata)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"save_model's metadata must be JSON-serialisable: {exc}"
            ) from None
    classic, net, step = _split(estimator)
    kind = "network" if classic is None else ("classic" if net is None else "deep")
    final = net if net is not None else estimator
    classes = getattr(final, "classes_", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "estimator": type(estimator).__name__,
        "sersk_version": _sersk_version(),
        "sklearn_version": sklearn.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "classes": None if classes is None else _jsonable(list(classes))[1],
        "metadata": metadata,
    }
    if classic is not None:
        import skops

        meta["skops_version"] = skops.__version__
    if net is not None:
        import torch

        meta["torch_version"] = torch.__version__

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(_META, json.dumps(meta, indent=2))
                if classic is not None:
                    zf.writestr(_CLASSIC, _dump_classic(classic))
                if net is not None:
                    config, weights = _dump_network(net, step)
                    zf.writestr(_NET_CONFIG, config)
                    zf.writestr(_NET_WEIGHTS, weights)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        # KeyboardInterrupt included: never leave the temporary file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------


def _check_archive(zf, where, path, budget, small=()):
    """Refuse members that are too large or inflate too much (zip headers only).

    Members named in ``small`` (sersk's own JSON) have a tighter limit.
    """
    infos = zf.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise ModelFileError(
            f"{path!r}: {where} holds {len(infos)} members, more than a sersk "
            "model file has. The file is corrupt or not a sersk model file."
        )
    total = 0
    for info in infos:
        size, packed = info.file_size, max(info.compress_size, 1)
        limit = _MAX_JSON_BYTES if info.filename in small else _MAX_MEMBER_BYTES
        if size > limit or (size > _RATIO_FLOOR and size / packed > _MAX_RATIO):
            raise ModelFileError(
                f"{path!r}: the member {info.filename!r} of {where} would expand "
                f"to {size} bytes from {info.compress_size} (limit {limit} bytes, "
                f"at most {_MAX_RATIO}:1 compression). The file is corrupt or "
                "crafted; it is not read. Use a model file written by "
                "sersk.save_model."
            )
        total += size
    if total > budget:
        raise ModelFileError(
            f"{path!r}: {where} would expand to {total} bytes, more than the "
            f"{budget} bytes a sersk model file may hold. The file is corrupt "
            "or crafted; it is not read."
        )
    return total


def _open_nested(data, where, path, budget):
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelFileError(
            f"{path!r}: the member {where!r} is not in the expected format (it "
            "should be a zip archive). The file is corrupt or crafted; it is not "
            "read. Use a model file written by sersk.save_model."
        )
    zf = zipfile.ZipFile(io.BytesIO(data))
    _check_archive(zf, f"the member {where!r}", path, budget)
    return zf


def _read(zf, name, path):
    try:
        with zf.open(name) as fh:
            return fh.read()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ModelFileError(
            f"{path!r}: cannot read the member {name!r} ({exc}); the file is "
            "corrupt. Save the model again."
        ) from None


def _read_json(zf, name, path):
    try:
        value = json.loads(_read(zf, name, path))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path!r}: the member {name!r} is not valid JSON ({exc}); the file is "
            "corrupt or crafted. Use a model file written by sersk.save_model."
        ) from None
    if not isinstance(value, dict):
        raise ModelFileError(
            f"{path!r}: the member {name!r} does not hold a JSON object; the file is "
            "corrupt or crafted."
        )
    return value


def _check_meta(meta, names, path):
    """Check format, version and members; return the kind of the file."""
    if meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{path!r} is not a sersk model file (its sersk.json names the format "
            f"{meta.get('format')!r}). Write model files with sersk.save_model or "
            "'sersk train'."
        )
    version = meta.get("format_version")
    written_by = meta.get("sersk_version", "an unknown version")
    if version == 1 or meta.get("storage") in ("joblib", "deep"):
        raise ModelFileError(
            f"{path!r} was written by sersk {written_by} (< 0.2) in the model "
            "format 1, which stores classic models with joblib (pickle) and "
            "cannot be read safely. Retrain the model ('sersk train ...'), or "
            "save it again with sersk.save_model after training it with this "
            "sersk."
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(
            f"{path!r}: its sersk.json has an invalid format_version {version!r}; "
            "the file is corrupt. Save the model again."
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path!r} uses the model file format {version}, written by sersk "
            f"{written_by}; this sersk {_sersk_version()} reads format "
            f"{FORMAT_VERSION} and older. Upgrade sersk (pip install -U sersk) "
            "to load it."
        )
    kind = meta.get("kind")
    if kind not in _MEMBERS:
        raise ModelFileError(
            f"{path!r}: its sersk.json names an unknown kind of model {kind!r} "
            f"(expected one of {sorted(_MEMBERS)}); the file is corrupt or crafted."
        )
    expected = set(_MEMBERS[kind])
    if set(names) != expected:
        missing = sorted(expected - set(names))
        extra = sorted(set(names) - expected)
        raise ModelFileError(
            f"{path!r}: a {kind!r} model file holds the members "
            f"{sorted(expected)}, but this one "
            + (f"lacks {missing}" if missing else "")
            + (" and " if missing and extra else "")
            + (f"has the unexpected {extra}" if extra else "")
            + ". The file is corrupt or crafted; it is not read."
        )
    return kind


def _warn_versions(meta, kind, path):
    import sklearn

    pairs = [("scikit-learn", meta.get("sklearn_version"), sklearn.__version__)]
    if kind != "classic":
        import torch

        pairs.append(("torch", meta.get("torch_version"), torch.__version__))
    for lib, saved, current in pairs:
        if saved is not None and str(saved) != current:
            warnings.warn(
                f"{path!r} was saved with {lib} {saved}; this is {lib} {current}. "
                "The model is loaded, but its predictions may differ slightly. "
                "Save it again with sersk.save_model to store the current versions.",
                ModelVersionWarning,
                stacklevel=3,
            )


def _relocate(schema, classes):
    """Point sersk classes in a skops schema to where they live now."""
    if isinstance(schema, dict):
        module, name = schema.get("__module__"), schema.get("__class__")
        if (
            isinstance(module, str)
            and module.startswith("sersk.")
            and name in classes
            and module != classes[name].__module__
        ):
            schema["__module__"] = classes[name].__module__
            return True
        return any([_relocate(v, classes) for v in schema.values()])
    if isinstance(schema, list):
        return any([_relocate(v, classes) for v in schema])
    return False


def _load_classic(data, path, budget):
    import skops.io as sio

    zf = _open_nested(data, _CLASSIC, path, budget)
    try:
        schema = json.loads(_read(zf, "schema.json", path))
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path!r}: the member {_CLASSIC!r} is not a skops archive ({exc}); "
            "the file is corrupt or crafted."
        ) from None
    if _relocate(schema, _sersk_classes()):
        # sersk's private modules moved since the file was written
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as new:
            for info in zf.infolist():
                content = (
                    json.dumps(schema)
                    if info.filename == "schema.json"
                    else _read(zf, info.filename, path)
                )
                new.writestr(info.filename, content)
        data = out.getvalue()
    trusted = _trusted_types()
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise ModelFileError(
            f"{path!r}: the member {_CLASSIC!r} is not a readable skops archive "
            f"({type(exc).__name__}: {exc}); the file is corrupt or crafted."
        ) from None
    refused = sorted(untrusted - set(trusted))
    if refused:
        raise ModelFileError(
            f"{path!r} holds types that sersk does not load: {', '.join(refused)}. "
            "sersk model files may hold only sersk's feature transformers and "
            "scikit-learn estimators; nothing was built. If you wrote this file "
            "yourself with other types, load it with skops.io.load and your own "
            "list of trusted types."
        )
    try:
        return sio.loads(data, trusted=trusted)
    except Exception as exc:
        raise ModelFileError(
            f"{path!r}: the member {_CLASSIC!r} cannot be loaded "
            f"({type(exc).__name__}: {exc}). The file is corrupt, or was written "
            "by a sersk whose classes this one lacks; retrain or save it again."
        ) from None


def _validate_classic(estimator, path):
    """Build every stored estimator again and run its own parameter checks."""
    for est in _walk_estimators(estimator):
        try:
            fresh = type(est)(**est.get_params(deep=False))
            if hasattr(fresh, "_parameter_constraints"):
                fresh._validate_params()
            check = getattr(fresh, "_check_params", None)
            if callable(check):
                check()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{path!r}: the stored {type(est).__name__} has invalid "
                f"parameters: {exc} The file is corrupt or crafted; retrain or "
                "save the model again."
            ) from None


def _bad_network(path, problem):
    return ModelFileError(
        f"{path!r}: the stored network is invalid: {problem}. The file is corrupt "
        "or crafted; retrain or save the model again."
    )


def _load_network(config, weights, path, device, budget):
    import numpy as np
    import torch

    from .models import _classifiers
    from .models._training import SpeakerValidSplit

    name = config.get("estimator")
    if name not in _DEEP_CLASSIFIERS:
        raise _bad_network(path, f"unknown classifier {name!r}")
    params = config.get("params")
    if not isinstance(params, dict) or not all(
        isinstance(k, str)
        and (_jsonable(v)[0] or (k == "train_split" and isinstance(v, dict)))
        for k, v in params.items()
    ):
        raise _bad_network(path, "its parameters are not a JSON object of settings")
    params = dict(params)
    bad = sorted(
        k
        for k in params
        if k in _OBJECT_PARAMS - {"criterion", "optimizer", "train_split"}
        or k.startswith(("callbacks__", "iterator_", "dataset__"))
    )
    if bad:
        raise _bad_network(path, f"the parameters {bad} are never stored")
    # Files store every network option; one written before an option existed
    # lacks it and means the behaviour of that time, not today's default.
    for key, value in _OPTIONS_OF_OLDER_FILES.get(name, {}).items():
        params.setdefault(key, value)
    for key, namespace, base in (
        ("optimizer", torch.optim, torch.optim.Optimizer),
        ("criterion", torch.nn, torch.nn.Module),
    ):
        ref = params.pop(key, None)
        if ref is None:
            continue
        prefix = "torch.optim." if key == "optimizer" else "torch.nn."
        obj = (
            getattr(namespace, ref[len(prefix) :], None)
            if isinstance(ref, str) and ref.startswith(prefix)
            else None
        )
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise _bad_network(path, f"unknown {key} {ref!r}")
        params[key] = obj
    split = params.get("train_split")
    if isinstance(split, dict):
        if set(split) - {"valid_size", "random_state"}:
            raise _bad_network(path, f"unknown train_split settings {sorted(split)}")
        params["train_split"] = SpeakerValidSplit(**split)
    elif split is not None and "train_split" in params:
        raise _bad_network(path, f"invalid train_split {split!r}")
    params["device"] = device
    try:
        net = getattr(_classifiers, name)(**params)
        net._validate_params()
    except (TypeError, ValueError) as exc:
        raise _bad_network(path, f"invalid parameters ({exc})") from None

    classes = config.get("classes")
    dtype = config.get("classes_dtype")
    n_features, n_frames = config.get("n_features_in"), config.get("n_frames_in")
    cw = config.get("class_weight")
    try:
        if not isinstance(classes, list) or len(classes) < 2:
            raise ValueError("fewer than two classes")
        classes = np.asarray(
            classes, dtype=None if dtype == "object" else np.dtype(str(dtype))
        )
        if classes.ndim != 1 or len(np.unique(classes)) != len(classes):
            raise ValueError("the classes are not distinct labels")
        for value in (n_features, n_frames):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"invalid input size {value!r}")
        if cw is not None:
            cw = np.asarray(cw, dtype=np.float32)
            if cw.shape != (len(classes),) or not np.all(np.isfinite(cw)):
                raise ValueError("invalid class weights")
    except (TypeError, ValueError) as exc:
        raise _bad_network(path, str(exc)) from None

    zf = _open_nested(weights, _NET_WEIGHTS, path, budget)
    zf.close()
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _bad_network(
            path, f"{_NET_WEIGHTS!r} is not a file of tensors ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _bad_network(path, f"{_NET_WEIGHTS!r} does not hold a state_dict")

    net.classes_inferred_ = classes
    net.n_classes_ = len(classes)
    net.n_features_in_ = n_features
    net.n_frames_in_ = n_frames
    net.class_weight_ = cw
    try:
        net.initialize()
        net.module_.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise _bad_network(
            path, f"the weights do not fit the network ({exc})"
        ) from None
    net.module_.eval()
    return net


def load_model(path, *, device="auto"):
    """Load an estimator written by :func:`save_model` (or by ``sersk train``).

    Nothing in the file is unpickled: the scikit-learn part is rebuilt with
    :func:`skops.io.loads` from a fixed list of trusted types, deep networks
    from JSON settings and a file of tensors.

    Parameters
    ----------
    path : str or os.PathLike
        Model file.
    device : str, default="auto"
        Deep classifiers only: where to put the network ("auto" picks CUDA when
        available, "cpu", "cuda", "cuda:N"). Weights saved on a GPU load on a
        CPU.

    Returns
    -------
    estimator : estimator or Pipeline
        The fitted estimator, ready to predict.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ModelFileError
        A :class:`ValueError`: the file is not a sersk model file, is
        corrupt, holds types or parameters sersk does not load, was written
        in the unsafe format of sersk 0.1, or in a newer format.

    Warns
    -----
    ModelVersionWarning
        The file was written with another scikit-learn or torch version.

    See Also
    --------
    save_model : Write the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sersk import load_model, save_model
    >>> X, y = make_classification(n_samples=40, random_state=0)
    >>> forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    >>> path = save_model(forest, os.path.join(tempfile.mkdtemp(), "rf.sersk"))
    >>> bool((load_model(path).predict(X) == forest.predict(X)).all())
    True
    """
    path = Path(os.fspath(path)).expanduser()
    where = str(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {where!r} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{where!r} is a folder, not a sersk model file")
    if not path.is_file():  # a named pipe or a device would block or never end
        raise ModelFileError(f"{where!r} is not a regular file, not a sersk model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{where!r} is not a sersk model file (not a zip archive). Write model "
            "files with sersk.save_model or 'sersk train'."
        )
    with zipfile.ZipFile(path) as zf:
        total = _check_archive(
            zf, "the archive", where, _MAX_TOTAL_BYTES, small=(_META, _NET_CONFIG)
        )
        names = zf.namelist()
        if _META not in names:
            legacy = any(n.endswith("data.pkl") for n in names)
            raise ModelFileError(
                f"{where!r} was written by sersk.models.save_model of sersk 0.1 "
                "(a torch file), which this sersk no longer reads. Retrain the "
                "model and save it with sersk.save_model."
                if legacy
                else f"{where!r} is not a sersk model file (no sersk.json in it). "
                "Write model files with sersk.save_model or 'sersk train'."
            )
        meta = _read_json(zf, _META, where)
        kind = _check_meta(meta, names, where)
        budget = _MAX_TOTAL_BYTES - total
        _warn_versions(meta, kind, where)
        estimator = None
        if kind in ("classic", "deep"):
            estimator = _load_classic(_read(zf, _CLASSIC, where), where, budget)
            _validate_classic(estimator, where)
        if kind == "classic":
            return estimator
        config = _read_json(zf, _NET_CONFIG, where)
        weights = _read(zf, _NET_WEIGHTS, where)
    net = _load_network(config, weights, where, device, budget)
    if kind == "network":
        return net
    from sklearn.pipeline import Pipeline

    step = config.get("step")
    if not (
        isinstance(estimator, Pipeline) and estimator.steps[-1] == (step, "passthrough")
    ):
        raise ModelFileError(
            f"{where!r}: the stored front end does not end with the slot of the "
            f"network step {step!r}; the file is corrupt or crafted."
        )
    estimator.steps[-1] = (step, net)
    return estimator
