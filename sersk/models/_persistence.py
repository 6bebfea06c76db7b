"""Saving and loading fitted deep classifiers without pickle.

A model file holds a JSON configuration (estimator class, parameters, module
sizes, classes) and the network weights, written with :func:`torch.save` and
read back with ``torch.load(weights_only=True)``, which cannot run code. Only
sersk's own classifiers and modules, and optimizers / losses from
``torch.optim`` / ``torch.nn`` named in the file, can be rebuilt.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import torch

from .. import __version__
from ._classifiers import (
    BaseDeepClassifier,
    CNNClassifier,
    CNNLSTMClassifier,
    CRNNClassifier,
    RNNClassifier,
)
from ._training import SpeakerValidSplit

__all__ = ["load_model", "save_model"]

FORMAT = "sersk.models"
FORMAT_VERSION = 1

_ESTIMATORS = {
    cls.__name__: cls
    for cls in (CRNNClassifier, CNNClassifier, CNNLSTMClassifier, RNNClassifier)
}
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


def _jsonable(value):
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


def _torch_name(obj, namespace, ns_name):
    if isinstance(obj, type) and getattr(namespace, obj.__name__, None) is obj:
        return f"{ns_name}.{obj.__name__}"
    return None


def save_model(estimator, path):
    """Save a fitted deep classifier to a pickle-free file.

    Parameters
    ----------
    estimator : CRNNClassifier, CNNClassifier, CNNLSTMClassifier or RNNClassifier
        Fitted classifier with a built-in sersk module.
    path : str or path-like
        Output file (conventionally ``*.pt``).

    Returns
    -------
    path : str
        The path written.

    See Also
    --------
    load_model : Read the file back.

    Notes
    -----
    Parameters that are arbitrary Python objects (custom callbacks, datasets,
    iterators) are not stored; the loaded model uses the defaults for them
    and is ready to predict (or to be fitted again). The optimizer state is
    not stored.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.models import RNNClassifier, save_model, load_model
    >>> X = np.random.default_rng(0).normal(size=(8, 4, 6)).astype("float32")
    >>> y = np.array(["sad", "happy"] * 4)
    >>> clf = RNNClassifier(max_epochs=1, train_split=None, random_state=0,
    ...                     module__hidden_size=4, module__num_layers=1).fit(X, y)
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rnn.pt")
    >>> _ = save_model(clf, path)
    >>> loaded = load_model(path)
    >>> bool(np.allclose(loaded.predict_proba(X), clf.predict_proba(X)))
    True
    """
    if not isinstance(estimator, BaseDeepClassifier):
        raise TypeError(
            "save_model expects a sersk deep classifier (e.g. CRNNClassifier); got "
            f"{type(estimator).__name__}. For pipelines, save the classifier step "
            "(pipe[-1]) or use joblib.dump."
        )
    name = type(estimator).__name__
    if name not in _ESTIMATORS or _ESTIMATORS[name] is not type(estimator):
        raise TypeError(
            f"save_model supports sersk's classifiers {sorted(_ESTIMATORS)}; got "
            f"{name}. Use joblib.dump for subclasses."
        )
    if not estimator.__sklearn_is_fitted__():
        raise ValueError(f"This {name} is not fitted yet; call fit before save_model.")
    if estimator.module is not None:
        raise TypeError(
            f"save_model supports {name} with its built-in module only (module=None); "
            f"got module={estimator.module!r}. Use joblib.dump for custom modules."
        )
    params, skipped = {}, []
    for key, value in estimator.get_params(deep=False).items():
        if key in _OBJECT_PARAMS or key.startswith(
            ("callbacks__", "iterator_", "dataset__")
        ):
            continue
        ok, value = _jsonable(value)
        if ok:
            params[key] = value
        else:
            skipped.append(key)
    for key, ns, ns_name in (
        ("optimizer", torch.optim, "torch.optim"),
        ("criterion", torch.nn, "torch.nn"),
    ):
        ref = _torch_name(getattr(estimator, key), ns, ns_name)
        if ref is None:
            skipped.append(key)
        else:
            params[key] = ref
    split = estimator.train_split
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
            f"save_model does not store the parameters {sorted(skipped)} (not "
            "representable as JSON); the loaded model uses their defaults.",
            UserWarning,
            stacklevel=2,
        )
    classes = estimator.classes_
    ok, class_list = _jsonable(classes.tolist())
    if not ok:
        raise TypeError(
            f"The classes of this {name} ({classes.dtype}) cannot be stored as JSON; "
            "use str or int labels."
        )
    class_weight = estimator.class_weight_
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sersk_version": __version__,
        "torch_version": torch.__version__,
        "estimator": name,
        "params": params,
        "classes": class_list,
        "classes_dtype": classes.dtype.str if classes.dtype != object else "object",
        "n_features_in": int(estimator.n_features_in_),
        "n_frames_in": int(estimator.n_frames_in_),
        "class_weight": None if class_weight is None else class_weight.tolist(),
    }
    state_dict = {
        k: v.detach().to("cpu").contiguous()
        for k, v in estimator.module_.state_dict().items()
    }
    path = os.fspath(path)
    torch.save({"config": json.dumps(config), "state_dict": state_dict}, path)
    return path


def load_model(path, *, device="auto"):
    """Load a classifier written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
        File written by :func:`save_model`.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to put the network; weights saved from a GPU load on a CPU.

    Returns
    -------
    estimator : CRNNClassifier, CNNClassifier, CNNLSTMClassifier or RNNClassifier
        Fitted classifier ready to predict.

    Raises
    ------
    ValueError
        The file is not a sersk model file, or was written by an incompatible
        sersk version.

    See Also
    --------
    save_model : Write the file.
    """
    path = os.fspath(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(
            f"{path} is not a sersk model file readable with torch.load(weights_only=True): "
            f"{exc}"
        ) from exc
    if not isinstance(payload, dict) or "config" not in payload:
        raise ValueError(f"{path} is not a sersk model file (no configuration found).")
    config = json.loads(payload["config"])
    if config.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a sersk model file (format {config.get('format')!r})."
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by sersk {config.get('sersk_version')} in model format "
            f"version {version}; this sersk {__version__} reads format version "
            f"{FORMAT_VERSION} only. Load it with a matching sersk version, or refit."
        )
    name = config["estimator"]
    if name not in _ESTIMATORS:
        raise ValueError(f"{path} holds an unknown estimator {name!r}.")
    params = dict(config["params"])
    for key, ns, ns_name in (
        ("optimizer", torch.optim, "torch.optim"),
        ("criterion", torch.nn, "torch.nn"),
    ):
        ref = params.pop(key, None)
        if ref is None:
            continue
        attr = ref.rpartition(".")[2]
        obj = getattr(ns, attr, None)
        if not ref.startswith(ns_name + ".") or not isinstance(obj, type):
            raise ValueError(f"{path} names an unknown {key} {ref!r}.")
        params[key] = obj
    if "train_split" in params and params["train_split"] is not None:
        params["train_split"] = SpeakerValidSplit(**params["train_split"])
    params["device"] = device
    estimator = _ESTIMATORS[name](**params)
    dtype = config["classes_dtype"]
    estimator.classes_inferred_ = np.asarray(
        config["classes"], dtype=None if dtype == "object" else np.dtype(dtype)
    )
    estimator.n_classes_ = len(estimator.classes_inferred_)
    estimator.n_features_in_ = config["n_features_in"]
    estimator.n_frames_in_ = config["n_frames_in"]
    cw = config.get("class_weight")
    estimator.class_weight_ = None if cw is None else np.asarray(cw, dtype=np.float32)
    estimator.initialize()
    estimator.module_.load_state_dict(payload["state_dict"])
    estimator.module_.eval()
    return estimator
