"""The web app of ``sersk serve``: one page and a JSON API around a saved model."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_SECONDS", "create_app"]

DEFAULT_MAX_BYTES = 50 * 1000 * 1000
DEFAULT_MAX_SECONDS = 600.0

# room for the multipart boundaries and part headers around the file
_MULTIPART_OVERHEAD = 64 * 1024
# uploads are kept in memory up to this size, on disk beyond it
_SPOOL_BYTES = 1 << 20
# rates load_audio accepts
_MIN_SR, _MAX_SR = 1000, 768000
# the spectrogram sent with a prediction: mel bands, at most this many columns
_SPEC_MELS = 64
_SPEC_COLUMNS = 480
_SPEC_TOP_DB = 80.0

_log = logging.getLogger("sersk.serve")

_EXTRA_MESSAGE = (
    "sersk serve needs Starlette, uvicorn and python-multipart, which are not "
    "installed ({missing}). Install them with: pip install 'sersk[serve]'"
)


def _require_serve_deps():
    """Raise ImportError naming the ``serve`` extra if a dependency is missing."""
    import importlib

    missing = []
    for name in ("starlette", "uvicorn", "python_multipart"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name.replace("_", "-"))
    if missing:
        raise ImportError(_EXTRA_MESSAGE.format(missing=", ".join(missing)))


class _Refused(Exception):
    """A request answered with a 4xx status and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class _BodyTooLarge(Exception):
    """The request body grew past the limit while it was being read."""


def _limited_receive(receive, limit):
    """Wrap an ASGI ``receive`` so that reading stops once ``limit`` bytes came."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge(seen)
        return message

    return wrapped


def _model_info_file(path):
    """The ``sersk.json`` of a model file (already checked by load_model)."""
    from .._persistence import _META, _read_json

    with zipfile.ZipFile(path) as zf:
        return _read_json(zf, _META, str(path))


def _check_model(model, where):
    from ..segmentation._timeline import _model_loader, _UnusableModel

    _model_loader(model, "create_app", where)
    if not hasattr(model, "predict_proba"):
        raise _UnusableModel(
            f"create_app needs a model with predict_proba; the last step of {where} "
            f"({type(model[-1]).__name__}) has none (an SVC needs probability=True)."
        )
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)


def _check_segments(segments, hop, segmenter):
    if segmenter is not None and segments != "vad":
        raise ValueError(
            f"The 'segmenter' parameter of create_app applies to segments='vad'; "
            f"got segments={segments!r}. Pass segments='vad' or leave segmenter "
            "None."
        )
    if isinstance(segments, str):
        if segments != "vad":
            raise ValueError(
                f"The 'segments' parameter of create_app must be 'vad' or a window "
                f"length in seconds. Got {segments!r} instead."
            )
        if hop is not None:
            raise ValueError(
                "The 'hop' parameter of create_app applies to fixed windows only; "
                f"got hop={hop!r} with segments='vad'. Drop hop or give a window "
                "length."
            )
        return
    if isinstance(segments, bool) or not isinstance(segments, (int, float)):
        raise ValueError(
            f"The 'segments' parameter of create_app must be 'vad' or a window "
            f"length in seconds. Got {segments!r} instead."
        )
    for name, value in (("segments", segments), ("hop", hop)):
        if value is not None and not (value > 0 and value < float("inf")):
            raise ValueError(
                f"The '{name}' parameter of create_app must be a float > 0. "
                f"Got {value!r} instead."
            )


class _Service:
    """The model and the work of each request, without any web framework."""

    def __init__(self, model, *, info, segments, hop, max_seconds, segmenter):
        self.model = model
        self.sr = int(model[0].sr)
        self.classes = [str(c) for c in model.classes_]
        self.info = info
        self.segments = segments
        self.hop = hop
        self.max_seconds = max_seconds
        self.segmenter = segmenter

    # -- decoding -----------------------------------------------------------

    def decode(self, fileobj, name):
        """Mono float32 samples at the model's rate, with the file's checks."""
        import numpy as np
        import soundfile as sf

        from ..io import resample

        fileobj.seek(0, os.SEEK_END)
        size = fileobj.tell()
        fileobj.seek(0)
        if size == 0:
            raise _Refused(
                400,
                f"{name} is empty (0 bytes). Send an audio file: WAV, FLAC or "
                "OGG/Vorbis.",
            )
        try:
            f = sf.SoundFile(fileobj)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise _Refused(
                415,
                f"{name} is not an audio file this server can decode ({exc}). "
                "Send WAV, FLAC or OGG/Vorbis (libsndfile's formats; browsers' "
                "webm/opus recordings are not among them).",
            ) from None
        with f:
            native = int(f.samplerate)
            if not _MIN_SR <= native <= _MAX_SR:
                raise _Refused(
                    422,
                    f"{name} declares a sampling rate of {native} Hz, outside "
                    f"{_MIN_SR} to {_MAX_SR} Hz. The file is corrupt; export it "
                    "again.",
                )
            limit = int(self.max_seconds * native)
            if f.frames > limit:
                raise _Refused(
                    413,
                    f"{name} lasts {f.frames / native:.1f} s, longer than this "
                    f"server's limit of {self.max_seconds:g} s. Cut it into parts "
                    "(or start sersk serve with a larger --max-seconds).",
                )
            try:
                # frames=limit + 1: a header that understates the length is
                # caught too
                data = f.read(frames=limit + 1, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise _Refused(
                    422, f"{name} cannot be decoded as audio ({exc})."
                ) from None
        if len(data) > limit:
            raise _Refused(
                413,
                f"{name} lasts more than this server's limit of "
                f"{self.max_seconds:g} s. Cut it into parts (or start sersk serve "
                "with a larger --max-seconds).",
            )
        if len(data) == 0:
            raise _Refused(
                400,
                f"{name} holds no audio samples. Send a recording that is not empty.",
            )
        # as load_audio mixes down and resamples
        y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        bad = ~np.isfinite(y)
        if bad.any():
            raise _Refused(
                422,
                f"{name} holds {int(bad.sum())} NaN/Inf sample(s) (first at index "
                f"{int(np.argmax(bad))}). Repair the file.",
            )
        y = np.ascontiguousarray(y, dtype=np.float32)
        if native != self.sr:
            y = resample(y, orig_sr=native, target_sr=self.sr)
        return y, native

    # -- prediction ---------------------------------------------------------

    def timeline(self, y):
        from ..segmentation import predict_timeline

        frame = predict_timeline(
            self.model,
            y,
            sr=self.sr,
            segments=self.segments,
            hop=self.hop,
            segmenter=self.segmenter,
        )
        rows = []
        for rec in frame.to_dict("records"):
            rows.append(
                {
                    "start": round(float(rec["start"]), 3),
                    "end": round(float(rec["end"]), 3),
                    "label": str(rec["label"]),
                    "probabilities": {c: float(rec[c]) for c in self.classes},
                }
            )
        return rows

    def whole(self, y):
        import numpy as np

        from ..features._base import ragged_array

        proba = np.asarray(self.model.predict_proba(ragged_array([y])))[0]
        return {c: float(p) for c, p in zip(self.classes, proba, strict=True)}

    def spectrogram(self, y):
        """A small log-mel matrix: uint8 levels, base64, lowest band first."""
        import librosa
        import numpy as np

        n_fft = 1 << int(np.ceil(np.log2(0.025 * self.sr)))
        hop = max(1, round(0.010 * self.sr))
        power = librosa.feature.melspectrogram(
            y=y, sr=self.sr, n_fft=n_fft, hop_length=hop, n_mels=_SPEC_MELS
        )
        # average blocks of frames so that at most _SPEC_COLUMNS are sent
        block = max(1, int(np.ceil(power.shape[1] / _SPEC_COLUMNS)))
        n_cols = int(np.ceil(power.shape[1] / block))
        padded = np.zeros((power.shape[0], n_cols * block), dtype=power.dtype)
        padded[:, : power.shape[1]] = power
        counts = np.minimum(block, power.shape[1] - np.arange(n_cols) * block).astype(
            power.dtype
        )
        pooled = padded.reshape(power.shape[0], n_cols, block).sum(axis=2) / counts
        db = librosa.power_to_db(pooled, ref=np.max(pooled) or 1.0, top_db=_SPEC_TOP_DB)
        levels = np.clip(np.round((db + _SPEC_TOP_DB) / _SPEC_TOP_DB * 255), 0, 255)
        return {
            "n_mels": int(levels.shape[0]),
            "n_frames": int(levels.shape[1]),
            "frame_seconds": block * hop / self.sr,
            "fmax": self.sr / 2,
            "db_range": _SPEC_TOP_DB,
            "encoding": "uint8 levels (0 = -db_range dB, 255 = 0 dB below the "
            "peak), rows = mel bands from low to high, base64",
            "data": base64.b64encode(
                np.ascontiguousarray(levels, dtype=np.uint8).tobytes()
            ).decode("ascii"),
        }

    def predict(self, fileobj, name, *, spectrogram=True):
        from ..exceptions import AudioReadError, InvalidAudioError

        y, native = self.decode(fileobj, name)
        try:
            timeline = self.timeline(y)
            whole = self.whole(y)
        except (AudioReadError, InvalidAudioError, ValueError) as exc:
            raise _Refused(422, f"{name} cannot be labelled: {exc}") from None
        out = {
            "duration": round(len(y) / self.sr, 3),
            "sr": self.sr,
            "file_sr": native,
            "segments": self.segments,
            "classes": self.classes,
            "label": max(whole, key=whole.get),
            "probabilities": whole,
            "timeline": timeline,
        }
        if spectrogram:
            out["spectrogram"] = self.spectrogram(y)
        return out


def create_app(
    model,
    *,
    max_bytes=DEFAULT_MAX_BYTES,
    max_seconds=DEFAULT_MAX_SECONDS,
    segments="vad",
    hop=None,
    segmenter=None,
    workers=None,
):
    """Build the web app of ``sersk serve``: one page and a JSON API.

    The returned ASGI application serves

    ``GET /``
        A page to upload or record audio and see the emotion timeline, the
        probabilities of the whole recording and the spectrogram.
    ``POST /api/predict``
        Audio in (a multipart form with the file in the field ``file``, or
        the raw file as the request body), JSON out: the timeline (start, end,
        label and probabilities of each segment), the probabilities of the
        whole recording, its duration and sampling rate, and a small log-mel
        spectrogram (``?spectrogram=false`` leaves it out).
    ``GET /api/model``
        The labels, the sampling rate, the segmentation, the limits and what
        the model file records about its training.

    Bad input gets a 4xx answer ``{"error": message}``: 400 for an empty
    file, 413 for a body larger than ``max_bytes`` (checked while it is read)
    or audio longer than ``max_seconds``, 415 for a file that is not audio,
    422 for audio that cannot be labelled.

    Parameters
    ----------
    model : str, os.PathLike or Pipeline
        A model file written by :func:`sersk.save_model` or ``sersk train``
        (loaded once, here), or a fitted pipeline that starts with
        :class:`~sersk.features.AudioLoader` and has ``predict_proba``.
    max_bytes : int, default=50_000_000
        Largest upload accepted, in bytes.
    max_seconds : float, default=600.0
        Longest recording accepted, in seconds.
    segments : "vad" or float, default="vad"
        How recordings are cut for the timeline: "vad" labels each speech
        segment; a number labels fixed windows of that many seconds (see
        :func:`sersk.segmentation.predict_timeline`).
    hop : float or None, default=None
        Fixed windows only: step between windows (default: the window length).
    segmenter : object or None, default=None
        Passed to :func:`sersk.segmentation.predict_timeline` (None: its
        default voice activity detection).
    workers : int or None, default=None
        Threads that run the model; requests beyond that wait their turn
        without blocking the server. None: ``min(4, os.cpu_count())``.

    Returns
    -------
    app : starlette.applications.Starlette
        The application, to run with any ASGI server (``uvicorn.run(app)``)
        or to mount in another Starlette or FastAPI application.

    Raises
    ------
    ImportError
        Starlette, uvicorn or python-multipart is missing (the ``serve``
        extra), or, with ``segments="vad"``, the voice activity detection
        (the ``vad`` extra, part of ``serve``).
    TypeError
        ``model`` is not a fitted sersk pipeline with ``predict_proba``.
    ValueError
        A limit or the segmentation is invalid.

    See Also
    --------
    sersk.segmentation.predict_timeline : The timeline of one recording.
    sersk.load_model : Read a model file.

    Notes
    -----
    The model runs in a pool of ``workers`` threads, never on the server's
    event loop. Each prediction may itself use several threads (BLAS, torch):
    keep ``workers`` times those threads at or below the number of cores
    (``sersk serve`` sets torch's and BLAS' thread counts to
    ``cores // workers``). The pool stops with the application's lifespan.

    Examples
    --------
    >>> from sersk.serve import create_app
    >>> app = create_app("model.sersk", segments=2.0)  # doctest: +SKIP
    >>> import uvicorn
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    _require_serve_deps()
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(
            f"The 'max_bytes' parameter of create_app must be an int >= 1. "
            f"Got {max_bytes!r} instead."
        )
    if isinstance(max_seconds, bool) or not (
        isinstance(max_seconds, (int, float)) and 0 < max_seconds < float("inf")
    ):
        raise ValueError(
            f"The 'max_seconds' parameter of create_app must be a float > 0. "
            f"Got {max_seconds!r} instead."
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(
            f"The 'workers' parameter of create_app must be an int >= 1 or None. "
            f"Got {workers!r} instead."
        )
    _check_segments(segments, hop, segmenter)
    if isinstance(model, (str, os.PathLike)):
        from .._persistence import load_model

        path = Path(os.fspath(model)).expanduser()
        where = repr(str(path))
        loaded = load_model(path)
        meta = _model_info_file(path)
        _check_model(loaded, where)
        model, source = loaded, path.name
    else:
        _check_model(model, "the model given")
        meta, source = None, None
    if segments == "vad":
        _warm_segmenter(segmenter, int(model[0].sr))
    info = _describe(model, meta, source)
    service = _Service(
        model,
        info=info,
        segments=float(segments) if not isinstance(segments, str) else segments,
        hop=None if hop is None else float(hop),
        max_seconds=float(max_seconds),
        segmenter=segmenter,
    )
    limits = {"max_bytes": int(max_bytes), "max_seconds": float(max_seconds)}
    info["limits"] = limits
    info["segments"] = service.segments
    info["hop"] = service.hop
    return _build_app(service, max_bytes, workers or min(4, os.cpu_count() or 1))


def _warm_segmenter(segmenter, sr):
    """Segment a second of silence: loads the VAD network once, before the
    first request, and names a missing ``vad`` extra now rather than on
    every request."""
    import numpy as np

    from ..segmentation import SpeechSegmenter

    if segmenter is None:
        segmenter = SpeechSegmenter()
    segmenter.segment(np.zeros(sr, dtype=np.float32), sr=sr)


def _describe(model, meta, source):
    """What ``GET /api/model`` says about the model."""
    meta = meta or {}
    training = meta.get("metadata")
    return {
        "classes": [str(c) for c in model.classes_],
        "sr": int(model[0].sr),
        "duration": model[0].duration,
        "estimator": type(model[-1]).__name__,
        "steps": [name for name, _ in model.steps],
        "file": None
        if source is None
        else {
            "name": source,
            "kind": meta.get("kind"),
            "created": meta.get("created"),
            "sersk_version": meta.get("sersk_version"),
            "sklearn_version": meta.get("sklearn_version"),
            "torch_version": meta.get("torch_version"),
        },
        "training": training if isinstance(training, dict) else None,
    }


def _page():
    return resources.files(__package__).joinpath("index.html").read_text("utf-8")


def _build_app(service, max_bytes, workers):
    import contextlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    page = _page()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sersk-serve")

    def refuse(status, message):
        return JSONResponse({"error": message, "status": status}, status_code=status)

    async def index(request):
        return HTMLResponse(page)

    async def model_info(request):
        return JSONResponse(service.info)

    async def read_upload(request):
        """The uploaded file as a spooled temporary file, and its name."""
        declared = request.headers.get("content-length")
        ctype = request.headers.get("content-type", "")
        multipart = ctype.startswith("multipart/form-data")
        limit = max_bytes + (_MULTIPART_OVERHEAD if multipart else 0)
        if declared is not None:
            try:
                declared = int(declared)
            except ValueError:
                raise _Refused(400, "invalid Content-Length header") from None
            if declared > limit:
                raise _Refused(413, _too_large(declared, max_bytes))
        limited = Request(request.scope, _limited_receive(request.receive, limit))
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
        try:
            if multipart:
                async with limited.form(max_files=1, max_fields=10) as form:
                    upload = form.get("file")
                    if upload is None or isinstance(upload, str):
                        raise _Refused(
                            400,
                            "the form has no file in the field 'file'; send "
                            "multipart/form-data with file=@recording.wav, or "
                            "the raw file as the request body",
                        )
                    name = upload.filename or "the uploaded file"
                    while chunk := await upload.read(1 << 16):
                        spool.write(chunk)
            else:
                name = "the request body"
                async for chunk in limited.stream():
                    spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        if spool.tell() > max_bytes:
            size = spool.tell()
            spool.close()
            raise _Refused(413, _too_large(size, max_bytes))
        return spool, name

    async def predict(request):
        want_spec = request.query_params.get("spectrogram", "true").lower()
        if want_spec not in ("true", "false", "1", "0"):
            return refuse(
                400,
                f"spectrogram must be true or false; got {want_spec!r}",
            )
        try:
            spool, name = await read_upload(request)
        except _Refused as exc:
            return refuse(exc.status, exc.message)
        except _BodyTooLarge as exc:
            return refuse(413, _too_large(exc.args[0], max_bytes, partial=True))
        except Exception as exc:  # a malformed multipart body
            return refuse(400, f"the request body cannot be read ({exc})")
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                executor,
                lambda: service.predict(
                    spool, name, spectrogram=want_spec in ("true", "1")
                ),
            )
        except _Refused as exc:
            return refuse(exc.status, exc.message)
        except Exception as exc:
            _log.exception("prediction failed for %s", name)
            return refuse(
                500, f"the server failed on {name}: {type(exc).__name__}: {exc}"
            )
        finally:
            spool.close()
        return JSONResponse(result)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    async def not_found(request, exc):
        return refuse(
            exc.status_code, f"{request.method} {request.url.path}: {exc.detail}"
        )

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/api/model", model_info, methods=["GET"]),
            Route("/api/predict", predict, methods=["POST"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.sersk = service
    return app


def _too_large(size, max_bytes, partial=False):
    what = f"more than {max_bytes}" if partial else f"{size}"
    return (
        f"the upload is too large ({what} bytes; this server accepts at most "
        f"{max_bytes} bytes). Send a shorter recording, a compressed format "
        "(FLAC, OGG), or start sersk serve with a larger --max-mb."
    )
