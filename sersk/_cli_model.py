"""The model file written by ``sersk train`` and read by ``sersk predict``.

A ``.sersk`` file is a zip archive holding

``sersk.json``
    Metadata: file format and version, the sersk / scikit-learn versions that
    wrote it, the model name, the class labels, the sampling rate and clip
    duration the model was trained on, and how it was trained (corpus,
    emotions).
``pipeline.joblib`` (classic models: ``svm``, ``rf``)
    The fitted scikit-learn pipeline (waveforms -> features -> classifier),
    written with :func:`joblib.dump`. **Loading it runs pickle**: only load
    model files you created yourself or got from a source you trust.
``features.json`` + ``model/`` (deep models: ``crnn``, ``cnn``, ...)
    The stateless feature front end as a list of ``[class name, parameters]``
    (only classes of :mod:`sersk.features` are accepted back) and the trained
    network written by :func:`sersk.models.save_model`, which stores weights as
    tensors and configuration as JSON (no pickle).

Files written by another sersk release (major.minor), or by a newer file
format, are refused with a message saying which version wrote them.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelFileError",
    "load_bundle",
    "save_bundle",
]

FORMAT = "sersk-model"
FORMAT_VERSION = 1
_META = "sersk.json"
_PIPELINE = "pipeline.joblib"
_FEATURES = "features.json"
_DEEP_DIR = "model/"


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or written by an incompatible version."""


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in str(version).split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _front_to_spec(front):
    """Serialise a stateless feature pipeline as ``[[class name, params], ...]``."""
    from sklearn.pipeline import Pipeline

    from . import features

    steps = front.steps if isinstance(front, Pipeline) else [("step", front)]
    spec = []
    for _, step in steps:
        name = type(step).__name__
        if getattr(features, name, None) is not type(step):
            raise ModelFileError(
                f"cannot store feature step {name!r} without pickle: only "
                "transformers of sersk.features are supported in front of a "
                "deep model."
            )
        spec.append([name, step.get_params(deep=False)])
    return spec


def _spec_to_front(spec):
    from sklearn.pipeline import make_pipeline

    from . import features

    steps = []
    for name, params in spec:
        cls = getattr(features, name, None)
        if cls is None or name not in features.__all__:
            raise ModelFileError(
                f"the model file names an unknown feature transformer {name!r}; "
                "it was probably written by another sersk version."
            )
        steps.append(cls(**params))
    return make_pipeline(*steps)


def save_bundle(path, pipeline, metadata, *, deep=False):
    """Write a fitted waveform pipeline and its metadata to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (``.sersk`` by convention).
    pipeline : Pipeline
        Fitted pipeline taking 2-D float32 waveforms.
    metadata : dict
        JSON-serialisable description (model, classes, sr, duration, ...).
    deep : bool, default=False
        Store the last step with :func:`sersk.models.save_model` and the
        (stateless) steps before it as JSON, instead of pickling everything.

    Returns
    -------
    path : pathlib.Path
    """
    import joblib
    import sklearn

    from . import __version__

    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"output folder {str(path.parent)!r} does not exist")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sersk_version": __version__,
        "sklearn_version": sklearn.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "storage": "deep" if deep else "joblib",
        **metadata,
    }
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_META, json.dumps(meta, indent=2, default=str))
        if deep:
            from .models import save_model

            front = pipeline[:-1]
            zf.writestr(_FEATURES, json.dumps(_front_to_spec(front), default=str))
            with tempfile.TemporaryDirectory() as tmpdir:
                target = Path(tmpdir) / "net"
                written = save_model(pipeline[-1], target)
                written = Path(written) if written is not None else target
                files = [written] if written.is_file() else sorted(written.rglob("*"))
                for file in files:
                    if file.is_file():
                        rel = (
                            file.name
                            if written.is_file()
                            else file.relative_to(written)
                        )
                        zf.write(file, _DEEP_DIR + str(rel))
                zf.writestr(
                    _DEEP_DIR + ".sersk-layout",
                    "file" if written.is_file() else "dir",
                )
        else:
            buf = io.BytesIO()
            joblib.dump(pipeline, buf)
            zf.writestr(_PIPELINE, buf.getvalue())
    tmp.replace(path)
    return path


def read_metadata(path):
    """Read and check the metadata of a model file without loading the model."""
    from . import __version__

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{str(path)!r} is a folder, not a sersk model file")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read(_META))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is not a sersk model file (expected a file written by "
            f"'sersk train'): {exc}"
        ) from None
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a sersk model file")
    fv = meta.get("format_version")
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model file format {fv!r}, written by sersk "
            f"{meta.get('sersk_version')}; this sersk {__version__} reads format "
            f"{FORMAT_VERSION} and older. Upgrade sersk to load it."
        )
    saved = meta.get("sersk_version", "unknown")
    if _release(saved) != _release(__version__):
        raise ModelFileError(
            f"{str(path)!r} was written by sersk {saved}, which is incompatible "
            f"with this sersk {__version__} (models are only read by the release "
            f"that wrote them). Retrain it with 'sersk train', or install "
            f"sersk=={saved} to use it."
        )
    return meta


def load_bundle(path):
    """Load a model file written by :func:`save_bundle`.

    Returns
    -------
    pipeline : Pipeline
        The fitted pipeline, taking 2-D float32 waveforms.
    metadata : dict
    """
    import joblib

    meta = read_metadata(path)
    with zipfile.ZipFile(path) as zf:
        if meta.get("storage") == "deep":
            from sklearn.pipeline import Pipeline

            from .models import load_model

            spec = json.loads(zf.read(_FEATURES))
            front = _spec_to_front(spec)
            layout = zf.read(_DEEP_DIR + ".sersk-layout").decode()
            with tempfile.TemporaryDirectory() as tmpdir:
                names = [
                    n
                    for n in zf.namelist()
                    if n.startswith(_DEEP_DIR) and not n.endswith(".sersk-layout")
                ]
                for name in names:
                    zf.extract(name, tmpdir)
                base = Path(tmpdir) / _DEEP_DIR
                target = next(base.iterdir()) if layout == "file" else base
                net = load_model(target)
            pipeline = Pipeline([*front.steps, (type(net).__name__.lower(), net)])
        else:
            with zf.open(_PIPELINE) as fh:
                pipeline = joblib.load(io.BytesIO(fh.read()))
    return pipeline, meta
