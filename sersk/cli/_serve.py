"""``sersk serve``: a local web app and JSON API around a saved model."""

from __future__ import annotations

import os
import socket
import sys

from ._common import CLIError


def _thread_counts(workers):
    """Share the cores between the request workers: ``cores // workers`` each."""
    per_worker = max(1, (os.cpu_count() or 1) // workers)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=per_worker)
    # torch runs the voice activity detection and the deep models
    import torch

    torch.set_num_threads(per_worker)
    return per_worker


def _bind(host, port):
    """A listening socket, so that a port in use is a one-line error."""
    if not 0 <= port <= 65535:
        raise CLIError(f"--port must be 0 to 65535 (0: any free port); got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CLIError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose "
            "another --port, or 0 for any free port"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args):
    from ..serve._app import _require_serve_deps

    try:
        _require_serve_deps()
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    import uvicorn

    from ..segmentation._timeline import _UnusableModel
    from ..serve import create_app

    segments = args.segments
    if args.hop is not None and segments == "vad":
        raise CLIError("--hop applies to fixed windows (--segments SECONDS) only")
    # the port first: a port in use is reported before the model is loaded
    sock = _bind(args.host, args.port)
    workers = args.workers or min(4, os.cpu_count() or 1)
    try:
        app = create_app(
            args.model,
            max_bytes=int(args.max_mb * 1_000_000),
            max_seconds=args.max_seconds,
            segments=segments,
            hop=args.hop,
            workers=workers,
        )
    except _UnusableModel as exc:
        # a model that cannot serve (no AudioLoader first, no predict_proba):
        # one line, as sersk predict and sersk listen give
        sock.close()
        raise CLIError(str(exc).replace("create_app", "sersk serve", 1)) from None
    except BaseException:
        sock.close()
        raise
    threads = _thread_counts(workers)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"sersk serve: {os.path.basename(args.model)} at http://{shown}:{port}/ "
        f"({workers} worker(s) x {threads} thread(s); Ctrl-C to stop)",
        flush=True,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"sersk serve: warning: listening on {args.host}: anyone who can reach "
            "this address can use the model",
            file=sys.stderr,
        )
    config = uvicorn.Config(
        app,
        log_level="warning" if args.quiet else "info",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("sersk serve: stopped", file=sys.stderr)
