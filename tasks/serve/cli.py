"""The similarity service's commands: ``lakesight serve`` and ``lakesight bench serve``."""

from __future__ import annotations

import argparse
import socket

from lakesight.cli import emit, stdout_to_stderr
from lakesight.config import ConfigError, load_settings, validate_dt
from lakesight.progress import Steps


def check_port_free(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port: expected 1..65535, got {port}")
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise ConfigError(f"--port: cannot listen on {host}:{port} ({err.strerror})") from None


# The service's token, when not in --token-file. Read here, not in Settings: settings are
# printed (lakesight config), a secret must never be.
TOKEN_ENV = "LAKESIGHT_SERVE_TOKEN"
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1,
    localhost). Any other name may resolve to a network address, so it is not."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_token(token_file: str | None, host: str, env=None) -> str | None:
    """The Bearer token the service demands: ``--token-file``'s first line, else
    ``LAKESIGHT_SERVE_TOKEN``; None (open) only on loopback. Errors are one line that
    names the setting and never shows the token."""
    import os

    env = os.environ if env is None else env
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token, setting = f.readline().strip(), "--token-file"
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or type(err).__name__
            raise ConfigError(f"--token-file: cannot read {token_file} ({reason})") from None
    else:
        token, setting = (env.get(TOKEN_ENV) or "").strip(), TOKEN_ENV
    if token and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{setting}: the token is shorter than {MIN_TOKEN_CHARS} characters "
                          "(e.g. `openssl rand -hex 32`)")  # fmt: skip
    if not token and token_file:
        raise ConfigError(f"--token-file: {token_file} is empty")
    if not token and not is_loopback(host):
        raise ConfigError(f"--host {host}: a non-loopback address needs a token "
                          f"(--token-file PATH or {TOKEN_ENV})")  # fmt: skip
    return token or None


def cmd_serve(args: argparse.Namespace) -> int:
    """``lakesight serve``: load the catalogue, keep it current, answer over HTTP."""
    import uvicorn

    from lakesight.lake import check_reachable, filesystem_for
    from lakesight.models.runtime import chosen_models
    from lakesight.serve.app import create_app
    from lakesight.serve.catalogue import Catalogues

    first = validate_dt(args.first, "--from") if args.first else None
    last = validate_dt(args.last, "--to") if args.last else None
    if first and last and first > last:
        raise ConfigError(f"--from {first} is after --to {last}")
    for name, value in (("--refresh-s", args.refresh_s), ("--live-refresh-s", args.live_refresh_s),
                        ("--max-upload-mb", args.max_upload_mb)):  # fmt: skip
        if value <= 0:
            raise ConfigError(f"{name}: expected a positive number, got {value}")
    if args.synthetic < 0:
        raise ConfigError(f"--synthetic: expected 0 or more, got {args.synthetic}")
    token = serve_token(args.token_file, args.host)  # before any loading: fail fast
    check_port_free(args.host, args.port)
    settings = load_settings()
    check_reachable(filesystem_for(settings.root, settings), settings.root)
    models = chosen_models(settings, args.detector, args.descriptor)
    steps = Steps("serve")
    with steps.step("loading the catalogue" + (f" (+{args.synthetic:,} synthetic codes)"
                                               if args.synthetic else "")):  # fmt: skip
        catalogues = Catalogues(settings, first, last, args.synthetic, image_models=models)
    health = catalogues.health()
    steps.say(
        f"{health['images']['images']:,} images of {len(health['images']['days'])} days, "
        f"{health['listings']['listings']:,} listings of {len(health['listings']['days'])} days; "
        f"serving on http://{args.host}:{args.port} (API docs: /docs; "
        f"{'Bearer token required' if token else 'open: loopback, no token'}), "
        f"looking for new days every {args.refresh_s:g}s, new live batches every "
        f"{args.live_refresh_s:g}s"
    )
    catalogues.start(args.refresh_s, args.live_refresh_s)
    app = create_app(catalogues, max_upload_bytes=int(args.max_upload_mb * 2**20), token=token)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def cmd_bench_serve(args: argparse.Namespace) -> int:
    """``lakesight bench serve``: Locust against the service on loopback."""
    import importlib.util

    from lakesight.serve.bench import bench_serve

    if importlib.util.find_spec("locust") is None:
        raise ConfigError("bench serve: Locust is not installed (pip install 'lakesight[dev]')")
    for name in ("synthetic", "users", "seconds", "upload_users", "upload_seconds", "queries",
                 "flood_users", "flood_seconds"):  # fmt: skip
        if getattr(args, name) < (0 if name in ("synthetic", "flood_users") else 1):
            raise ConfigError(f"--{name.replace('_', '-')}: got {getattr(args, name)}")
    with stdout_to_stderr():
        payload = bench_serve(load_settings(), synthetic=args.synthetic, users=args.users,
                              seconds=args.seconds, upload_users=args.upload_users,
                              upload_seconds=args.upload_seconds, queries=args.queries,
                              flood_users=args.flood_users, flood_seconds=args.flood_seconds,
                              steps=Steps("bench serve", quiet=args.json))  # fmt: skip
    emit(payload, args.json, format_bench)
    return 0


def format_bench(d: dict) -> str:
    lines = [
        f"bench serve: {d['images']:,} images ({d['synthetic']:,} synthetic + days "
        f"{', '.join(d['real_days'])}), {d['code_bits']}-bit codes; index "
        f"{d['index_bytes_per_million'] / 2**20:,.0f} MiB per million images "
        f"(process grew {d['rss_growth_per_million_mb']:,.0f} MiB per million)",
        f"  in process: id query p50 {d['in_process']['id_query_ms']['p50']} ms, "
        f"p99 {d['in_process']['id_query_ms']['p99']} ms; upload query p50 "
        f"{d['in_process']['upload_query_ms']['p50']} ms",
    ]
    for name in ("images_by_id", "images_by_upload", "houses_by_id"):
        if name in d:
            r = d[name]
            lines.append(
                f"  {name:16} {r['rps']:7.1f} req/s  p50 {r['p50_ms']:g} ms  p95 {r['p95_ms']:g} "
                f"ms  p99 {r['p99_ms']:g} ms  {r['failures']} failures of {r['requests']} "
                f"({r['users']} users, {r['seconds']}s)"
            )
    if "upload_flood" in d:
        f = d["upload_flood"]
        lines.append(
            f"  upload flood     {f['flood_users']} users for {f['seconds']}s: {f['uploads']} "
            f"uploads, {f['refused_503']} refused (503; {f['upload_slots']} slots + "
            f"{f['upload_queue']} queued); RSS {f['rss_at_rest_mb']:,.0f} MiB at rest, peak "
            f"{f['rss_peak_mb']:,.0f} MiB (bound +{f['rss_bound_mb']:,.0f}); id p99 "
            f"{f['id_p99_ms_at_rest']:g} ms at rest, {f['id_p99_ms_under_flood']:g} ms under it"
        )
    return "\n".join(lines)


def register(sub, groups) -> None:
    p = sub.add_parser("serve", help="the similarity service over every published day (HTTP)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--from", dest="first", metavar="D", help="first day to load (default: all)")
    p.add_argument("--to", dest="last", metavar="D", help="last day to load (default: all)")
    p.add_argument(
        "--detector",
        metavar="NAME[@V]",
        help="serve the days described by this detector (default: the newest day's)",
    )
    p.add_argument("--descriptor", metavar="NAME[@V]", help="... and this descriptor")
    p.add_argument("--refresh-s", type=float, default=30.0,
                   help="how often to look for newly committed days")  # fmt: skip
    p.add_argument("--live-refresh-s", type=float, default=1.0,
                   help="how often to look for new live batches (features/images_live)")  # fmt: skip
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="largest upload accepted")
    p.add_argument("--synthetic", type=int, default=0,
                   help="add N random codes to the image index (load tests)")  # fmt: skip
    p.add_argument("--token-file", metavar="PATH",
                   help=f"file holding the Bearer token (else {TOKEN_ENV}); required "
                   "unless --host is loopback")  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = groups["bench"].add_parser("serve", help="Locust against the service on loopback")
    p.add_argument("--synthetic", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--upload-users", type=int, default=2)
    p.add_argument("--upload-seconds", type=int, default=10)
    p.add_argument("--queries", type=int, default=500, help="in-process id queries timed")
    p.add_argument("--flood-users", type=int, default=16,
                   help="users flooding uploads beside the id queries (0: no flood)")  # fmt: skip
    p.add_argument("--flood-seconds", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_serve)
