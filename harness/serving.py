"""Part 5 served as in production: ASGI processes behind nginx, on one Redis.

`make serve` (tools/serve.py) and shared_tests/test_serving.py run this arrangement,
every piece of it on 127.0.0.1, with DEBUG=False:

    browser ──> nginx :port ──/static/──> collectstatic's folder
                     │ least_conn
           ┌─────────┴─────────┐
      uvicorn :a   ...    uvicorn :b      part 5, one process each
           └──────── Redis ────┘          the channel layer they share

With sentinel=True (`make serve SENTINEL=1`), Redis is a primary, its replica
and three Sentinels that promote the replica when the primary dies
(harness/sentinel.py); part 5 asks the Sentinels where the primary is.

nginx's site file is part_5/nginx.conf, filled in here and wrapped in a main
configuration that keeps nginx's pid, logs and temporary files in the run
folder: nginx needs no root and writes nothing under /var.

The ASGI server is uvicorn rather than Daphne (part_5/DEPLOY.md says why: flow
control of its own, a close frame for every socket when it stops, and a log
line for every accepted WebSocket with its path, which shows who is served
where; `make bench` puts the two level at 50 clients a room).
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from harness.redis import start_redis
from harness.sentinel import start_sentinel_group
from harness.servers import HOST, ServerProcess, StageUrls, on_a_free_port
from harness.stages import BEYOND_PART, Stage, stage_folder
from harness.waiting import SUBPROCESS

# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
SITE_TEMPLATE = stage_folder(BEYOND_PART) / "nginx.conf"
PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")

# What a quiet socket lives on: nginx closes it after WS_READ_TIMEOUT without a
# byte from the server, and the server pings every WS_PING_INTERVAL seconds.
WS_READ_TIMEOUT = "1h"
WS_PING_INTERVAL = 20
WS_MAX_SIZE = 1024 * 1024  # bytes in one WebSocket frame, as Daphne allows

# nginx's main configuration around the site file. As root, nginx's workers
# would switch to the user `nobody`, who cannot read a private run folder.
MAIN_CONFIG = """\
# Written by harness/serving.py: nginx with everything in this folder.
{user}
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log;
events {{
    # Each WebSocket holds two: the client's and the one to uvicorn; nginx's
    # default of 1024 would turn clients away past about 500 sockets.
    worker_connections 4096;
}}
http {{
    types {{
        text/html html;
        text/css css;
        text/plain txt md;
        application/javascript js;
        application/json json;
        image/svg+xml svg;
        image/png png;
        image/gif gif;
        font/woff2 woff2;
    }}
    default_type application/octet-stream;
    # Which ASGI process served each request: $upstream_addr.
    log_format served '$remote_addr "$request" $status upstream=$upstream_addr';
    access_log {run}/nginx-access.log served;
    client_body_temp_path {run}/temp/client_body;
    proxy_temp_path {run}/temp/proxy;
    fastcgi_temp_path {run}/temp/fastcgi;
    uwsgi_temp_path {run}/temp/uwsgi;
    scgi_temp_path {run}/temp/scgi;
    include {site};
}}
"""


class NotAvailable(RuntimeError):
    """A program the arrangement needs (nginx, openssl) is not installed."""


def nginx_binary() -> str | None:
    """The nginx program, or None where there is none."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((place for place in NGINX_PLACES if Path(place).is_file()), None)


class Served(StageUrls):
    """Part 5 behind nginx: its addresses (those of nginx), and every process."""

    def __init__(self, port, tls, run_dir, redis, asgi, nginx):
        super().__init__(port)
        self.tls = tls
        self.run_dir = run_dir
        self.redis = redis  # a RedisServer, or a SentinelGroup
        self.asgi = asgi  # the uvicorn processes, in nginx's upstream order
        self.nginx = nginx

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def socket_url(self, room) -> str:
        return f"{'wss' if self.tls else 'ws'}://{HOST}:{self.port}/ws/chat/{room}/"

    def processes_serving(self, room) -> list:
        """The ASGI processes that accepted a socket of this room, once each
        time: what their logs say."""
        accepted = f'"WebSocket /ws/chat/{room}/" [accepted]'
        return [
            process
            for process in self.asgi
            for line in process.log().splitlines()
            if accepted in line
        ]


def production_environment(origin, layer: dict, static_root, tls) -> dict:
    """Part 5's settings for production, from the environment (DEPLOY.md);
    layer: the variables that name its Redis (REDIS_URL, or the Sentinels)."""
    env = Stage(BEYOND_PART).environment()
    env.update(layer)
    env.update(
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),  # a new one each run
        ALLOWED_HOSTS=HOST,
        CSRF_TRUSTED_ORIGINS=origin,
        STATIC_ROOT=str(static_root),
    )
    if tls:
        env["HTTPS"] = "True"
    return env


def collect_static(env):
    """`manage.py collectstatic` into STATIC_ROOT, for nginx to serve."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=stage_folder(BEYOND_PART),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    if result.returncode:
        raise RuntimeError(f"collectstatic failed:\n{result.stderr}")


def start_asgi(number, env, log_dir: Path, ping_interval, port=None) -> ServerProcess:
    """One uvicorn process of part 5 on a free port."""
    if port is None:
        return on_a_free_port(
            lambda free: start_asgi(number, env, log_dir, ping_interval, free)
        )
    return ServerProcess(
        f"uvicorn {number}",
        [sys.executable, "-m", *uvicorn_command(port, ping_interval)],
        port,
        log_dir / f"asgi-{number}.log",
        cwd=stage_folder(BEYOND_PART),
        env=env,
    )


def uvicorn_command(port, ping_interval=WS_PING_INTERVAL) -> list[str]:
    """The uvicorn command line of one process, as part_5/DEPLOY.md gives it."""
    return [
        "uvicorn", "mysite.asgi:application",
        "--host", HOST, "--port", str(port),
        # The client's address and scheme from nginx's X-Forwarded-* headers,
        # trusted from 127.0.0.1 only (--forwarded-allow-ips' default).
        "--proxy-headers",
        # uvicorn's default (`auto`), named: of its three implementations the
        # one that answers malformed frames with RFC 6455's close codes and no
        # traceback (with LOGGING's filter); part_5/DEPLOY.md compares them.
        "--ws", "websockets-sansio",
        "--ws-ping-interval", str(ping_interval),
        # Daphne's limit on one frame (1 MiB), where uvicorn's is 16 MiB.
        "--ws-max-size", str(WS_MAX_SIZE),
        # No compression, as under Daphne: a chat's frames are short, and
        # permessage-deflate costs CPU for every frame, on both ends, and
        # zlib's memory for every socket (bench/README.md has the figures).
        "--ws-per-message-deflate", "false",
    ]  # fmt: skip


def all_at_once(*starts) -> list:
    """Run each start in a thread of its own (an ASGI process takes a second to
    import Django). If one fails, or Ctrl-C comes, stop what the others started."""
    pool = ThreadPoolExecutor(len(starts))
    futures = [pool.submit(start) for start in starts]
    try:
        return [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=True)
        for future in futures:
            if not future.exception() and isinstance(future.result(), ServerProcess):
                future.result().stop()
        raise
    finally:
        pool.shutdown(wait=False)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (kept for the next run)."""
    certificate, key = folder / "certificate.pem", folder / "key.pem"
    if certificate.exists() and key.exists():
        return certificate, key
    openssl = shutil.which("openssl")
    if not openssl:
        raise NotAvailable(
            "TLS needs openssl to make a certificate: apt-get install openssl "
            "(macOS: brew install openssl)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-nodes",
            "-days",
            "30",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-subj",
            f"/CN={HOST}",
            "-addext",
            f"subjectAltName=IP:{HOST}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],  # fmt: skip
        check=True,
        capture_output=True,
        timeout=SUBPROCESS,
    )
    return certificate, key


def render_site(values: dict) -> str:
    """part_5/nginx.conf with each {{ NAME }} replaced."""
    return PLACEHOLDER.sub(lambda match: values[match[1]], SITE_TEMPLATE.read_text())


def start_nginx(run_dir: Path, port, asgi, static_root, tls, ws_read_timeout):
    binary = nginx_binary()
    if not binary:
        raise NotAvailable(
            "Serving part 5 needs nginx: sudo apt-get install nginx "
            "(macOS: brew install nginx)."
        )
    tls_lines = ""
    if tls:
        certificate, key = make_certificate(run_dir / "tls")
        tls_lines = f"ssl_certificate {certificate};\n    ssl_certificate_key {key};"
    site = render_site(
        {
            "ASGI_SERVERS": "\n    ".join(
                f"server {HOST}:{process.port};" for process in asgi
            ),
            "LISTEN": f"{HOST}:{port}{' ssl' if tls else ''}",
            "SERVER_NAME": HOST,
            "TLS_CERTIFICATE": tls_lines,
            "WS_READ_TIMEOUT": str(ws_read_timeout),
            "STATIC_ROOT": str(static_root),
        }
    )
    (run_dir / "chat.conf").write_text(site)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "temp" / temp).mkdir(parents=True, exist_ok=True)
    user = "user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    main = MAIN_CONFIG.format(user=user, run=run_dir, site=run_dir / "chat.conf")
    (run_dir / "nginx.conf").write_text(main)
    command = [binary, "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log")]
    command += ["-c", str(run_dir / "nginx.conf"), "-g", "daemon off;"]
    return ServerProcess("nginx", command, port, run_dir / "nginx.log")


@contextmanager
def serve(
    run_dir: Path,
    processes=2,
    port=None,
    tls=False,
    ws_read_timeout=WS_READ_TIMEOUT,
    ws_ping_interval=WS_PING_INTERVAL,
    sentinel=False,
):
    """Redis, `processes` uvicorn processes of part 5 and nginx in front of
    them on `port` (default: a free one); everything stops on the way out.
    sentinel: a Redis that fails over, reached through its Sentinels."""
    run_dir = run_dir.resolve()

    def start_all(port):
        """Everything started, and the stack that stops it. nginx starts last
        on a port chosen first (the pages' origin names it): if another
        program took that port meanwhile, what started stops again."""
        with ExitStack() as running:
            static_root = run_dir / "static"
            if sentinel:
                redis = running.enter_context(start_sentinel_group(run_dir / "redis"))
                layer = redis.environment()
                waits = [redis.wait_until_ready]  # while the processes start
            else:
                redis = running.enter_context(start_redis(run_dir / "redis"))
                layer = {"REDIS_URL": redis.url()}
                waits = []
            origin = f"{'https' if tls else 'http'}://{HOST}:{port}"
            env = production_environment(origin, layer, static_root, tls)
            started = all_at_once(
                lambda: collect_static(env),
                *waits,
                *(
                    lambda number=number: start_asgi(
                        number, env, run_dir, ws_ping_interval
                    )
                    for number in range(1, processes + 1)
                ),
            )
            asgi = started[-processes:]
            for process in asgi:
                running.enter_context(process)
            nginx = running.enter_context(
                start_nginx(run_dir, port, asgi, static_root, tls, ws_read_timeout)
            )
            served = Served(port, tls, run_dir, redis, asgi, nginx)
            return served, running.pop_all()

    served, running = start_all(port) if port else on_a_free_port(start_all)
    with running:
        yield served
